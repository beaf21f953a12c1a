"""VCR set-up for LangChain's standard integration suites.

The suites run against the live tier's real model server when recording
(``pytest tests/lc_adapter/test_standard_integration.py --record-mode=once`` for missing cassettes,
``--record-mode=rewrite`` to re-record) and replay from ``cassettes/langchain/`` otherwise, with
the network blocked. The live server listens on a random port; recorded URIs are rewritten to
``REPLAY_BASE``, the address the replaying tests use, so requests match. Request headers that
could carry secrets or machine details are scrubbed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.conftest import base_vcr_config

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes" / "langchain"
REPLAY_BASE = "http://127.0.0.1:18085"  # where the live server "is" in every cassette
_SCRUBBED_HEADERS = ("authorization", "x-api-key", "api-key", "user-agent", "cookie")
_live: dict[str, str | None] = {"base": None}


def rewrite_live_url(request: Any) -> Any:
    """Record the live server's random address as ``REPLAY_BASE`` (matching uses the rewritten URI)."""
    base = _live["base"]
    if base and request.uri.startswith(base):
        request.uri = REPLAY_BASE + request.uri[len(base):]
    return request


def drop_volatile_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    """Dates and request ids change on every run; nothing in patinox reads them."""
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in ("date", "x-request-id", "set-cookie"):
            del headers[name]
    return response


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    config = base_vcr_config()
    config.pop("record_mode", None)  # --record-mode decides (default "none": replay only)
    config.pop("cassette_library_dir", None)  # vcr_cassette_dir below
    config["filter_headers"] = [(name, "PLACEHOLDER") for name in _SCRUBBED_HEADERS]
    config["before_record_request"] = rewrite_live_url
    config["before_record_response"] = drop_volatile_response_headers
    return config


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="session")
def lc_server_url(request: pytest.FixtureRequest, record_mode: str) -> str:
    """The model server's base URL: the live server while recording, else the replay address.
    Session-scoped, so the server starts (and smoke-tests itself) before any cassette is open."""
    if record_mode == "none":
        return REPLAY_BASE
    live = request.getfixturevalue("live_server")
    _live["base"] = live.base_url
    return str(live.base_url)

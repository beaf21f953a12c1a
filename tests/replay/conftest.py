"""VCR settings for the cassette tier: secrets scrubbed, hosts fixed, bodies matched.

Cassettes for ``test_replay_<name>.py`` live in ``cassettes/<name>/``. When recording, every
request's loopback host:port is rewritten to ``REPLAY_URL``, so a cassette recorded against a
server on any free port replays against the fixed URL the replay tests use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPLAY_URL = "http://127.0.0.1:8765"
SECRET_HEADERS = ["authorization", "x-api-key", "api-key", "openai-organization", "cookie", "user-agent", "host"]
VOLATILE_RESPONSE_HEADERS = {"date", "set-cookie", "x-request-id", "openai-processing-ms"}
_LOOPBACK = re.compile(r"^http://(?:127\.0\.0\.1|localhost|\[::1\]):\d+")


def _fixed_host(request: Any) -> Any:
    request.uri = _LOOPBACK.sub(REPLAY_URL, request.uri)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in VOLATILE_RESPONSE_HEADERS:
            del headers[name]
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": SECRET_HEADERS,
        "filter_query_parameters": ["api_key", "key"],
        "before_record_request": _fixed_host,
        "before_record_response": _scrub_response,
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="session")
def replay_url() -> str:
    """Where replayed requests go (the host every recorded request was rewritten to)."""
    return REPLAY_URL


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    name = Path(str(request.node.fspath)).stem.removeprefix("test_replay_")
    return str(ROOT / "cassettes" / name)

"""The live OpenAI-compatible tests, replayed from ``cassettes/openai_compat/`` with the network blocked.

These are the functions of ``tests/live/test_live_openai_compat.py`` (recorded from the real
llama-cpp-python server); here ``oa_url`` is the fixed ``REPLAY_URL``, VCR answers every request
and pytest-recording's ``block_network`` refuses any real connection, so the default run passes
with no server. A request that differs from the recorded one (method, URL or JSON body) fails.

Re-record after changing what the backend sends (starts the live server, ~1 min once installed)::

    pytest tests/replay/test_replay_openai_compat.py --record-mode=rewrite -p no:randomly

then check ``git diff cassettes/openai_compat`` (authorization, api keys and user-agent are
filtered by ``tests/replay/conftest.py``; ``test_cassettes_hold_no_secrets`` checks it).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from live.test_live_openai_compat import (  # the same test functions, collected here without the live mark
    API_KEY,
    oa_backend,
    oa_settings,
    test_async_chat_and_stream,
    test_chat,
    test_context_overflow_is_typed,
    test_embeddings,
    test_forced_tool_call,
    test_forced_tool_call_streamed,
    test_json_schema_output,
    test_list_model_facts,
    test_server_is_fingerprinted_as_llama_cpp_python,
    test_stream,
)

from patinox_core.config import LocalSettings
from patinox_core.transport import Transport

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]
ROOT = Path(__file__).resolve().parents[2]

REPLAYED = [test_async_chat_and_stream, test_chat, test_context_overflow_is_typed, test_embeddings,
            test_forced_tool_call, test_forced_tool_call_streamed, test_json_schema_output, test_list_model_facts,
            test_server_is_fingerprinted_as_llama_cpp_python, test_stream, oa_backend, oa_settings]


@pytest.fixture
def oa_transport(oa_settings: LocalSettings) -> Transport:
    """httpx's own async transport: VCR patches it (it cannot replay through the aiohttp one)."""
    return Transport(oa_settings, async_transport_factory=httpx.AsyncHTTPTransport)


@pytest.fixture
def oa_url(request: pytest.FixtureRequest, record_mode: str, replay_url: str) -> str:
    """The fixed URL the cassettes were rewritten to; the real server only while recording."""
    if record_mode == "none":
        return replay_url
    return request.getfixturevalue("live_server").base_url


def test_every_live_test_has_a_cassette() -> None:
    names = {p.stem for p in (ROOT / "cassettes" / "openai_compat").glob("*.yaml")}
    assert names == {f.__name__ for f in REPLAYED if f.__name__.startswith("test_")}


def test_cassettes_hold_no_secrets() -> None:
    for path in (ROOT / "cassettes" / "openai_compat").glob("*.yaml"):
        text = Path(path).read_text()
        assert API_KEY not in text and "Bearer" not in text, path
        assert "user-agent" not in text.lower() and "python-httpx" not in text, path
        assert "127.0.0.1:8765" in text, path

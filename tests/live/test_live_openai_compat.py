"""Live tier: ``OpenAICompatBackend`` against a real llama-cpp-python server (``pytest -m live``).

The model is Gemma 3 270M *base*: these tests check shapes and plumbing, never meaning, and every
request is bounded (``max_tokens`` ≤ 16; 48 for a call forced through JSON). The server comes
from ``tests/live_server.py``. ``tests/replay/test_replay_openai_compat.py`` re-runs these same
functions from cassettes recorded here, with the network blocked (``oa_url`` decides where requests go).
"""

from __future__ import annotations

import json

import httpx
import pytest

from patinox_core.backends.base import tool_call_id
from patinox_core.backends.forced_tools import canonical_json
from patinox_core.backends.openai_compat import OpenAICompatBackend, fingerprint_openai, quirks_for
from patinox_core.config import LocalSettings
from patinox_core.errors import ContextOverflowError
from patinox_core.transport import Transport
from patinox_core.types import ChatRequest, Message, merge_chunks

pytestmark = pytest.mark.live

MODEL = "gemma3-270m"  # gemma chat format, mean-pooled embeddings
TOOLS = "gemma3-270m-tools"  # chatml-function-calling
API_KEY = "sk-patinox-live-not-a-secret"  # sent as Authorization; cassettes must not keep it
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a time zone",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
FORCED_MAX_TOKENS = 48  # a forced call's JSON ({"name": …, "arguments": {…}}) needs ~20 tokens
CITY = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.fixture
def oa_url(live_server) -> str:  # type: ignore[no-untyped-def]
    return live_server.base_url


@pytest.fixture
def oa_settings() -> LocalSettings:
    return LocalSettings(api_key=API_KEY, read_timeout=60, cold_load_timeout=120, max_retries=0)


@pytest.fixture
def oa_transport(oa_settings: LocalSettings) -> Transport:
    """The default transport (async traffic through aiohttp when installed); replay overrides it."""
    return Transport(oa_settings)


@pytest.fixture
def oa_backend(oa_url: str, oa_transport: Transport) -> OpenAICompatBackend:
    """A backend configured the way discovery would: fingerprint ``/v1/models``, then its quirks."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        listing = client.get(f"{oa_url}/v1/models")
    flavor = fingerprint_openai(listing.json(), listing.headers)
    return OpenAICompatBackend(oa_url, transport=oa_transport, flavor=flavor)


def ask(text: str = "Write one sentence about cats.", **kw: object) -> ChatRequest:
    options = {"model": MODEL, "messages": [Message("user", text)], "max_tokens": 8, "temperature": 0, "seed": 1}
    return ChatRequest(**{**options, **kw})  # type: ignore[arg-type]


def test_server_is_fingerprinted_as_llama_cpp_python(oa_url: str) -> None:
    with httpx.Client(trust_env=False, timeout=10) as client:
        listing = client.get(f"{oa_url}/v1/models")
    assert fingerprint_openai(listing.json(), listing.headers) == "llama_cpp_python"
    assert quirks_for("llama_cpp_python").schema_as_json_object
    assert {MODEL, TOOLS} <= {m["id"] for m in listing.json()["data"]}  # live: the SmolLM2 aliases too


def test_list_model_facts(oa_backend: OpenAICompatBackend) -> None:
    assert oa_backend.flavor == "llama_cpp_python"
    facts = oa_backend.list_model_facts()
    assert [f["name"] for f in facts][:2] == [MODEL, TOOLS] and all(f["loaded"] for f in facts)


def test_chat(oa_backend: OpenAICompatBackend, oa_url: str) -> None:
    r = oa_backend.chat(ask())
    assert isinstance(r.message.content, str) and r.message.role == "assistant"
    assert r.finish_reason in ("stop", "length") and r.model == MODEL and r.service == oa_url
    assert r.usage.input_tokens and 0 < (r.usage.output_tokens or 0) <= 8
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.metrics.total_duration_s is not None and r.message.tool_calls == []


def test_stream(oa_backend: OpenAICompatBackend) -> None:
    chunks = list(oa_backend.stream_chat(ask()))
    final = chunks[-1]
    assert final.finish_reason in ("stop", "length") and all(c.finish_reason is None for c in chunks[:-1])
    assert len(chunks) >= 2 and all(isinstance(c.content, str) for c in chunks)
    assert final.usage is None  # llama-cpp-python ignores include_usage: unknown, not zero
    assert final.metrics is not None and final.metrics.time_to_first_token_s is not None
    merged = merge_chunks(chunks)
    assert merged.message.content and merged.usage.output_tokens is None


async def test_async_chat_and_stream(oa_backend: OpenAICompatBackend) -> None:
    r = await oa_backend.achat(ask(max_tokens=4))
    assert r.finish_reason in ("stop", "length") and 0 < (r.usage.output_tokens or 0) <= 4
    chunks = [c async for c in oa_backend.astream_chat(ask(max_tokens=4))]
    assert chunks[-1].finish_reason in ("stop", "length") and merge_chunks(chunks).message.content


async def test_embeddings(oa_backend: OpenAICompatBackend) -> None:
    texts = ["hello world", "cats sleep a lot"]
    sync = oa_backend.embed(texts, MODEL)
    async_ = await oa_backend.aembed(texts, MODEL)
    assert len(sync.vectors) == 2 and sync.dimensions == 640 and all(len(v) == 640 for v in sync.vectors)
    assert all(isinstance(x, float) for x in sync.vectors[0]) and sync.vectors[0] != sync.vectors[1]
    assert all(a == pytest.approx(s, rel=1e-3, abs=1e-3) for a, s in zip(async_.vectors, sync.vectors, strict=True))
    assert sync.usage.input_tokens and sync.model == MODEL


def test_forced_tool_call(oa_backend: OpenAICompatBackend) -> None:
    request = ask("What is the weather in Paris?", model=TOOLS, tools=[WEATHER], tool_choice="required",
                  max_tokens=16)
    assert oa_backend.chat_body(request, stream=False)["tool_choice"] == {"type": "function",
                                                                         "function": {"name": "get_weather"}}
    r = oa_backend.chat(request)
    assert r.finish_reason == "tool_calls" and r.message.content == ""
    [call] = r.message.tool_calls
    assert call.name == "get_weather" and call.id and isinstance(call.arguments.get("city"), str)


def test_forced_tool_call_streamed(oa_backend: OpenAICompatBackend) -> None:
    request = ask("What is the weather in Paris?", model=TOOLS, tools=[WEATHER], tool_choice="get_weather",
                  max_tokens=16)
    chunks = list(oa_backend.stream_chat(request))
    [call] = chunks[-1].tool_calls  # name and id repeat in every delta: taken once
    assert call.name == "get_weather" and isinstance(call.arguments.get("city"), str)
    assert chunks[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", [TOOLS, MODEL])
async def test_required_among_several_tools_is_forced_through_json(oa_backend: OpenAICompatBackend,
                                                                  model: str) -> None:
    """The server answers tool_choice="required" with several tools with HTTP 500; patinox forces the
    call with a json_object schema over the tools instead, on either alias."""
    request = ask("What is the weather in Paris?", model=model, tools=[WEATHER, CLOCK], tool_choice="required",
                  max_tokens=FORCED_MAX_TOKENS)
    body = oa_backend.chat_body(request, stream=True)
    assert "tools" not in body and "tool_choice" not in body
    assert [a["properties"]["name"]["enum"] for a in body["response_format"]["schema"]["anyOf"]] == [
        ["get_weather"], ["get_time"]]
    r = oa_backend.chat(request)
    [call] = r.message.tool_calls
    assert r.finish_reason == "tool_calls" and r.message.content == "" and r.model == model
    assert call.name in ("get_weather", "get_time") and isinstance(call.arguments, dict)
    assert call.id == tool_call_id(call.name, canonical_json(call.arguments), 0)
    assert r.usage.output_tokens and r.usage.output_tokens < FORCED_MAX_TOKENS
    chunks = [c async for c in oa_backend.astream_chat(request)]
    assert all(c.content == "" for c in chunks) and all(not c.tool_calls for c in chunks[:-1])
    assert chunks[-1].tool_calls == [call] and chunks[-1].finish_reason == "tool_calls"  # temperature 0


def test_json_schema_output(oa_backend: OpenAICompatBackend) -> None:
    request = ask("Name one city as JSON.", response_format=CITY, max_tokens=16)
    assert oa_backend.chat_body(request, stream=False)["response_format"] == {"type": "json_object", "schema": CITY}
    r = oa_backend.chat(request)
    assert r.finish_reason == "stop"
    value = json.loads(r.message.content)
    assert isinstance(value, dict) and isinstance(value.get("name"), str)


def test_context_overflow_is_typed(oa_backend: OpenAICompatBackend) -> None:
    with pytest.raises(ContextOverflowError) as info:
        oa_backend.chat(ask("cat " * 2500, max_tokens=1))
    assert info.value.status_code == 400 and "Traceback" not in str(info.value)

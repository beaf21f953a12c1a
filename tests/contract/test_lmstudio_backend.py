"""LM Studio and generic OpenAI-compatible backends against real loopback fake servers.

Every LM Studio quirk and error has a test here that shows the typed error or the
right behaviour; sync and async paths run against the same server and must agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from patinox_core.backends.base import tool_call_id
from patinox_core.backends.lmstudio import LMStudioBackend
from patinox_core.backends.openai_compat import OpenAICompatBackend, fingerprint_openai
from patinox_core.config import LocalSettings
from patinox_core.errors import (
    CapabilityError,
    ConfigurationError,
    InvalidResponseError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.fakes._http import FakeHTTPServer, FakeRequest, Fault, Reply, StreamReply
from patinox_core.fakes.lmstudio import sse_error_line
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLMStudioServer, LMStudioModel
from patinox_core.types import ChatRequest, Message, ToolCall, merge_chunks

CHAT = "qwen/qwen3-8b"
EMBED = "text-embedding-nomic-embed-text-v1.5"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
FAST = {"connect_timeout": 1.0, "read_timeout": 5.0, "cold_load_timeout": 10.0, "max_retries": 0}


def models() -> list[LMStudioModel]:
    return [LMStudioModel(CHAT, reply="Paris is the capital of France.", reasoning="The user wants a capital.",
                          tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}],
                          tool_use=True, reasoning_capable=True, arch="qwen3"),
            LMStudioModel("google/gemma-3-4b", type="vlm", loaded=False, arch="gemma3"),
            LMStudioModel(EMBED, type="embeddings", loaded=False, arch="nomic-bert", embedding_dim=16)]


@pytest.fixture
def server() -> Iterator[FakeLMStudioServer]:
    with FakeLMStudioServer(models(), fragment=3) as srv:
        yield srv  # type: ignore[misc]


def backend(srv: FakeHTTPServer, **settings: object) -> LMStudioBackend:
    return LMStudioBackend(srv.url, settings=LocalSettings(**{**FAST, **settings}))


def ask(text: str = "What is the capital of France?", **kw: object) -> ChatRequest:
    return ChatRequest(**{"model": CHAT, "messages": [Message("user", text)], **kw})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the fake's own quirks


def test_fake_speaks_like_lm_studio(server: FakeLMStudioServer) -> None:
    with httpx.Client(trust_env=False) as client:
        root = client.get(server.url + "/")
        models_reply = client.get(server.url + "/v1/models")
        chat = client.post(server.url + "/v1/chat/completions", json={"model": CHAT, "messages": []})
    assert root.status_code == 200 and root.json() == {"error": "Unexpected endpoint or method. (GET /)"}
    assert root.headers["x-powered-by"] == "Express"
    assert models_reply.text.startswith('{\n  "data"')  # pretty-printed
    assert {m["owned_by"] for m in models_reply.json()["data"]} == {"organization_owner"}
    assert chat.json()["system_fingerprint"] == CHAT and chat.json()["stats"] == {}
    assert fingerprint_openai(models_reply.json(), models_reply.headers) == "lmstudio"


# --------------------------------------------------------------------------- chat, stream, embed


def test_chat_sync_and_async_agree(server: FakeLMStudioServer) -> None:
    import asyncio

    b = backend(server)
    sync = b.chat(ask())
    async_ = asyncio.run(b.achat(ask()))
    for r in (sync, async_):
        assert r.message.content == "Paris is the capital of France."
        assert r.message.thinking == "The user wants a capital."
        assert r.finish_reason == "stop" and r.service == server.url and r.model == CHAT
        assert r.usage.output_tokens == 11 and r.usage.input_tokens == 6
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2
    assert server.requests[0].body == server.requests[1].body  # one implementation, same bytes


async def test_stream_sync_and_async_agree(server: FakeLMStudioServer) -> None:
    b = backend(server)
    request = ask(tools=[WEATHER])
    sync = merge_chunks(list(b.stream_chat(request)))
    async_ = merge_chunks([c async for c in b.astream_chat(request)])
    for r in (sync, async_):
        assert r.message.tool_calls == [ToolCall(r.message.tool_calls[0].id, "get_weather",
                                                 {"city": "Paris", "unit": "celsius"})]
        assert r.message.tool_calls[0].id.isdigit()  # LM Studio's numeric-string ids are kept
        assert r.finish_reason == "tool_calls" and r.message.thinking == "The user wants a capital."
        assert r.usage.total_tokens is not None
    sent = server.requests[0].json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_fragmented_arguments_are_reassembled(server: FakeLMStudioServer) -> None:
    server.fragment = 2
    chunks = list(backend(server).stream_chat(ask(tools=[WEATHER], tool_choice="required")))
    assert chunks[-1].tool_calls[0].arguments == {"city": "Paris", "unit": "celsius"}
    assert all(not c.tool_calls for c in chunks[:-1])
    assert server.requests[0].json["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_reasoning_field_variant_and_content_stream() -> None:
    with FakeLMStudioServer(models(), reasoning_field="reasoning") as srv:
        b = backend(srv)
        chunks = list(b.stream_chat(ask(max_tokens=3)))
        merged = merge_chunks(chunks)
        assert merged.message.content == "Paris is the "
        assert merged.message.thinking == "The user wants a capital."
        assert merged.finish_reason == "length"
        assert b.chat(ask()).message.thinking == "The user wants a capital."
        assert chunks[-1].metrics is not None and chunks[-1].metrics.time_to_first_token_s is not None


def test_think_tags_in_content_are_stripped(server: FakeLMStudioServer) -> None:
    server.models[CHAT].reply = "<think>Capital of France...</think>\n\nParis."
    server.models[CHAT].reasoning = None
    r = backend(server).chat(ask())
    assert (r.message.content, r.message.thinking) == ("Paris.", "Capital of France...")
    merged = merge_chunks(list(backend(server).stream_chat(ask())))
    assert (merged.message.content, merged.message.thinking) == ("Paris.", "Capital of France...")


def test_stream_usage_unknown_when_the_server_ignores_include_usage() -> None:
    with FakeLMStudioServer(models(), usage_in_stream=False) as srv:
        chunks = list(backend(srv).stream_chat(ask()))
    assert chunks[-1].usage is None  # unknown, never zeros
    assert merge_chunks(chunks).usage.output_tokens is None


async def test_embeddings_sync_and_async(server: FakeLMStudioServer) -> None:
    b = backend(server)
    texts = ["alpha", "beta", "gamma"]
    sync = b.embed(texts, EMBED)
    async_ = await b.aembed(texts, EMBED)
    assert sync.vectors == async_.vectors and len(sync.vectors) == 3 and sync.dimensions == 16
    assert sync.usage.input_tokens is None  # LM Studio always says 0: unknown
    assert sync.service == b.base_url
    bodies = [r.json for r in server.requests]
    assert [b_["input"] for b_ in bodies] == [texts, texts]  # one request each: batching is the caller's
    assert all(isinstance(t, str) for body in bodies for t in body["input"])


def test_token_arrays_are_never_sent(server: FakeLMStudioServer) -> None:
    with pytest.raises(ConfigurationError, match="must be strings"):
        backend(server).embed([[101, 2023]], EMBED)  # type: ignore[list-item]
    assert server.requests == []


def test_empty_embedding_input_needs_no_request(server: FakeLMStudioServer) -> None:
    result = backend(server).embed([], EMBED)
    assert result.vectors == [] and server.requests == []


# --------------------------------------------------------------------------- metadata, JIT, ttl


@pytest.mark.parametrize(("rest_api", "path"), [(("v1", "v0"), "/api/v1/models"), (("v0",), "/api/v0/models")])
async def test_native_model_metadata(rest_api: tuple[str, ...], path: str) -> None:
    with FakeLMStudioServer(models(), rest_api=rest_api) as srv:
        b = backend(srv)
        facts = {f["name"]: f for f in b.list_model_facts()}
        assert facts == {f["name"]: f for f in await b.alist_model_facts()}
        paths = [r.path for r in srv.requests]
        jit_probe = ["/v1/models"] if path == "/api/v1/models" else []  # v0 lists only what JIT may load
        assert paths == 2 * ["/api/v1/models", *([path] if jit_probe == [] else []), *jit_probe]
        assert b.jit is True  # unloaded models are listed: JIT loading is on
    chat, vlm, emb = facts[CHAT], facts["google/gemma-3-4b"], facts[EMBED]
    assert chat["model_type"] == "llm" and chat["loaded"] and chat["loaded_context_length"] == 4096
    assert chat["context_length"] == 32768 and chat["quantization"] == "Q4_K_M" and chat["family"] == "qwen3"
    assert chat["capabilities"]["tools"] is True
    assert vlm["model_type"] == "vlm" and vlm["capabilities"]["vision"] and not vlm["loaded"]
    assert emb["model_type"] == "embeddings" and emb["capabilities"]["embeddings"]
    assert [n for n, f in facts.items() if f["loaded"]] == [CHAT] and b.rest_api == rest_api[0]


def test_old_server_falls_back_to_v1_models() -> None:
    with FakeLMStudioServer(models(), rest_api=()) as srv:
        b = backend(srv)
        facts = b.list_model_facts()
        assert [f["name"] for f in facts] == [CHAT, "google/gemma-3-4b", EMBED]
        assert [r.path for r in srv.requests] == ["/api/v1/models", "/api/v0/models", "/v1/models"]
        assert b.rest_api is None and not any("loaded" in f for f in facts)  # /v1/models says nothing about it


def test_v0_chat_after_a_native_listing_reports_server_stats(server: FakeLMStudioServer) -> None:
    b = backend(server)
    before = b.chat(ask())
    assert before.metrics.tokens_per_second is None and before.metrics.total_duration_s is not None
    b.list_model_facts()
    after = b.chat(ask())
    assert server.requests[-1].path == "/api/v0/chat/completions"
    assert (after.metrics.tokens_per_second, after.metrics.time_to_first_token_s) == (42.5, 0.073)
    list(b.stream_chat(ask()))
    assert server.requests[-1].path == "/v1/chat/completions"  # streams stay on /v1


def test_jit_loads_a_not_loaded_model_with_the_cold_timeout(server: FakeLMStudioServer) -> None:
    b = backend(server, read_timeout=0.3, cold_load_timeout=5.0)
    p = LocalProvider(b.settings, backends=[b])  # the catalogue owns load state; the backend asks it
    p.list_models()
    assert p.catalogue.is_loaded(b.base_url, "google/gemma-3-4b") is False
    server.delay_first_byte(0.8, path="/api/v0/chat")
    r = p.chat(ask(model="google/gemma-3-4b"))  # cold: waits past read_timeout
    assert r.model == "google/gemma-3-4b" and p.catalogue.is_loaded(b.base_url, "google/gemma-3-4b") is True
    server.delay_first_byte(0.8, path="/api/v0/chat")
    with pytest.raises(RequestTimeoutError):
        p.chat(ask())  # loaded: the normal read timeout applies


def test_request_timeout_and_retries_are_honoured(server: FakeLMStudioServer) -> None:
    b = backend(server)
    server.delay_first_byte(0.8)
    with pytest.raises(RequestTimeoutError):
        b.chat(ask(timeout=0.2))
    server.fail_with(503, {"error": "busy"}, times=1)
    assert b.chat(ask(max_retries=1)).message.content
    server.fail_with(503, {"error": "busy"}, times=1)
    with pytest.raises(ServiceUnavailableError):
        b.chat(ask(max_retries=0))


def test_ttl_is_sent_from_keep_alive(server: FakeLMStudioServer) -> None:
    b = backend(server, keep_alive="5m")
    b.chat(ask())
    b.chat(ask(keep_alive=90))
    b.embed(["x"], EMBED, keep_alive="1h")
    b.chat(ask(keep_alive=-1))
    ttls = [r.json.get("ttl") for r in server.requests]
    assert ttls == [300, 90, 3600, None]


# --------------------------------------------------------------------------- structured output


def test_json_mode_is_a_permissive_json_schema(server: FakeLMStudioServer) -> None:
    server.models[CHAT].json_reply = {"capital": "Paris"}
    r = backend(server).chat(ask(response_format="json"))
    assert json.loads(r.message.content) == {"capital": "Paris"}
    assert server.requests[-1].json["response_format"]["type"] == "json_schema"


def test_generic_backend_json_object_is_rejected_by_lm_studio(server: FakeLMStudioServer) -> None:
    generic = OpenAICompatBackend(server.url, settings=LocalSettings(**FAST))
    with pytest.raises(ConfigurationError, match="must be 'json_schema'"):
        generic.chat(ask(response_format="json"))  # unfingerprinted: plain json_object is sent and refused
    assert generic.chat(ask(response_format={"type": "object"})).message.content == "{}"
    server.reject_json_object()  # the LM Studio backend names the quirk
    with pytest.raises(CapabilityError, match="only json_schema"):
        backend(server).chat(ask(response_format="json"))


def test_json_schema_output(server: FakeLMStudioServer) -> None:
    schema = {"title": "City", "type": "object", "properties": {"name": {"type": "string"},
                                                              "population": {"type": "integer"}},
              "required": ["name", "population"]}
    r = backend(server).chat(ask(response_format=schema))
    assert json.loads(r.message.content) == {"name": "text", "population": 1}
    sent = server.requests[-1].json["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "City", "schema": schema, "strict": True}}


# --------------------------------------------------------------------------- LM Studio errors


def test_no_models_loaded_with_jit_off() -> None:
    loaded_none = [LMStudioModel(CHAT, loaded=False), LMStudioModel(EMBED, type="embeddings", loaded=False)]
    with FakeLMStudioServer(loaded_none, jit=False) as srv:
        b = backend(srv)
        assert not any(f["loaded"] for f in b.list_model_facts())
        with pytest.raises(ModelNotLoadedError) as info:
            b.chat(ask())
    err = info.value
    assert "lms load <model>" in str(err) and err.recovery is RecoveryStrategy.LOAD_MODEL
    assert err.model == CHAT and err.service == srv.url


@pytest.mark.parametrize("object_form", [False, True])
def test_no_models_loaded_fault_both_shapes(server: FakeLMStudioServer, object_form: bool) -> None:
    server.no_models_loaded(object_form=object_form)
    with pytest.raises(ModelNotLoadedError):
        backend(server).chat(ask())
    server.no_models_loaded(object_form=object_form)
    with pytest.raises(ModelNotLoadedError):
        list(backend(server).stream_chat(ask()))


def test_model_is_not_embedding(server: FakeLMStudioServer) -> None:
    with pytest.raises(CapabilityError, match="is not an embedding model") as info:
        backend(server).embed(["x"], CHAT)
    assert info.value.model == CHAT
    server.model_is_not_embedding(EMBED)
    with pytest.raises(CapabilityError):
        backend(server).embed(["x"], EMBED)


async def test_invalid_model_identifier(server: FakeLMStudioServer) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        await backend(server).achat(ask(model="o4-mini"))
    assert "lms get o4-mini" in str(info.value) and info.value.recovery is RecoveryStrategy.PULL_MODEL
    server.invalid_model_identifier("x")
    with pytest.raises(ModelNotFoundError):
        backend(server).embed(["x"], EMBED)


def test_unexpected_endpoint_with_http_200_is_an_error(server: FakeLMStudioServer) -> None:
    server.rest_api = ()
    b = backend(server)
    b.rest_api = "v0"  # stale knowledge: the native route is gone
    with pytest.raises(CapabilityError, match="does not offer this endpoint") as info:
        b.chat(ask())
    assert info.value.status_code == 200 and info.value.recovery is RecoveryStrategy.FALLBACK


# --------------------------------------------------------------------------- base-class faults


def test_unreachable_server_hint(server: FakeLMStudioServer) -> None:
    b = backend(server)
    server.kill()
    with pytest.raises(ServiceUnavailableError, match="lms server start"):
        b.chat(ask())
    server.restart()
    assert b.chat(ask()).message.content


def test_stream_cut_mid_way(server: FakeLMStudioServer) -> None:
    server.inject(Fault(path="/v1/chat", cut_after=3))
    with pytest.raises(ServiceUnavailableError):
        list(backend(server).stream_chat(ask()))


def test_stream_truncated_cleanly(server: FakeLMStudioServer) -> None:
    server.inject(Fault(path="/v1/chat", truncate_after=3))
    with pytest.raises(InvalidResponseError):
        list(backend(server).stream_chat(ask()))


async def test_error_event_mid_stream(server: FakeLMStudioServer) -> None:
    server.inject(Fault(path="/v1/chat", error_line_after=3, error_line=sse_error_line("Model crashed")))
    with pytest.raises(ServerError, match="Model crashed"):
        [c async for c in backend(server).astream_chat(ask())]


def test_server_tracebacks_are_summarised(server: FakeLMStudioServer) -> None:
    server.fail_with(500, {"error": {"message": 'Traceback (most recent call last):\n  File "/opt/lms/x.js", '
                                                "line 1\nError: out of memory", "type": "server_error"}})
    with pytest.raises(ServerError) as info:
        backend(server).chat(ask())
    assert "Error: out of memory" in str(info.value) and "/opt/lms" not in str(info.value)


# --------------------------------------------------------------------------- a generic OpenAI-compatible server


class LlamaCppLike(FakeHTTPServer):
    """llama-cpp-python's quirks: name/id repeated in every tool delta, no usage
    chunk while streaming, FastAPI error bodies, ``owned_by: "me"``."""

    server_header = "uvicorn"

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        if request.path == "/v1/models":
            return Reply(body={"object": "list", "data": [{"id": "gemma", "object": "model", "owned_by": "me",
                                                           "permissions": []}]})
        body = request.json or {}
        if request.path != "/v1/chat/completions":
            return Reply(status=404, body={"detail": "Not Found"})
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return Reply(status=500, body={"error": {"message": "Input should be 'text' or 'json_object'",
                                                     "type": "internal_server_error"}})
        call = {"index": 0, "id": "call__0_Joke_cmpl-1", "type": "function", "function": {"name": "Joke"}}
        parts = ['{"set', 'up": "a', ' pun"}']
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        events += [{"choices": [{"index": 0, "delta": {"tool_calls": [
            {**call, "function": {"name": "Joke", "arguments": p}}]}, "finish_reason": None}]} for p in parts]
        events += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
        lines = ["data: " + json.dumps({"id": "chatcmpl-1", "model": "gemma", **e}) + "\r\n\r\n" for e in events]
        return StreamReply(lines=[*lines, "data: [DONE]\r\n\r\n"], content_type="text/event-stream")


def test_generic_server_path_with_fingerprinted_quirks() -> None:
    with LlamaCppLike() as srv, httpx.Client(trust_env=False) as client:
        listing = client.get(srv.url + "/v1/models")
        flavor = fingerprint_openai(listing.json(), listing.headers)
        assert flavor == "llama_cpp_python"
        b = OpenAICompatBackend(srv.url + "/v1", settings=LocalSettings(**FAST), flavor=flavor)
        joke = {"type": "function", "function": {"name": "Joke", "parameters": {"type": "object"}}}
        chunks = list(b.stream_chat(ask(model="gemma", tools=[joke], tool_choice="required", max_tokens=16)))
        assert chunks[-1].tool_calls == [ToolCall("call__0_Joke_cmpl-1", "Joke", {"setup": "a pun"})]
        assert chunks[-1].usage is None
        sent = srv.requests[-1].json
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "Joke"}}
        assert sent["max_tokens"] == 16 and "max_completion_tokens" not in sent
        assert b.list_model_facts() == [{"name": "gemma", "loaded": True}]
        with pytest.raises(CapabilityError, match="does not offer"):
            b.embed(["x"], "gemma")
        plain = OpenAICompatBackend(srv.url, settings=LocalSettings(**FAST))  # unknown flavor: OpenAI's json_schema
        with pytest.raises(ServerError, match="json_object"):
            list(plain.stream_chat(ask(model="gemma", response_format={"type": "object"})))
        assert srv.requests[-1].json["response_format"]["type"] == "json_schema"
        list(b.stream_chat(ask(model="gemma", response_format={"type": "object"})))
        assert srv.requests[-1].json["response_format"] == {"type": "json_object", "schema": {"type": "object"}}


class LlamaCppForcing(FakeHTTPServer):
    """llama-cpp-python for forced calls: ``tool_choice="required"`` answers 500 with an empty
    message; a ``json_object`` schema makes the reply ``self.content`` (what its grammar produced)."""

    server_header = "uvicorn"

    def __init__(self) -> None:
        super().__init__()
        self.content = '{ "name": "get_time", "arguments": { "zone": "CET" } }'
        self.finish = "stop"

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        if request.path == "/v1/models":
            return Reply(body={"object": "list", "data": [{"id": "gemma", "object": "model", "owned_by": "me",
                                                           "permissions": []}]})
        body = request.json or {}
        if body.get("tool_choice") == "required":
            return Reply(status=500, body={"error": {"message": "", "type": "internal_server_error"}})
        if "schema" not in (body.get("response_format") or {}):
            return Reply(status=400, body={"error": {"message": "expected a json_object schema"}})
        head = {"id": "chatcmpl-7", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            return Reply(body={**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"content": self.content, "role": "assistant"}, "logprobs": None,
                 "finish_reason": self.finish}], "usage": {"prompt_tokens": 90, "completion_tokens": 15,
                                                           "total_tokens": 105}})
        pieces = [self.content[i:i + 7] for i in range(0, len(self.content), 7)]
        deltas = [({"role": "assistant"}, None), *[({"content": p}, None) for p in pieces], ({}, self.finish)]
        lines = ["data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": d, "logprobs": None, "finish_reason": f}]}) + "\r\n\r\n" for d, f in deltas]
        return StreamReply(lines=[*lines, "data: [DONE]\r\n\r\n"], content_type="text/event-stream")


async def test_required_among_several_tools_is_forced_through_json_on_llama_cpp_python() -> None:
    clock = {"type": "function", "function": {"name": "get_time", "description": "Time in a zone", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
    request = ask("What time is it in Berlin?", model="gemma", tools=[WEATHER, clock], tool_choice="required",
                  max_tokens=64)
    expected = ToolCall(tool_call_id("get_time", '{"zone":"CET"}', 0), "get_time", {"zone": "CET"})
    with LlamaCppForcing() as srv:
        native = OpenAICompatBackend(srv.url, settings=LocalSettings(**FAST))  # unfingerprinted: sends "required"
        with pytest.raises(ServerError):
            native.chat(request)
        b = OpenAICompatBackend(srv.url, settings=LocalSettings(**FAST), flavor="llama_cpp_python")
        results = [b.chat(request), await b.achat(request), merge_chunks(list(b.stream_chat(request))),
                   merge_chunks([c async for c in b.astream_chat(request)])]
        for r in results:
            assert r.message.tool_calls == [expected] and r.finish_reason == "tool_calls"
            assert r.message.content == "" and r.service == srv.url
        assert results[0].usage.total_tokens == 105
        streamed = list(b.stream_chat(request))
        assert all(c.content == "" for c in streamed) and [c.tool_calls for c in streamed] == [[expected]]
        sent = [r.json for r in srv.requests[1:]]
    assert sent[0] == sent[1] and sent[2] == sent[3]  # sync and async send the same bodies
    for body in sent:
        assert "tools" not in body and "tool_choice" not in body and body["max_tokens"] == 64
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "`get_time`: Time in a zone" in body["messages"][0]["content"]
        alternatives = body["response_format"]["schema"]["anyOf"]
        assert body["response_format"]["type"] == "json_object"
        assert [a["properties"]["name"] for a in alternatives] == [{"type": "string", "enum": ["get_weather"]},
                                                                   {"type": "string", "enum": ["get_time"]}]
        assert alternatives[1]["properties"]["arguments"] == clock["function"]["parameters"]


def test_forced_call_faults_on_llama_cpp_python() -> None:
    request = ask(model="gemma", tools=[WEATHER, WEATHER | {"function": {"name": "get_time"}}],
                  tool_choice="required", max_tokens=8)
    with LlamaCppForcing() as srv:
        b = OpenAICompatBackend(srv.url, settings=LocalSettings(**FAST), flavor="llama_cpp_python")
        srv.content, srv.finish = '{ "name": "get_ti', "length"
        for reply in (b.chat(request), merge_chunks(list(b.stream_chat(request)))):
            assert reply.message.tool_calls == [] and reply.finish_reason == "length"
            assert "cut off by max_tokens" in reply.message.invalid_tool_calls[0].error
        srv.content, srv.finish = "I cannot do that.", "stop"
        streamed = merge_chunks(list(b.stream_chat(request)))
        assert streamed.message.invalid_tool_calls[0].arguments == "I cannot do that."
        assert "malformed" in streamed.message.invalid_tool_calls[0].error
        with pytest.raises(ConfigurationError, match="response_format"):
            b.chat(ask(model="gemma", tools=request.tools, tool_choice="required", response_format="json"))
        assert len(srv.requests) == 3  # the invalid combination is refused before sending


def test_generic_backend_unreachable_hint() -> None:
    srv = LlamaCppLike().start()
    url = srv.url
    srv.stop()
    with pytest.raises(ServiceUnavailableError, match="llama-server / vllm serve / LM Studio") as info:
        OpenAICompatBackend(url, settings=LocalSettings(**FAST)).chat(ask(model="gemma"))
    assert info.value.recovery is RecoveryStrategy.FALLBACK and info.value.service == url

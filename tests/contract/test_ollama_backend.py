"""OllamaBackend against FakeOllamaServer: real loopback HTTP, sync and async, every fault."""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Iterator

import pytest

from patinox_core import (
    CapabilityError,
    ChatRequest,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProviderError,
    LocalSettings,
    Message,
    ModelNotFoundError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.backends.base import tool_call_id
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.backends.ollama_wire import ModelLoadedReply, canonical_json
from patinox_core.catalogue import Catalogue, known_loaded
from patinox_core.config import ProviderKind
from patinox_core.testing import FakeOllamaServer, OllamaModel
from patinox_core.transport import Transport
from patinox_core.types import ChatChunk, ChatResult, merge_chunks

pytestmark = pytest.mark.timeout(30)

REPLY = "The sky is blue because of Rayleigh scattering."
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def models() -> list[OllamaModel]:
    return [
        OllamaModel("llama3.2", reply=REPLY, capabilities=["completion", "tools"], prompt_eval_count=12,
                    tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], num_ctx=8192),
        OllamaModel("qwen3", reply="Paris.", capabilities=["completion", "tools", "thinking"],
                    thinking="The user asks about France.", family="qwen3"),
        OllamaModel("deepseek-r1", reply="42.", thinking="Let me count.", inline_think=True),
        OllamaModel("llava", reply="A cat.", capabilities=["completion", "vision"]),
        OllamaModel("gemma3", reply="Hi.", capabilities=["completion"]),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embedding_dim=16),
    ]


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(models()) as srv:
        yield srv


@pytest.fixture
def settings() -> LocalSettings:
    return LocalSettings(read_timeout=1, cold_load_timeout=2, connect_timeout=0.5, max_retries=1)


@pytest.fixture
def backend(server: FakeOllamaServer, settings: LocalSettings) -> Iterator[OllamaBackend]:
    transport = Transport(settings)
    yield OllamaBackend(server.url, transport, settings)
    transport.close()


def chat(model: str = "llama3.2", text: str = "Why is the sky blue?", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text)], **kw)  # type: ignore[arg-type]


def stream(backend: OllamaBackend, request: ChatRequest) -> list[ChatChunk]:
    return list(backend.stream_chat(request))


async def astream(backend: OllamaBackend, request: ChatRequest) -> list[ChatChunk]:
    return [c async for c in backend.astream_chat(request)]


def chat_body(server: FakeOllamaServer) -> dict:
    return next(r for r in reversed(server.requests) if r.path == "/api/chat").json


# --- chat: scripted content, usage, metrics -------------------------------------------------
def test_chat_returns_scripted_content_usage_metrics(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    assert backend.kind is ProviderKind.OLLAMA and "127.0.0.1" in repr(backend)
    result = backend.chat(chat())
    assert result.message.content == REPLY and result.finish_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (12, 8, 20)
    assert result.metrics.tokens_per_second == pytest.approx(50.0)
    assert result.metrics.load_duration_s == pytest.approx(1.5)  # cold: the model was not loaded
    assert result.model == "llama3.2:latest" and result.service == server.url
    assert chat_body(server)["stream"] is False
    assert backend.chat(chat()).metrics.load_duration_s == pytest.approx(0.001)  # now resident


def test_async_chat_equals_sync(backend: OllamaBackend) -> None:
    sync = backend.chat(chat())
    result = asyncio.run(backend.achat(chat()))
    assert (result.message, result.usage, result.finish_reason) == (sync.message, sync.usage, sync.finish_reason)


def test_same_backend_under_asyncio_run_twice(backend: OllamaBackend) -> None:
    for _ in range(2):
        assert asyncio.run(backend.achat(chat())).message.content == REPLY


@pytest.mark.parametrize("chunking", [{"words": 1}, {"words": 3}, {"chars": 4}])
def test_stream_deltas_concatenate_to_non_stream_content(backend: OllamaBackend, server: FakeOllamaServer,
                                                         chunking: dict) -> None:
    server.set_stream_chunking(**chunking)
    full = backend.chat(chat())
    chunks = stream(backend, chat())
    assert chat_body(server)["stream"] is True
    merged = merge_chunks(chunks)
    assert "".join(c.content for c in chunks) == full.message.content == REPLY
    assert merged.usage == full.usage and merged.finish_reason == "stop"
    assert merged.metrics.tokens_per_second == pytest.approx(50.0)
    assert all(c.finish_reason is None for c in chunks[:-1]) and chunks[-1].usage is not None
    if chunking == {"words": 1}:
        assert len(chunks) == len(REPLY.split()) + 1


def test_async_stream_equals_sync_stream(backend: OllamaBackend) -> None:
    sync = merge_chunks(stream(backend, chat()))
    result = merge_chunks(asyncio.run(astream(backend, chat())))
    assert (result.message, result.usage) == (sync.message, sync.usage)


def test_stream_time_to_first_token_is_client_measured(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.delay_first_byte(0.3, path="/api/chat")
    final = stream(backend, chat())[-1]
    assert 0.3 <= final.metrics.time_to_first_token_s < 1.5


# --- thinking --------------------------------------------------------------------------------
def test_thinking_is_separate_sync_async_stream(backend: OllamaBackend) -> None:
    for result in (backend.chat(chat("qwen3", think=True)), asyncio.run(backend.achat(chat("qwen3", think="high"))),
                   merge_chunks(stream(backend, chat("qwen3")))):
        assert result.message.content == "Paris." and result.message.thinking == "The user asks about France."
    assert backend.chat(chat("qwen3", think=False)).message.thinking is None


@pytest.mark.parametrize("chars", [None, 1, 3, 5])
def test_inline_think_tags_never_reach_content(backend: OllamaBackend, server: FakeOllamaServer,
                                               chars: int | None) -> None:
    server.set_stream_chunking(chars=chars)
    for result in (backend.chat(chat("deepseek-r1")), merge_chunks(stream(backend, chat("deepseek-r1")))):
        assert (result.message.content, result.message.thinking) == ("42.", "Let me count.")


# --- tools -----------------------------------------------------------------------------------
def test_native_tool_calls_use_server_ids(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    result = backend.chat(chat(tools=[WEATHER]))
    assert chat_body(server)["tools"] == [WEATHER]
    (call,) = result.message.tool_calls
    assert (call.name, call.arguments, result.finish_reason) == ("get_weather", {"city": "Paris"}, "tool_calls")
    assert call.id.startswith("call_") and len(call.id) == 13  # the server's id (>= 0.12.10)
    assert merge_chunks(stream(backend, chat(tools=[WEATHER]))).message.tool_calls == [call]


def test_old_server_tool_ids_are_deterministic(settings: LocalSettings) -> None:
    with FakeOllamaServer(models(), version="0.12.5") as srv:
        backend = OllamaBackend(srv.url, Transport(settings), settings)
        first = backend.chat(chat(tools=[WEATHER])).message.tool_calls[0].id
        assert first == tool_call_id("get_weather", canonical_json({"city": "Paris"}), 0)
        assert asyncio.run(backend.achat(chat(tools=[WEATHER]))).message.tool_calls[0].id == first


def test_forced_tool_choice_is_enforced(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    result = backend.chat(chat("gemma3", tools=[WEATHER], tool_choice="get_weather"))  # no native tool support
    body = chat_body(server)
    assert "tools" not in body and body["format"] == WEATHER["function"]["parameters"]
    assert result.finish_reason == "tool_calls" and result.message.content == ""
    assert result.message.tool_calls[0].name == "get_weather"
    assert result.message.tool_calls[0].arguments == {"city": "text"}  # the fake's schema instance
    server.find("gemma3").json_reply = '{"city": "Lima"}'
    for res in (merge_chunks(stream(backend, chat("gemma3", tools=[WEATHER], tool_choice="required"))),
                asyncio.run(backend.achat(chat("gemma3", tools=[WEATHER], tool_choice="required")))):
        assert res.message.tool_calls[0].arguments == {"city": "Lima"} and res.finish_reason == "tool_calls"


def test_tool_choice_none_sends_no_tools(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    result = backend.chat(chat("gemma3", tools=[WEATHER], tool_choice="none"))
    assert "tools" not in chat_body(server) and result.message.content == "Hi."


# --- request mapping -------------------------------------------------------------------------
def test_options_keep_alive_format_reach_the_server(server: FakeOllamaServer) -> None:
    s = LocalSettings(keep_alive="10m", read_timeout=1, cold_load_timeout=2)
    backend = OllamaBackend(server.url, Transport(s), s)
    backend.chat(chat(temperature=0.1, seed=3, num_ctx=2048, response_format="json", options={"min_p": 0.05}))
    body = chat_body(server)
    assert body["keep_alive"] == "10m" and body["format"] == "json"
    assert body["options"] == {"temperature": 0.1, "seed": 3, "num_ctx": 2048, "min_p": 0.05}
    backend.chat(chat(keep_alive=0))
    assert chat_body(server)["keep_alive"] == 0 and not server.find("llama3.2").loaded


def test_max_tokens_gives_length(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    result = backend.chat(chat(max_tokens=3))
    assert chat_body(server)["options"]["num_predict"] == 3
    assert result.finish_reason == "length" and result.message.content == "The sky is "


def test_images_base64_and_urls_fetched_through_the_transport(backend: OllamaBackend,
                                                              server: FakeOllamaServer) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    url = server.serve_file("/cat.png", png)
    message = Message("user", "What is this?", images=[url, "data:image/png;base64,QUJD"])
    for result in (backend.chat(ChatRequest(model="llava", messages=[message])),
                   asyncio.run(backend.achat(ChatRequest(model="llava", messages=[message])))):
        assert result.message.content == "A cat."
        assert chat_body(server)["messages"][0]["images"] == [base64.b64encode(png).decode(), "QUJD"]
    missing = Message("user", "?", images=[server.url + "/missing.png"])
    with pytest.raises(ConfigurationError, match="cannot fetch image"):
        backend.chat(ChatRequest(model="llava", messages=[missing]))


# --- embeddings ------------------------------------------------------------------------------
def test_embed_sync_async_normalised_deterministic(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    result = backend.embed(["hello world", "bye"], "nomic-embed-text")
    assert result.dimensions == 16 and len(result.vectors) == 2 and result.usage.input_tokens == 3
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in result.vectors)
    again = asyncio.run(backend.aembed(["hello world", "bye"], "nomic-embed-text"))
    assert again.vectors == result.vectors
    assert backend.embed(["x"], "nomic-embed-text", dimensions=4).dimensions == 4
    assert server.requests[-1].json == {"model": "nomic-embed-text", "input": ["x"], "dimensions": 4}
    before = len(server.requests)
    assert backend.embed([], "nomic-embed-text").vectors == [] and len(server.requests) == before


def test_embed_fn_makes_retrieval_checkable(server: FakeOllamaServer, backend: OllamaBackend) -> None:
    topics = {"cats": [1.0, 0.0, 0.0], "dogs": [0.0, 1.0, 0.0], "kittens": [0.9, 0.1, 0.0]}
    server.add_model(OllamaModel("topics", capabilities=["embedding"], embed_fn=lambda t: topics[t]))
    vectors = dict(zip(topics, backend.embed(list(topics), "topics").vectors, strict=True))

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors["cats"], vectors["kittens"]) > cosine(vectors["cats"], vectors["dogs"])


def test_embed_sends_what_it_is_given_in_one_request(server: FakeOllamaServer) -> None:
    """Batching is the embedding job's (``LocalProvider.embed``); a backend never re-batches."""
    s = LocalSettings(embed_batch_size=2, read_timeout=1, cold_load_timeout=2)
    backend = OllamaBackend(server.url, Transport(s), s)
    result = backend.embed([f"text {i}" for i in range(5)], "nomic-embed-text")
    assert len(result.vectors) == 5 and result.usage.input_tokens == 10 and result.service == server.url
    assert [len(r.json["input"]) for r in server.requests if r.path == "/api/embed"] == [5]


def test_embed_rejects_unknown_options(backend: OllamaBackend) -> None:
    with pytest.raises(ConfigurationError, match="unknown embedding option"):
        backend.embed(["x"], "nomic-embed-text", batchsize=3)


def test_legacy_embeddings_fallback_is_remembered(settings: LocalSettings, server: FakeOllamaServer,
                                                  backend: OllamaBackend) -> None:
    modern = backend.embed(["a", "b"], "nomic-embed-text").vectors
    with FakeOllamaServer(models(), version="0.2.8") as old:
        legacy = OllamaBackend(old.url, Transport(settings), settings)
        result = legacy.embed(["a", "b"], "nomic-embed-text")
        assert legacy.legacy_embeddings and [r.path for r in old.requests] == ["/api/embed", "/api/embeddings",
                                                                               "/api/embeddings"]
        for got, want in zip(result.vectors, modern, strict=True):
            assert got == pytest.approx(want)  # the client normalises legacy vectors like /api/embed
        assert result.usage.input_tokens is None  # the legacy endpoint does not count tokens
        asyncio.run(legacy.aembed(["c"], "nomic-embed-text"))
        assert old.requests[-1].path == "/api/embeddings" and len(old.requests) == 4


# --- facts, version, load/unload ---------------------------------------------------------------
def _catalogued(backend: OllamaBackend) -> Catalogue:
    """A catalogue holding the backend's listing, answering the backend's load-state questions."""
    catalogue = Catalogue(LocalSettings(discover_defaults=False))
    catalogue.store(backend.base_url, backend.kind, None, backend.list_model_facts())
    backend.load_state = catalogue.load_state(backend.base_url)
    return catalogue


def test_list_model_facts(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    assert not backend.is_loaded("qwen3")  # no catalogue: load state unknown
    server.find("qwen3").loaded = True
    facts = {f["name"]: f for f in backend.list_model_facts()}
    assert [r.path for r in server.requests[:2]] == ["/api/tags", "/api/ps"]
    assert [r.json["model"] for r in server.requests[2:]] == list(server.models)  # fixed order
    assert facts["qwen3:latest"]["loaded"] and facts["qwen3:latest"]["loaded_context_length"] == 4096
    assert facts["llama3.2:latest"]["default_context_length"] == 8192
    assert facts["llama3.2:latest"]["capabilities"]["tools"] and not facts["gemma3:latest"]["capabilities"]["tools"]
    assert facts["nomic-embed-text:latest"]["model_type"] == "embeddings"
    count = len(server.requests)
    again = {f["name"]: f for f in asyncio.run(backend.alist_model_facts())}
    assert again == facts and len(server.requests) == count + 2  # /api/show cached by digest


def test_version(backend: OllamaBackend) -> None:
    assert backend.version() == "0.12.10" == asyncio.run(backend.aversion())


def test_load_and_unload(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    catalogue = _catalogued(backend)
    backend.load("gemma3", keep_alive="1h")
    assert chat_body(server) == {"model": "gemma3", "messages": [], "stream": False, "keep_alive": "1h"}
    assert server.find("gemma3").loaded and backend.is_loaded("gemma3") and backend.is_loaded("gemma3:latest")
    asyncio.run(backend.aunload("gemma3"))
    assert chat_body(server)["keep_alive"] == 0 and not server.find("gemma3").loaded
    assert not backend.is_loaded("gemma3")
    backend.unload("gemma3")
    asyncio.run(backend.aload("gemma3"))
    assert backend.is_loaded("gemma3") and catalogue.loaded_names(backend.base_url) == {"gemma3:latest"}


# --- timeouts --------------------------------------------------------------------------------
def test_loaded_models_get_the_normal_read_timeout(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.delay_first_byte(1.4, path="/api/chat")  # > read_timeout 1, < cold_load_timeout 2
    assert backend.chat(chat()).message.content == REPLY  # not known loaded: cold-load timeout
    _catalogued(backend)  # /api/ps now lists it: the catalogue knows it is resident
    server.delay_first_byte(1.4, path="/api/chat")
    t0 = time.monotonic()
    with pytest.raises(RequestTimeoutError) as info:
        backend.chat(chat())
    assert time.monotonic() - t0 < 1.9 and info.value.recovery is RecoveryStrategy.RETRY


def test_request_timeout_overrides_read(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    backend.load_state = known_loaded(backend.base_url, backend.kind, ["llama3.2:latest"])  # known resident
    server.delay_first_byte(0.6, path="/api/chat")
    with pytest.raises(RequestTimeoutError):
        backend.chat(chat(timeout=0.2))


def test_request_timeout_never_shortens_a_cold_load(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.delay_first_byte(0.6, path="/api/chat")  # not known resident: max(0.2, cold_load_timeout 2)
    assert backend.chat(chat(timeout=0.2)).message.content == REPLY


# --- faults: each -> typed error, then recovery ----------------------------------------------
def _both(backend: OllamaBackend, request: ChatRequest, sync: bool) -> ChatResult:
    return backend.chat(request) if sync else asyncio.run(backend.achat(request))


@pytest.mark.parametrize("sync", [True, False])
def test_refused_then_restarted(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.kill()
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as info:
        _both(backend, chat(), sync)
    assert time.monotonic() - t0 < 3
    assert "start Ollama with `ollama serve`" in str(info.value) and info.value.recovery is RecoveryStrategy.FALLBACK
    assert info.value.service == server.url and info.value.model == "llama3.2"
    server.restart()
    assert _both(backend, chat(), sync).message.content == REPLY


@pytest.mark.parametrize("sync", [True, False])
def test_unknown_model(backend: OllamaBackend, sync: bool) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        _both(backend, chat("mistral"), sync)
    assert "`ollama pull mistral`" in str(info.value) and info.value.status_code == 404
    assert info.value.recovery is RecoveryStrategy.PULL_MODEL


@pytest.mark.parametrize(("request_", "text"), [
    (chat("gemma3", tools=[WEATHER]), "does not support tools"),
    (chat("gemma3", think=True), "does not support thinking"),
    (chat("nomic-embed-text"), "does not support chat"),
])
def test_capability_errors(backend: OllamaBackend, request_: ChatRequest, text: str) -> None:
    with pytest.raises(CapabilityError, match=text) as info:
        backend.chat(request_)
    assert info.value.status_code == 400


@pytest.mark.parametrize("sync", [True, False])
def test_500_then_recovery(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.fail_next(500, "an error was encountered while running the model")
    with pytest.raises(ServerError) as info:
        _both(backend, chat(), sync)
    assert info.value.status_code == 500 and info.value.recovery is RecoveryStrategy.RETRY
    assert _both(backend, chat(), sync).message.content == REPLY


def test_busy_is_retried_within_the_bound(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    busy = "server busy, please try again.  maximum pending requests exceeded"
    server.fail_next(503, busy)
    assert backend.chat(chat()).message.content == REPLY  # max_retries=1
    server.fail_next(503, busy, times=2)
    before = len(server.requests)
    with pytest.raises(ServerError, match="busy"):
        backend.chat(chat())
    assert len(server.requests) - before == 2


def test_context_overflow_on_embed(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.fail_next(400, "the input length exceeds the context length", path="/api/embed")
    with pytest.raises(ContextOverflowError, match="reduce the input or raise num_ctx"):
        backend.embed(["long"], "nomic-embed-text", truncate=False)
    assert backend.embed(["short"], "nomic-embed-text").dimensions == 16


def test_unauthorized_is_configuration(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.fail_next(401, "unauthorized")
    with pytest.raises(ConfigurationError, match="api_key"):
        backend.chat(chat())


@pytest.mark.parametrize("sync", [True, False])
def test_malformed_json(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.malformed_json()
    with pytest.raises(InvalidResponseError):
        _both(backend, chat(), sync)
    assert _both(backend, chat(), sync).message.content == REPLY


@pytest.mark.parametrize("sync", [True, False])
def test_stream_cut_mid_reply(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.cut_stream(after=3)
    got: list[ChatChunk] = []

    async def consume() -> None:
        async for c in backend.astream_chat(chat()):
            got.append(c)

    with pytest.raises(LocalProviderError) as info:
        if sync:
            got.extend(backend.stream_chat(chat()))
        else:
            asyncio.run(consume())
    assert isinstance(info.value, ServiceUnavailableError | InvalidResponseError)
    assert "".join(c.content for c in got) == "The sky is "  # chunks before the cut arrived
    assert merge_chunks(stream(backend, chat())).message.content == REPLY


@pytest.mark.parametrize("sync", [True, False])
def test_stream_truncated_mid_line(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.truncate_stream(after=2)
    with pytest.raises(InvalidResponseError):
        stream(backend, chat()) if sync else asyncio.run(astream(backend, chat()))


@pytest.mark.parametrize("sync", [True, False])
def test_error_line_mid_stream(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.error_mid_stream(after=2)
    with pytest.raises(ServerError, match="an error was encountered while running the model") as info:
        stream(backend, chat()) if sync else asyncio.run(astream(backend, chat()))
    assert info.value.status_code is None and info.value.service == server.url
    server.error_mid_stream(after=1, text="input exceeds maximum context length and cannot be truncated further")
    with pytest.raises(ContextOverflowError):
        stream(backend, chat())


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
def test_load_reply_is_resent_once(backend: OllamaBackend, server: FakeOllamaServer, mode: str) -> None:
    def run() -> ChatResult:
        if mode == "chat":
            return backend.chat(chat())
        if mode == "achat":
            return asyncio.run(backend.achat(chat()))
        return merge_chunks(stream(backend, chat()) if mode == "stream" else asyncio.run(astream(backend, chat())))

    server.load_reply_next()
    assert run().message.content == REPLY and len(server.requests) == 2
    server.load_reply_next(2)
    with pytest.raises(ModelLoadedReply) as info:
        run()
    assert isinstance(info.value, ServerError) and info.value.recovery is RecoveryStrategy.RETRY
    assert run().message.content == REPLY


@pytest.mark.parametrize("sync", [True, False])
def test_cached_prompt_usage(backend: OllamaBackend, server: FakeOllamaServer, sync: bool) -> None:
    server.omit_prompt_eval_count(cached=12)
    usage = _both(backend, chat(), sync).usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.cached_input_tokens) == (
        None, 8, None, 12)
    server.omit_prompt_eval_count()
    assert stream(backend, chat())[-1].usage.input_tokens is None


def test_slow_first_byte_is_bounded(backend: OllamaBackend, server: FakeOllamaServer) -> None:
    server.delay_first_byte(5, path="/api/embed")
    t0 = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        backend.embed(["x"], "nomic-embed-text")
    assert time.monotonic() - t0 < 3  # cold-load timeout 2 s, then the error

"""Issue 18 item 4: ``num_ctx`` on LM Studio. A request whose context the loaded instance lacks loads
one instance with it (``POST /api/v1/models/load``) and names that instance; one that fits loads
nothing; concurrent requests load once; LM Studio without ``/api/v1`` and a refused load raise typed
errors. Sync, async and streamed, through the provider, the backend alone and both adapters."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage

from patinox_core.backends.lmstudio import LMStudioBackend
from patinox_core.config import LocalSettings
from patinox_core.errors import CapabilityError, InsufficientMemoryError
from patinox_core.fakes._http import Fault
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLMStudioServer, LMStudioModel
from patinox_core.types import ChatRequest, ChatResult, Message, merge_chunks
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox

CHAT = "qwen/qwen3-8b"
SECOND, THIRD = f"{CHAT}:2", f"{CHAT}:3"
FAST = {"connect_timeout": 1.0, "read_timeout": 5.0, "cold_load_timeout": 10.0, "max_retries": 0,
        "discover_defaults": False}
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def model(**kw: Any) -> LMStudioModel:
    return LMStudioModel(CHAT, tool_use=True, loaded_context_length=8192, max_context_length=32768,
                         tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], **kw)


def provider(srv: FakeLMStudioServer) -> LocalProvider:
    return LocalProvider(LocalSettings(**{**FAST, "lmstudio_url": srv.url}))


def request(num_ctx: int | None, **kw: Any) -> ChatRequest:
    return ChatRequest(model=CHAT, messages=[Message("user", "hi")], num_ctx=num_ctx, **kw)


def loads(srv: FakeLMStudioServer) -> list[Any]:
    return [body.get("context_length") for body in srv.admin.loads]


# -- the four ways to send one request, each returning the complete reply -----------------------------
def _sync(p: LocalProvider, r: ChatRequest) -> ChatResult:
    return p.chat(r)


def _async(p: LocalProvider, r: ChatRequest) -> ChatResult:
    return asyncio.run(p.achat(r))


def _stream(p: LocalProvider, r: ChatRequest) -> ChatResult:
    return merge_chunks(list(p.stream_chat(r)))


def _astream(p: LocalProvider, r: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        return merge_chunks([c async for c in p.astream_chat(r)])
    return asyncio.run(run())


MODES: dict[str, Callable[[LocalProvider, ChatRequest], ChatResult]] = {
    "sync": _sync, "async": _async, "stream": _stream, "astream": _astream}

# (model setup, num_ctx of two requests in a row, contexts loaded, (instance, context) serving each request)
CASES = {
    "no num_ctx": ({}, (None, None), [], [(CHAT, 8192), (CHAT, 8192)]),
    "fits the loaded instance": ({}, (4096, 8192), [], [(CHAT, 8192), (CHAT, 8192)]),
    "larger: one load, then that instance": ({}, (16384, 16384), [16384], [(SECOND, 16384), (SECOND, 16384)]),
    "smaller after larger: the first instance": ({}, (16384, 2048), [16384], [(SECOND, 16384), (CHAT, 8192)]),
    "larger again: one more load": ({}, (16384, 32768), [16384, 32768], [(SECOND, 16384), (THIRD, 32768)]),
    "several loaded: the smallest that fits": ({"added": [(SECOND, 32768), (THIRD, 16384)]}, (12000, 20000), [],
                                               [(THIRD, 16384), (SECOND, 32768)]),
    "over the trained maximum: capped, loaded once": ({}, (65536, 65536), [32768], [(SECOND, 32768), (SECOND, 32768)]),
    "not loaded: the first instance gets it": ({"loaded": False}, (16384, 12000), [16384],
                                               [(CHAT, 16384), (CHAT, 16384)]),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(CASES))
def test_num_ctx_names_an_instance_that_fits_loading_one_only_when_none_does(case: str, mode: str) -> None:
    setup, contexts, loaded, served = CASES[case]
    send = MODES[mode]
    with FakeLMStudioServer([model(**setup)]) as srv, provider(srv) as p:
        first = send(p, request(contexts[0]))
        second = send(p, request(contexts[1]))
        assert loads(srv) == loaded
        assert srv.served == served
        assert first.message.content == "Hello from LM Studio."
        assert first.metrics.load_duration_s == (1.25 if loaded else None)  # the fake's load_time_seconds
        assert second.metrics.load_duration_s == (1.25 if len(loaded) == 2 else None)
        if "not loaded" in case:
            assert p.get_model(CHAT).loaded_context_length == 16384  # the key's own instance got it
        else:
            assert p.get_model(CHAT).loaded_context_length == 8192  # what a request naming the key reaches


def test_the_load_goes_through_the_load_endpoint_with_the_context() -> None:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        p.chat(request(16384))
    load = next(r for r in srv.requests if r.path == "/api/v1/models/load")
    assert load.json == {"model": CHAT, "echo_load_config": True, "context_length": 16384}
    chat = [r for r in srv.requests if r.path == "/api/v0/chat/completions"]
    assert [r.json["model"] for r in chat] == [SECOND] and "num_ctx" not in chat[0].json


def test_every_conversation_shape_reaches_the_instance() -> None:
    """Multi-turn with an assistant turn and a tool result, and a request binding tools."""
    turns = [Message("user", "weather in Paris?"), Message("assistant", "Let me look."),
             Message("user", "go on")]
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        reply = p.chat(ChatRequest(model=CHAT, messages=turns, tools=[WEATHER], num_ctx=16384))
        assert reply.finish_reason == "tool_calls" and reply.message.tool_calls[0].arguments == {"city": "Paris"}
        streamed = merge_chunks(list(p.stream_chat(ChatRequest(model=CHAT, messages=turns, tools=[WEATHER],
                                                               num_ctx=16384))))
        assert streamed.message.tool_calls[0].name == "get_weather"
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384)] * 2
    sent = [r.json for r in srv.requests if r.path.endswith("/chat/completions")]
    assert all(body["tools"] and [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
               for body in sent)


def test_concurrent_requests_load_once_sync() -> None:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        p.list_models()
        srv.inject(Fault(path="/api/v1/models/load", delay=0.3))
        errors: list[Exception] = []

        def chat() -> None:
            try:
                p.chat(request(16384))
            except Exception as err:  # collected, asserted below
                errors.append(err)
        threads = [threading.Thread(target=chat) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and loads(srv) == [16384]
    assert srv.served == [(SECOND, 16384)] * 5


def test_concurrent_requests_load_once_async() -> None:
    async def run(p: LocalProvider) -> list[ChatResult]:
        return list(await asyncio.gather(*(p.achat(request(16384)) for _ in range(5))))
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        p.list_models()
        srv.inject(Fault(path="/api/v1/models/load", delay=0.3))
        results = asyncio.run(run(p))
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384)] * 5
    assert sum(r.metrics.load_duration_s is not None for r in results) == 1  # the request that loaded


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("rest_api", [("v0",), ()], ids=["0.3 (v0 only)", "before 0.3.6"])
def test_without_the_v1_api_a_context_that_does_not_fit_is_a_typed_error(rest_api: tuple[str, ...],
                                                                         mode: str) -> None:
    with FakeLMStudioServer([model()], rest_api=rest_api) as srv, provider(srv) as p:
        with pytest.raises(CapabilityError) as info:
            MODES[mode](p, request(16384))
        assert "0.4" in info.value.message and "num_ctx=16384" in info.value.message
        assert f"lms load {CHAT} --context-length 16384" in info.value.hint
        if rest_api:  # /api/v0/models says the allocation: a context that fits goes through
            assert MODES[mode](p, request(8192)).message.content
            assert "8192 tokens allocated" in info.value.message
    assert not srv.admin.loads


@pytest.mark.parametrize("mode", list(MODES))
def test_a_refused_load_is_insufficient_memory_and_the_next_request_tries_again(mode: str) -> None:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        srv.admin.memory_limit = 1_000_000_000
        with pytest.raises(InsufficientMemoryError) as info:
            MODES[mode](p, request(16384))
        assert "insufficient system resources" in info.value.message
        srv.admin.memory_limit = None
        assert MODES[mode](p, request(16384)).message.content
    assert loads(srv) == [16384, 16384] and srv.served == [(SECOND, 16384)]


def test_an_instance_unloaded_elsewhere_is_loaded_again() -> None:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        p.chat(request(16384))
        srv.models[CHAT].added.clear()  # unloaded in the LM Studio app
        assert p.chat(request(16384)).message.content
        assert asyncio.run(p.achat(request(16384))).message.content
    assert loads(srv) == [16384, 16384] and srv.served == [(SECOND, 16384)] * 3


def test_the_backend_alone_lists_first() -> None:
    with FakeLMStudioServer([model()]) as srv:
        backend = LMStudioBackend(srv.url)
        assert backend.chat(request(16384)).metrics.load_duration_s == 1.25
        assert backend.chat(request(4096)).metrics.load_duration_s is None
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384), (CHAT, 8192)]
    assert [r.path for r in srv.requests][:1] == ["/api/v1/models"]


def test_preload_with_num_ctx_then_requests_load_nothing_more() -> None:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        p.load(CHAT, context=16384)
        p.chat(request(16384))
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384)]


# -- the adapters pass num_ctx through ---------------------------------------------------------------------
@pytest.fixture
def served() -> Iterator[tuple[FakeLMStudioServer, LocalProvider]]:
    with FakeLMStudioServer([model()]) as srv, provider(srv) as p:
        yield srv, p


def test_chatpatinox_num_ctx_every_path(served: tuple[FakeLMStudioServer, LocalProvider]) -> None:
    srv, p = served
    lc = ChatPatinox(model=CHAT, client=p, num_ctx=16384)
    meta = lc.invoke("hi").response_metadata
    assert meta["load_duration_s"] == 1.25 and meta["tokens_per_second"] == 42.5
    assert meta["time_to_first_token_s"] == 0.073
    assert list(lc.stream("hi"))[-1].response_metadata.get("load_duration_s") is None  # loaded already
    assert asyncio.run(lc.ainvoke("hi")).content
    history = [HumanMessage("weather in Paris?"),
               AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]),
               ToolMessage("sunny", tool_call_id="c1"), HumanMessage("and now?")]
    tooled = lc.bind_tools([WEATHER]).invoke(history)
    assert isinstance(tooled, AIMessage) and tooled.tool_calls[0]["name"] == "get_weather"
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384)] * 4


def test_llamaindex_num_ctx_every_path(served: tuple[FakeLMStudioServer, LocalProvider]) -> None:
    srv, p = served
    li = Patinox(model=CHAT, local_provider=p, num_ctx=16384)
    reply = li.chat([ChatMessage(role="user", content="hi")])
    assert reply.additional_kwargs["load_duration_s"] == 1.25 and reply.additional_kwargs["tokens_per_second"] == 42.5
    assert list(li.stream_chat([ChatMessage(role="user", content="hi")]))[-1].message.content

    async def run() -> str:
        chunks = [c async for c in await li.astream_chat([ChatMessage(role="user", content="hi"),
                                                            ChatMessage(role="assistant", content="Hello."),
                                                            ChatMessage(role="user", content="again")])]
        return str(chunks[-1].message.content)
    assert asyncio.run(run())
    assert loads(srv) == [16384] and srv.served == [(SECOND, 16384)] * 3

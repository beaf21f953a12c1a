"""One test per defect the anchor packages show in llama-index-llms-ollama / -lmstudio:
each shows ``Patinox`` doing the right thing."""

from __future__ import annotations

import asyncio
import time

import pytest
from llama_index.core.llms.custom import CustomLLM

from patinox_core.config import LocalSettings
from patinox_core.errors import RequestTimeoutError
from patinox_core.testing import FakeOllamaServer, Fault, OllamaModel
from patinox_llamaindex import Patinox

from .conftest import Server
from .test_li_contract import HI, TOOL


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- network I/O in `metadata`


def test_metadata_never_touches_the_network() -> None:
    """LI-Ollama's `metadata` calls /api/show and raises ConnectionError when the server is down."""
    llm = Patinox(model="llama3.2", base_url=f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    t0 = time.perf_counter()
    meta = llm.metadata
    assert time.perf_counter() - t0 < 0.05
    assert (meta.context_window, meta.model_name, meta.is_chat_model) == (3900, "llama3.2", True)
    assert llm._rt.local is None  # not even a provider was created


def test_metadata_after_resolution_is_read_from_memory(ollama: Server) -> None:
    llm = ollama.llm()
    assert llm.metadata.context_window == 3900 and ollama.fake.requests == []
    llm.resolve()  # the one explicit lookup
    before = len(ollama.fake.requests)
    for _ in range(20):
        meta = llm.metadata
    assert len(ollama.fake.requests) == before
    assert (meta.context_window, meta.is_function_calling_model) == (4096, True)


async def test_metadata_resolves_lazily_at_the_first_request(ollama: Server) -> None:
    llm = ollama.llm(model="qwen3")
    assert llm.model_info is None
    await llm.achat(HI)
    assert llm.model_info is not None and llm.model_info.name == "qwen3:latest"
    assert llm.metadata.context_window == 8192  # allocated context of the loaded model


def test_capability_flags_come_from_the_catalogue(ollama: Server) -> None:
    vision = ollama.llm(model="llava")
    vision.resolve()
    assert vision.metadata.is_function_calling_model is False  # LI-Ollama hard-codes True
    assert ollama.llm(model="llava", is_function_calling_model=True).metadata.is_function_calling_model


# --------------------------------------------------------------------------- num_ctx forced to the trained maximum


def test_num_ctx_is_never_forced(server: Server) -> None:
    """LI-Ollama sends num_ctx = /api/show's trained maximum (131072 here) on every request."""
    llm = server.llm()
    llm.chat(HI)
    body = server.chats()[-1]
    assert "num_ctx" not in str(body) and "options" not in body  # no options at all when nothing was set
    assert llm.metadata.context_window < (llm.model_info.context_length or 0)


def test_num_ctx_is_sent_only_when_asked(ollama: Server) -> None:
    llm = ollama.llm(num_ctx=8192)
    llm.chat(HI)
    assert ollama.chats()[-1]["options"]["num_ctx"] == 8192
    assert llm.metadata.context_window == 8192


# --------------------------------------------------------------------------- tool id = tool name


@pytest.mark.parametrize("version", ["0.12.10", "0.9.0"])  # 0.9.0 sends no tool-call ids at all
def test_two_calls_to_one_tool_get_distinct_ids(version: str) -> None:
    calls = [{"name": "multiply", "arguments": {"a": 2, "b": 3}}, {"name": "multiply", "arguments": {"a": 4, "b": 5}}]
    model = OllamaModel("llama3.2", capabilities=["completion", "tools"], tool_calls=calls)
    with FakeOllamaServer([model], version=version) as fake:
        llm = Patinox(model="llama3.2", base_url=fake.url)
        resp = llm.chat_with_tools([TOOL], user_msg="2*3 and 4*5?", allow_parallel_tool_calls=True)
        sels = llm.get_tool_calls_from_response(resp)
        again = llm.get_tool_calls_from_response(llm.chat_with_tools([TOOL], user_msg="2*3 and 4*5?",
                                                                      allow_parallel_tool_calls=True))
    ids = [s.tool_id for s in sels]
    assert len(set(ids)) == 2 and "multiply" not in ids
    assert ids == [s.tool_id for s in again]  # deterministic: a recorded conversation replays
    assert [s.tool_kwargs for s in sels] == [{"a": 2, "b": 3}, {"a": 4, "b": 5}]


def test_parallel_calls_run_and_single_call_mode_keeps_the_first() -> None:
    calls = [{"name": "multiply", "arguments": {"a": 2, "b": 3}}, {"name": "multiply", "arguments": {"a": 4, "b": 5}}]
    model = OllamaModel("llama3.2", capabilities=["completion", "tools"], tool_calls=calls)
    with FakeOllamaServer([model]) as fake:
        llm = Patinox(model="llama3.2", base_url=fake.url)
        both = llm.predict_and_call([TOOL], user_msg="?", allow_parallel_tool_calls=True)
        one = llm.chat_with_tools([TOOL], user_msg="?")
    assert [s.raw_output for s in both.sources] == [6, 20]
    assert len(llm.get_tool_calls_from_response(one)) == 1


# --------------------------------------------------------------------------- `think` not overridable per call


@pytest.mark.parametrize("key", ["think", "thinking", "reasoning"])
async def test_per_call_think_false_beats_thinking_true(ollama: Server, key: str) -> None:
    """LI-Ollama: `kwargs.pop("think", None) or self.thinking` turns think=False back into True."""
    llm = ollama.llm(model="qwen3", thinking=True)
    llm.chat(HI, **{key: False})
    list(llm.stream_chat(HI, **{key: False}))
    await llm.achat(HI, **{key: False})
    [r async for r in await llm.astream_chat(HI, **{key: False})]
    assert [b["think"] for b in ollama.chats()] == [False] * 4
    resp = llm.chat(HI)
    assert ollama.chats()[-1]["think"] is True and resp.message.blocks[0].content == "Let me think."


# --------------------------------------------------------------------------- sync-wrapped async streaming


def test_async_streaming_is_native() -> None:
    """LI-LMStudio inherits CustomLLM.astream_chat, which runs the sync generator in the loop."""
    assert Patinox.astream_chat is not CustomLLM.astream_chat
    assert Patinox.astream_complete is not CustomLLM.astream_complete


async def test_async_stream_never_calls_the_sync_path(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = server.llm()

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("sync stream_chat used from astream_chat")

    monkeypatch.setattr(type(llm.local_provider), "stream_chat", forbidden)
    monkeypatch.setattr(type(llm.local_provider), "chat", forbidden)
    assert [r.delta async for r in await llm.astream_chat(HI)]
    assert [r.text async for r in await llm.astream_complete("hi")]


async def test_async_stream_keeps_the_event_loop_free(ollama: Server) -> None:
    llm = ollama.llm()
    await llm.achat(HI)  # discovery and catalogue done
    ollama.fake.set_stream_chunking(words=1, delay=0.05)  # ~7 words: ~0.35 s of streaming
    ticks = 0
    streaming = True

    async def ticker() -> None:
        nonlocal ticks
        while streaming:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    parts = [r async for r in await llm.astream_chat(HI)]
    streaming = False
    await task
    assert len(parts) > 5
    assert ticks >= 10  # a sync generator wrapped in async would starve the ticker


# --------------------------------------------------------------------------- 30 s default timeout on cold loads


def test_default_timeouts_allow_a_cold_load() -> None:
    """LI-Ollama / LI-LMStudio: request_timeout=30 s for everything, model load included."""
    llm = Patinox(model="m", base_url="http://127.0.0.1:9")
    settings = llm.local_provider.settings
    assert settings.cold_load_timeout >= 600 and settings.read_timeout >= 120
    short = Patinox(model="m", base_url="http://127.0.0.1:9", timeout=30).local_provider.settings
    assert (short.read_timeout, short.cold_load_timeout) == (30, 600)


def test_short_timeout_applies_to_loaded_models_only(ollama: Server) -> None:
    llm = ollama.llm(model="llava", timeout=0.3, max_retries=0)  # llava is not loaded: a cold load
    llm.resolve()
    ollama.fake.inject(Fault(path="/api/chat", delay=0.8))
    assert llm.chat(HI).message.content == "A small test image."  # 0.8 s > 0.3 s, but a cold load may take it
    warm = ollama.llm(timeout=0.3, max_retries=0)  # llama3.2 is loaded: the 0.3 s read timeout holds
    warm.resolve()
    ollama.fake.inject(Fault(path="/api/chat", delay=0.8))
    with pytest.raises(RequestTimeoutError):
        warm.chat(HI)


def test_explicit_settings_are_honoured(ollama: Server) -> None:
    settings = LocalSettings(endpoints=[ollama.url], discover_defaults=False, read_timeout=0.2,
                             cold_load_timeout=3.0, max_retries=0)
    llm = Patinox(model="llava", settings=settings)
    ollama.fake.inject(Fault(path="/api/chat", delay=0.5))
    assert llm.chat(HI).message.content

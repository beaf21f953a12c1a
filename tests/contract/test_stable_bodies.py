"""Two identical conversations produce byte-identical request bodies (prefix-cache-aware routers
and the servers' own prompt caches match on the prompt): system prompt and tools first, tools in
the order given, keys in a fixed order, tool-call ids derived from content. Checked on the bytes
the fake servers received, through the core and through the LangChain adapter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message, ToolCall
from patinox_core.testing import FakeLlamaServer, FakeOllamaServer
from patinox_langchain import ChatPatinox

MODEL = "gemma-3-4b-it"
CHAT_PATHS = ("/v1/chat/completions", "/api/chat")


def _tools() -> list[dict[str, Any]]:
    """Two tools, deliberately not in alphabetical order, with nested schemas."""
    return [
        {"type": "function", "function": {"name": "zeta_search", "description": "Search the web.", "parameters": {
            "type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1},
                                             "filters": {"type": "object", "properties": {
                                                 "site": {"type": "string"}, "after": {"type": "string"}}}},
            "required": ["query"]}}},
        {"type": "function", "function": {"name": "alpha_calc", "description": "Add numbers.", "parameters": {
            "type": "object", "properties": {"b": {"type": "number"}, "a": {"type": "number"}},
            "required": ["b", "a"]}}},
    ]


def _conversation(model: str, **extra: Any) -> ChatRequest:
    """A fresh, fully rebuilt copy of the same four-turn conversation each call."""
    return ChatRequest(model=model, tools=_tools(), tool_choice="auto", temperature=0.2, seed=7, messages=[
        Message(role="system", content="You are terse."),
        Message(role="user", content="What is 2 + 3? Then search for 'rust'."),
        Message(role="assistant", tool_calls=[ToolCall(id="call_1", name="alpha_calc", arguments={"b": 3, "a": 2})]),
        Message(role="tool", content="5", name="alpha_calc"),
        Message(role="user", content="Now search."),
    ], options={"repeat_penalty": 1.1, "mirostat": 0}, **extra)


def _bodies(server: Any) -> list[bytes]:
    return [r.body for r in server.requests if r.path in CHAT_PATHS]


@pytest.fixture
def llama() -> Iterator[FakeLlamaServer]:
    with FakeLlamaServer(MODEL, slots=4, service_s=0.0) as server:
        yield server


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        yield server


def _provider(url: str, kind: str | None = None) -> LocalProvider:
    endpoint = {"url": url, **({"kind": kind} if kind else {})}
    return LocalProvider(LocalSettings(endpoints=[endpoint], discover_defaults=False, max_retries=0))


def _send_each_way(provider: LocalProvider, model: str) -> None:
    """The conversation rebuilt and sent: chat twice, achat, stream twice, astream."""
    provider.chat(_conversation(model))
    provider.chat(_conversation(model))
    list(provider.stream_chat(_conversation(model)))
    list(provider.stream_chat(_conversation(model)))

    async def run_async() -> None:
        await provider.achat(_conversation(model))
        async for _ in provider.astream_chat(_conversation(model)):
            pass

    asyncio.run(run_async())


def _check(bodies: list[bytes], tool_names: list[str]) -> None:
    plain, plain2, stream, stream2, aplain, astream = bodies
    assert plain == plain2 == aplain, "the same conversation must be sent as the same bytes"
    assert stream == stream2 == astream
    assert plain != stream  # one says "stream": false, the other true: the check can tell bodies apart
    body = json.loads(plain)
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert [t["function"]["name"] for t in body["tools"]] == tool_names == ["zeta_search", "alpha_calc"]
    assert list(body["tools"][0]["function"]["parameters"]["properties"]) == ["query", "limit", "filters"]


@pytest.mark.timeout(60)
def test_openai_compatible_bodies_are_byte_identical(llama: FakeLlamaServer) -> None:
    with _provider(llama.url) as provider:
        _send_each_way(provider, MODEL)
    bodies = _bodies(llama)
    assert len(bodies) == 6
    _check(bodies, ["zeta_search", "alpha_calc"])
    messages = json.loads(bodies[0])["messages"]  # the tool result points at its call
    assert messages[2]["tool_calls"][0]["id"] == messages[3]["tool_call_id"] == "call_1"


@pytest.mark.timeout(60)
def test_ollama_bodies_are_byte_identical(ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url, "ollama") as provider:
        _send_each_way(provider, "llama3.2")
    bodies = _bodies(ollama)
    assert len(bodies) == 6
    _check(bodies, ["zeta_search", "alpha_calc"])


class ZetaSearch(BaseModel):
    """Search the web."""

    query: str
    limit: int = Field(default=5, ge=1)


class AlphaCalc(BaseModel):
    """Add two numbers."""

    b: float
    a: float


def _lc_history(call_id: str) -> list[Any]:
    """One conversation; ``call_id`` stands for the random id another client gave the tool call."""
    return [SystemMessage("You are terse."), HumanMessage("What is 2 + 3?"),
            AIMessage("", tool_calls=[{"name": "AlphaCalc", "args": {"b": 3, "a": 2}, "id": call_id}]),
            ToolMessage("5", tool_call_id=call_id), HumanMessage("Now search.")]


@pytest.mark.timeout(60)
def test_two_langchain_conversations_send_the_same_bytes(llama: FakeLlamaServer) -> None:
    with _provider(llama.url) as provider:
        for call_id in ("call_8f2a", "call_03bd"):  # two runs of one agent: uuid-style ids differ
            model = ChatPatinox(model=MODEL, client=provider, temperature=0).bind_tools([ZetaSearch, AlphaCalc])
            model.invoke(_lc_history(call_id))
    first, second = _bodies(llama)
    assert first == second
    body = json.loads(first)
    assert [t["function"]["name"] for t in body["tools"]] == ["ZetaSearch", "AlphaCalc"]
    assert body["messages"][2]["tool_calls"][0]["id"] not in ("call_8f2a", "call_03bd")

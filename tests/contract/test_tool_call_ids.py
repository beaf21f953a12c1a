"""Tool calls without an id go to OpenAI-compatible servers with a string id, never ``null`` (vLLM and
strict proxies reject a null id), and the tool results that answer them carry the same id. Checked
on the bodies the fake OpenAI-compatible server received."""

from __future__ import annotations

from typing import Any

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message, ToolCall
from patinox_core.fakes.openai_compat import FakeOpenAIServer, OpenAIModel
from patinox_core.types import InvalidToolCall

MODEL = "qwen3-8b"


def _conversation() -> ChatRequest:
    """Two calls of one tool and a broken call, all without ids; results without ``tool_call_id``."""
    calls = [ToolCall(None, "add", {"a": 1, "b": 2}), ToolCall(None, "add", {"a": 3, "b": 4})]  # type: ignore[arg-type]
    broken = [InvalidToolCall(None, "search", '{"q": "ru', "cut off")]  # type: ignore[arg-type]
    return ChatRequest(model=MODEL, messages=[
        Message("user", "Add 1+2 and 3+4, then search."),
        Message("assistant", tool_calls=calls, invalid_tool_calls=broken),
        Message("tool", "3", name="add"),
        Message("tool", "7", name="add"),
        Message("tool", "bad arguments"),  # no name either: the call left unanswered
        Message("user", "Thanks."),
    ])


def _sent(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path == "/v1/chat/completions"]


def test_calls_without_ids_are_sent_with_string_ids_their_results_point_at() -> None:
    with FakeOpenAIServer([OpenAIModel(MODEL)]) as server, LocalProvider(LocalSettings(
            endpoints=[{"url": server.url, "kind": "openai_compatible"}], discover_defaults=False,
            max_retries=0)) as provider:
        provider.chat(_conversation())
        list(provider.stream_chat(_conversation()))
        first, streamed = _sent(server)
    ids = [c["id"] for c in first["messages"][1]["tool_calls"]]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 3
    assert [m.get("tool_call_id") for m in first["messages"][2:5]] == ids
    assert "tool_call_id" not in first["messages"][5]
    assert streamed["messages"] == first["messages"]  # derived from the conversation: the same each time


def test_given_ids_are_kept_and_a_result_answers_the_unanswered_call_of_its_name() -> None:
    calls = [ToolCall("c-1", "add", {"a": 1}), ToolCall(None, "add", {"a": 2})]  # type: ignore[arg-type]
    request = ChatRequest(model=MODEL, messages=[
        Message("user", "Add."), Message("assistant", tool_calls=calls),
        Message("tool", "1", tool_call_id="c-1"), Message("tool", "2", name="add")])
    with FakeOpenAIServer([OpenAIModel(MODEL)]) as server, LocalProvider(LocalSettings(
            endpoints=[{"url": server.url, "kind": "openai_compatible"}], discover_defaults=False,
            max_retries=0)) as provider:
        provider.chat(request)
        (body,) = _sent(server)
    first, second = (c["id"] for c in body["messages"][1]["tool_calls"])
    assert first == "c-1" and isinstance(second, str) and second != first
    assert [m["tool_call_id"] for m in body["messages"][2:]] == ["c-1", second]

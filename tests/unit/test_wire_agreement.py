"""Issue 16 item 5: the native (Ollama) and OpenAI-compatible reply parsers share one tool-call
parser and one ``<think>`` splitter, so the same model output reads the same on every server."""

from __future__ import annotations

from typing import Any

import pytest

from patinox_core.backends import _openai_wire as openai_wire
from patinox_core.backends import ollama_wire
from patinox_core.types import ChatResult


def _ollama(content: str, calls: list[dict[str, Any]] | None = None) -> ChatResult:
    message = {"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})}
    return ollama_wire.from_wire({"model": "m", "message": message, "done": True, "done_reason": "stop"})


def _openai(content: str, calls: list[dict[str, Any]] | None = None) -> ChatResult:
    message = {"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})}
    return openai_wire.from_wire({"model": "m", "choices": [{"index": 0, "message": message,
                                                             "finish_reason": "tool_calls" if calls else "stop"}]})


FAULTS = [
    pytest.param([{"function": {"name": "f", "arguments": "{bad"}}], id="malformed-arguments"),
    pytest.param([{"function": {"name": "f", "arguments": "[1, 2]"}}], id="arguments-not-an-object"),
    pytest.param([{"name": "f", "arguments": "{bad"}], id="no-function-envelope"),
    pytest.param([{"function": {"name": 5, "arguments": {}}}], id="name-not-a-string"),
    pytest.param([{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}},
                  {"function": {"name": "g", "arguments": "{"}}], id="one-good-one-bad"),
]


@pytest.mark.parametrize("calls", FAULTS)
def test_one_tool_call_fault_reads_the_same_on_both_wires(calls: list[dict[str, Any]]) -> None:
    native, openai = _ollama("", calls).message, _openai("", calls).message
    assert (native.tool_calls, native.invalid_tool_calls) == (openai.tool_calls, openai.invalid_tool_calls)
    assert all(isinstance(c.name, str) and c.name for c in (*native.tool_calls, *native.invalid_tool_calls))


@pytest.mark.parametrize("content", ["<think>plan</think>\n\nParis.", "<think>still thinking", "1 < 2",
                                     "Answer <thi", "a<think>b</think>c<think>d</think>  e"])
def test_inline_think_splits_the_same_on_both_wires(content: str) -> None:
    native, openai = _ollama(content).message, _openai(content).message
    assert (native.content, native.thinking) == (openai.content, openai.thinking)


def test_one_implementation_each() -> None:
    assert ollama_wire.tool_calls_from_wire is openai_wire.tool_calls_from_wire
    assert not hasattr(openai_wire, "ThinkTagSplitter")

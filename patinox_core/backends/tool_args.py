"""Tool-call arguments as the server sent them, to a ``ToolCall`` or, when unreadable, an ``InvalidToolCall``.

LangChain's contract (``AIMessage.invalid_tool_calls``, ``make_invalid_tool_call``) and ChatOpenAI on
the same server: arguments that are not a JSON object are data, not an exception. The error text
names the cause: a reply that stopped for length (``finish_reason="length"``) was cut off by
``max_tokens``; otherwise the model wrote malformed JSON. Pure; shared by every backend's reply and
stream conversion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..json_codec import loads
from ..types import InvalidToolCall, ToolCall
from .base import tool_call_id
from .malformed import as_mapping, optional_list, text_or_none

TRUNCATED_HINT = "the reply was cut off by max_tokens before the arguments were complete; raise max_tokens"
MALFORMED_HINT = "the model wrote malformed arguments; retry, or use a model trained for tool calling"


def canonical_json(value: Any) -> str:
    """Stable JSON for hashing: sorted keys, no spaces.

    >>> canonical_json({"b": 1, "a": [1, "é"]})
    '{"a":[1,"é"],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def invalid_call_error(name: str, text: str, *, truncated: bool) -> str:
    """The ``error`` of an ``InvalidToolCall``: what is wrong and what to do.

    >>> invalid_call_error("get_weather", '{ "city":', truncated=True)
    'arguments of tool call \\'get_weather\\' are not a JSON object: \\'{ "city":\\'; the reply was cut off by ...'
    """
    reason = TRUNCATED_HINT if truncated else MALFORMED_HINT
    return f"arguments of tool call {name!r} are not a JSON object: {text[:80]!r}; " + (
        "the reply was cut off by ..." if truncated and len(reason) > 200 else reason)


def parse_tool_call(raw_args: Any, name: str, index: int, *, call_id: str | None = None,
                    truncated: bool = False) -> ToolCall | InvalidToolCall:
    """One call: a dict (or JSON-object text) becomes a ``ToolCall``; anything else an ``InvalidToolCall``
    carrying the raw text. The server's id is kept, else one is derived (name, arguments, position).

    >>> parse_tool_call('{"city": "Paris"}', "get_weather", 0)
    ToolCall(id='call_d88a5dba120dfb68', name='get_weather', arguments={'city': 'Paris'})
    >>> bad = parse_tool_call('{ "city":', "get_weather", 0, truncated=True)
    >>> type(bad).__name__, bad.arguments, "raise max_tokens" in bad.error
    ('InvalidToolCall', '{ "city":', True)
    >>> parse_tool_call("", "now", 0).arguments, parse_tool_call(None, "now", 0).arguments
    ({}, {})
    """
    if isinstance(raw_args, Mapping):
        args: Any = dict(raw_args)
        text = ""
    else:
        text = raw_args if isinstance(raw_args, str) else ("" if raw_args is None else _text(raw_args))
        if not text.strip():
            args = {}
        else:
            try:
                args = loads(text)  # orjson: depth-limited, 100,000 nested '[' is a ValueError, not a RecursionError
            except (ValueError, RecursionError):
                args = None
    try:  # arguments nested deeper than the stdlib encoder recurses are not a usable call either
        return ToolCall(call_id or tool_call_id(name, canonical_json(args), index), name, args) if isinstance(
            args, dict) else _invalid(name, text, index, call_id, truncated)
    except RecursionError:
        return _invalid(name, text, index, call_id, truncated)


def _text(raw_args: Any) -> str:
    try:
        return json.dumps(raw_args)
    except RecursionError:
        return ""


def _invalid(name: str, text: str, index: int, call_id: str | None, truncated: bool) -> InvalidToolCall:
    return InvalidToolCall(call_id or tool_call_id(name, text, index), name, text,
                           invalid_call_error(name, text, truncated=truncated))


def tool_calls_from_wire(raw: Any, start: int = 0, *, truncated: bool = False
                        ) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """A reply's tool calls, Ollama's or OpenAI's shape (valid, invalid): arguments that are not a JSON
    object become an ``InvalidToolCall`` (``truncated``: the reply stopped for length). The server's id
    when present, else one derived from position (``start`` + offset), name and arguments. A list that
    is not a list of objects is a ``MalformedReply``.

    >>> tool_calls_from_wire([{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}])
    ([ToolCall(id='call_d88a5dba120dfb68', name='get_weather', arguments={'city': 'Paris'})], [])
    >>> ok, bad = tool_calls_from_wire([{"id": "c1", "function": {"name": "f", "arguments": '{ "city":'}}],
    ...                                truncated=True)
    >>> ok, bad[0].id, bad[0].arguments
    ([], 'c1', '{ "city":')
    """
    if not raw:  # most replies: no calls
        return [], []
    parsed = []
    for offset, item in enumerate(optional_list(raw, "tool_calls")):
        tc = as_mapping(item, "a tool call")
        fn = as_mapping(tc.get("function") or tc, "a tool call's function")
        parsed.append(parse_tool_call(fn.get("arguments"), str(fn.get("name") or ""), start + offset,
                                      call_id=text_or_none(tc.get("id")), truncated=truncated))
    return split_calls(parsed)


def split_calls(parsed: list[ToolCall | InvalidToolCall]) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Valid and invalid calls apart, order kept within each.

    >>> ok, bad = split_calls([parse_tool_call("{}", "a", 0), parse_tool_call("{", "b", 1)])
    >>> [c.name for c in ok], [c.name for c in bad]
    (['a'], ['b'])
    """
    valid = [c for c in parsed if isinstance(c, ToolCall)]
    invalid = [c for c in parsed if isinstance(c, InvalidToolCall)]
    return valid, invalid


__all__ = ["MALFORMED_HINT", "TRUNCATED_HINT", "canonical_json", "invalid_call_error", "parse_tool_call",
           "split_calls", "tool_calls_from_wire"]

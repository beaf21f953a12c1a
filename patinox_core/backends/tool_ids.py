"""Tool-call ids on the way out: every call sent gets a string id, every tool result the id of the call
it answers. Strict OpenAI-compatible servers (vLLM, proxies) reject ``"id": null``."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Message
from .base import tool_call_id
from .tool_args import canonical_json


def wire_tool_ids(messages: Sequence[Message]) -> list[tuple[list[str], str | None]]:
    """Per message: the ids of its calls (valid ones, then invalid ones) and, for a tool result, the id
    of the call it answers (``None`` when nothing matches).

    A call without an id gets ``tool_call_id(name, arguments, position in the conversation)``, so
    identical conversations stay byte-identical. A result without ``tool_call_id`` answers the first
    unanswered call of the latest assistant turn with its ``name`` (any call when it has no name),
    else the latest call of that name.

    >>> from ..types import ToolCall
    >>> ids = wire_tool_ids([Message("assistant", tool_calls=[ToolCall(None, "f", {}), ToolCall(None, "f", {})]),
    ...                      Message("tool", "1", name="f"), Message("tool", "2")])
    >>> ids[0][0] == [ids[1][1], ids[2][1]] == [tool_call_id("f", "{}", 0), tool_call_id("f", "{}", 1)]
    True
    """
    out: list[tuple[list[str], str | None]] = []
    ordinal = 0
    latest: dict[str, str] = {}
    pending: list[tuple[str, str]] = []  # (name, id) of the latest assistant turn's unanswered calls
    for m in messages:
        ids: list[str] = []
        names: list[str] = []
        for call in m.tool_calls:
            ids.append(call.id or tool_call_id(call.name, canonical_json(call.arguments), ordinal))
            names.append(call.name)
            ordinal += 1
        for bad in m.invalid_tool_calls:  # raw argument text in place of canonical JSON
            ids.append(bad.id or tool_call_id(bad.name, bad.arguments, ordinal))
            names.append(bad.name)
            ordinal += 1
        if ids:
            pending = list(zip(names, ids, strict=True))
            latest.update(pending)
        answered: str | None = None
        if m.role == "tool":
            answered = m.tool_call_id or next((i for n, i in pending if m.name in (None, "", n)), None) \
                or latest.get(m.name or "")
            pending = [p for p in pending if p[1] != answered]
        out.append((ids, answered))
    return out


__all__ = ["wire_tool_ids"]

"""Forced tool calls through constrained JSON output, for servers that cannot force a call natively.

Ollama ignores ``tool_choice``; llama-cpp-python answers ``tool_choice="required"`` with several
tools with HTTP 500. Both constrain a reply to a JSON schema, so a call is forced instead:

1. ``forced_tool`` plans it: the reply schema admits only a call (the tool's argument schema for
   one tool; ``anyOf`` over ``{"name": <one name>, "arguments": <its schema>}`` for several) and an
   instruction describes the tools to the model;
2. ``add_instruction`` puts that instruction into the wire messages' system prompt;
3. ``forced_call`` reads the JSON reply back as a ``ToolCall`` with a deterministic id.

Pure and server-independent: each backend sends the schema its own way (Ollama ``format``,
llama-cpp-python ``response_format={"type": "json_object", "schema": …}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..json_codec import loads
from ..types import ChatRequest, InvalidToolCall, ToolCall
from .base import tool_call_id
from .tool_args import MALFORMED_HINT, TRUNCATED_HINT, canonical_json


@dataclass(frozen=True, slots=True)
class ForcedTool:
    """How a forced tool call is requested and read back (see the module docstring)."""

    names: tuple[str, ...]
    wrapped: bool  # True: reply is {"name", "arguments"}; False: reply is the arguments object
    schema: dict[str, Any]
    instruction: str


def _tool_spec(tool: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    fn = tool.get("function", tool)
    params = dict(fn.get("parameters") or {})
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return str(fn["name"]), str(fn.get("description") or ""), params


def forced_tool(request: ChatRequest, *, server: str) -> ForcedTool | None:
    """The forced-call plan for ``tool_choice`` "required" or a tool name; None otherwise.
    ``server`` names the server in the error for a forced call combined with ``response_format``.

    >>> add = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    >>> forced_tool(ChatRequest(model="m", messages=[], tools=[add], tool_choice="add"), server="S").schema
    {'type': 'object', 'properties': {}}
    >>> two = [add, {"name": "neg", "description": "Negate."}]
    >>> plan = forced_tool(ChatRequest(model="m", messages=[], tools=two, tool_choice="required"), server="S")
    >>> plan.names, plan.wrapped, [a["properties"]["name"] for a in plan.schema["anyOf"]]
    (('add', 'neg'), True, [{'type': 'string', 'enum': ['add']}, {'type': 'string', 'enum': ['neg']}])
    >>> print(plan.instruction)  # doctest: +NORMALIZE_WHITESPACE
    You must call exactly one of these tools. Answer with only a JSON object
    {"name": <tool name>, "arguments": <its arguments>}.
    - `add`. Arguments schema: {"properties":{},"type":"object"}
    - `neg`: Negate.. Arguments schema: {"properties":{},"type":"object"}
    """
    choice = request.tool_choice
    if choice in (None, "auto", "none"):
        return None
    specs = [_tool_spec(t) for t in request.tools or ()]
    if not specs:
        raise ConfigurationError(f"tool_choice={choice!r} but no tools were given",
                                 hint="pass tools or drop tool_choice")
    if request.response_format is not None:
        raise ConfigurationError(
            f"tool_choice={choice!r} cannot be combined with response_format on {server}",
            hint="both use the server's constrained output; drop one of them",
        )
    if choice != "required":
        specs = [s for s in specs if s[0] == choice]
        if not specs:
            raise ConfigurationError(f"tool_choice={choice!r} names no given tool",
                                     hint=f"use one of {request.tool_names}")
    if len(specs) == 1:
        name, desc, params = specs[0]
        text = (f"Call the tool `{name}`{': ' + desc if desc else ''}. Answer with only the JSON object of its "
                f"arguments, matching this JSON schema: {canonical_json(params)}")
        return ForcedTool((name,), False, params, text)
    lines = ["You must call exactly one of these tools. Answer with only a JSON object "
             '{"name": <tool name>, "arguments": <its arguments>}.']
    alternatives = []
    for name, desc, params in specs:
        lines.append(f"- `{name}`{': ' + desc if desc else ''}. Arguments schema: {canonical_json(params)}")
        alternatives.append({"type": "object", "required": ["name", "arguments"],
                             "properties": {"name": {"type": "string", "enum": [name]}, "arguments": params}})
    return ForcedTool(tuple(s[0] for s in specs), True, {"anyOf": alternatives}, "\n".join(lines))


def add_instruction(messages: Sequence[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """Wire messages with ``instruction`` appended to a leading text system message, else one put first.

    >>> add_instruction([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], "Call f.")
    [{'role': 'system', 'content': 'Be brief.\\n\\nCall f.'}, {'role': 'user', 'content': 'hi'}]
    >>> add_instruction([{"role": "user", "content": "hi"}], "Call f.")[0]
    {'role': 'system', 'content': 'Call f.'}
    """
    out = list(messages)
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{instruction}".lstrip()}
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return out


def forced_call(forced: ForcedTool, text: str, *, truncated: bool) -> ToolCall | InvalidToolCall:
    """The reply's JSON as a ``ToolCall`` (id from name, canonical arguments and position 0), or an
    ``InvalidToolCall`` carrying the raw text when it is not a call of one of the tools.
    ``truncated``: the server stopped at ``max_tokens``, so the JSON may be incomplete.

    >>> plan = ForcedTool(("add", "neg"), True, {}, "")
    >>> forced_call(plan, '{"name": "neg", "arguments": {"x": 2}}', truncated=False)
    ToolCall(id='call_b1dd8c287ce20024', name='neg', arguments={'x': 2})
    >>> cut = forced_call(plan, '{"name": "neg", "argu', truncated=True)
    >>> cut.name, cut.arguments, cut.error.endswith("raise max_tokens")
    ('', '{"name": "neg", "argu', True)
    """
    name = forced.names[0] if not forced.wrapped else ""
    try:
        obj = loads(text)
        name, args = (obj["name"], obj["arguments"]) if forced.wrapped else (forced.names[0], obj)
    except (ValueError, KeyError, TypeError):
        args = None
    if name not in forced.names or not isinstance(args, dict):
        reason = TRUNCATED_HINT if truncated else MALFORMED_HINT
        error = f"the forced tool call is not a JSON call of {' or '.join(forced.names)}: {text[:80]!r}; {reason}"
        return InvalidToolCall(tool_call_id(str(name), text, 0), str(name) if name in forced.names else "", text,
                               error)
    return ToolCall(tool_call_id(name, canonical_json(args), 0), name, args)


__all__ = ["ForcedTool", "add_instruction", "canonical_json", "forced_call", "forced_tool"]

"""Pure LlamaIndex <-> patinox neutral-type mapping: messages and requests here, replies in ``_replies.py``.

Nothing here does network I/O; the only side effect is reading a local image file named by an
``ImageBlock(path=...)``. The adapters (``llm.py``, ``embeddings.py``) call these functions around
``LocalProvider``; sync and async paths share every one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from patinox_core import types as core
from patinox_core.arguments import ALIASES, unknown_argument
from patinox_core.errors import CapabilityError, ConfigurationError

from ._replies import (  # the reply half, re-exported: the adapters call ``cv.<name>`` for both halves
    StreamAccumulator,
    assistant_blocks,
    from_core_result,
    invalid_calls_dict,
    keep_first_tool_call,
    metrics_dict,
    response_kwargs,
    stable_tool_id,
    to_metadata,
    tool_arguments,
    tool_selections,
    usage_dict,
    uses_completions,
)

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


ROLE_MAP: dict[MessageRole, core.Role] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


# --------------------------------------------------------------------------- requests


def image_to_core(block: ImageBlock) -> str:
    """An ``ImageBlock`` as the neutral image string: a data URL when the type is known, else
    bare base64; an http(s) or data URL is passed on unchanged (the backend decides how to send it)."""
    if block.image is None and block.path is None and block.url is not None:
        url = str(block.url)
        if url.startswith(("data:", "http://", "https://")):
            return url
    b64 = block.resolve_image(as_base64=True).read().decode("ascii")
    return f"data:{block.image_mimetype};base64,{b64}" if block.image_mimetype else b64


def _legacy_tool_calls(kwargs: Mapping[str, Any]) -> list[core.ToolCall]:
    """OpenAI-style ``additional_kwargs["tool_calls"]`` (dicts or SDK objects) from older histories."""
    out = []
    for i, call in enumerate(kwargs.get("tool_calls") or ()):
        data = call if isinstance(call, Mapping) else getattr(call, "model_dump", lambda: {})()
        fn = data.get("function") or {}
        name = str(fn.get("name") or "")
        args = tool_arguments(fn.get("arguments"))
        out.append(core.ToolCall(id=str(data.get("id") or stable_tool_id(name, args, i)), name=name, arguments=args))
    return out


def to_core_message(message: ChatMessage) -> core.Message:
    """One ``ChatMessage`` (text, image, thinking and tool-call blocks) as a neutral ``Message``."""
    role = ROLE_MAP.get(message.role, "user")
    blocks = message.blocks
    if len(blocks) == 1 and type(blocks[0]) is TextBlock and not message.additional_kwargs:
        return core.Message(role=role, content=blocks[0].text)  # plain text: what the loop below gives
    texts: list[str] = []
    images: list[str] = []
    thinking: list[str] = []
    calls: list[core.ToolCall] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            images.append(image_to_core(block))
        elif isinstance(block, ThinkingBlock):
            if block.content:
                thinking.append(block.content)
        elif isinstance(block, ToolCallBlock):
            args = tool_arguments(block.tool_kwargs)
            call_id = block.tool_call_id or stable_tool_id(block.tool_name, args, len(calls))
            calls.append(core.ToolCall(id=call_id, name=block.tool_name, arguments=args))
        else:
            raise CapabilityError(
                f"{type(block).__name__} is not supported by patinox",
                hint="send text, image, thinking or tool-call blocks",
            )
    extra = message.additional_kwargs
    if not calls and extra.get("tool_calls"):
        calls = _legacy_tool_calls(extra)
    if not thinking and isinstance(extra.get("thinking"), str):
        thinking.append(extra["thinking"])
    tool_call = extra.get("tool_call_id") if role == "tool" else None
    name = extra.get("name") or extra.get("tool_name")
    return core.Message(
        role=role,
        content="\n".join(texts),
        images=images,
        tool_calls=calls,
        tool_call_id=str(tool_call) if tool_call else None,
        name=str(name) if name else None,
        thinking="".join(thinking) or None,
    )


def to_core_messages(messages: Iterable[ChatMessage]) -> list[core.Message]:
    return [to_core_message(m) for m in messages]


def response_format(value: Any) -> core.ResponseFormat:
    """``"json"``, a JSON schema, an OpenAI ``response_format`` dict or a pydantic class -> neutral.

    >>> response_format({"type": "json_object"}), response_format(None)
    ('json', None)
    >>> response_format({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}})
    {'type': 'object'}
    """
    if value is None or value == "" or value is False:
        return None
    if value is True or value == "json":
        return "json"
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return cast("dict[str, Any]", value.model_json_schema())
    if isinstance(value, Mapping):
        if value.get("type") == "json_object":
            return "json"
        if value.get("type") == "json_schema" and isinstance(value.get("json_schema"), Mapping):
            return dict(value["json_schema"].get("schema") or {})
        return dict(value)
    raise ConfigurationError(f"format={value!r} is not valid", hint="use 'json', a JSON schema or a pydantic class")


#: ``chat(**kwargs)`` names that map onto ``ChatRequest`` fields one to one.
REQUEST_FIELDS = ("temperature", "max_tokens", "top_p", "top_k", "seed", "stop", "keep_alive", "num_ctx", "timeout",
                  "max_retries", "session_id", "truncate", "shift", "logprobs", "top_logprobs")
#: Keyword arguments LlamaIndex itself may pass along that mean nothing to the server.
_IGNORED = frozenset({"formatted", "verbose", "allow_parallel_tool_calls", "error_on_no_tool_call"})


def to_chat_request(
    messages: Sequence[ChatMessage], *, defaults: Mapping[str, Any], call: Mapping[str, Any]
) -> core.ChatRequest:
    """Build the neutral request from the LLM's field values (``defaults``) and a call's kwargs.

    A per-call value always wins, even a falsy one: ``think=False`` beats ``thinking=True``.
    Unknown per-call keys go to ``options`` (server-specific extras), as ``additional_kwargs`` do.
    """
    kw = {k: v for k, v in call.items() if k not in _IGNORED} if call else None
    if not kw:  # the common call: the LLM's fields alone
        return core.ChatRequest(
            model=defaults.get("model"),
            messages=to_core_messages(messages),
            think=defaults.get("thinking"),
            response_format=response_format(defaults.get("format")),
            options=dict(defaults.get("additional_kwargs") or {}),
            **_params(defaults, {}),
        )
    think = defaults.get("thinking")
    for key in ("think", "thinking", "reasoning"):
        if key in kw:
            think = kw.pop(key)
    fmt = defaults.get("format")
    for key in ("format", "response_format"):
        if key in kw:
            fmt = kw.pop(key)
    tools = [t.metadata.to_openai_tool(skip_length_check=True) if hasattr(t, "metadata") else t
             for t in kw.pop("tools", None) or ()]  # LlamaIndex tools or ready-made specs
    choice = tool_choice(kw.pop("tool_choice", None), required=bool(kw.pop("tool_required", False)))
    params = _params(defaults, kw)
    for key in kw:  # other clients' names for a parameter would be sent as an option the server ignores
        if key in ALIASES:
            valid = [*REQUEST_FIELDS, "model", "tools", "tool_choice", "think", "format", "options"]
            raise unknown_argument(key, valid, "this Patinox call")
    model = kw.pop("model", None) or defaults.get("model")
    options = {**(defaults.get("additional_kwargs") or {}), **(kw.pop("options", None) or {}), **kw}
    return core.ChatRequest(
        model=model,
        messages=to_core_messages(messages),
        tools=list(tools) if tools else None,
        tool_choice=choice if tools else None,
        think=think,
        response_format=response_format(fmt),
        options=options,
        **params,
    )


def _params(defaults: Mapping[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """``REQUEST_FIELDS`` values: popped from the call's ``kw`` when given, else the defaults."""
    params = {name: kw.pop(name) if name in kw else defaults.get(name) for name in REQUEST_FIELDS}
    if isinstance(params["stop"], str):
        params["stop"] = [params["stop"]]
    return params


def tool_specs(tools: Sequence[BaseTool]) -> list[dict[str, Any]]:
    """LlamaIndex tools as OpenAI function specs (the neutral ``ChatRequest.tools`` shape)."""
    return [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]


def tool_choice(choice: Any, *, required: bool) -> str | None:
    """Normalise a tool choice: ``"auto"``/``"none"``/``"required"``, a tool name, or an OpenAI dict.

    >>> tool_choice(None, required=True), tool_choice(None, required=False)
    ('required', None)
    >>> tool_choice({"type": "function", "function": {"name": "add"}}, required=False)
    'add'
    """
    if isinstance(choice, Mapping):
        choice = (choice.get("function") or {}).get("name") or choice.get("name") or choice.get("type")
    if choice in (None, ""):
        return "required" if required else None
    return str(choice)


__all__ = [
    "ROLE_MAP",
    "StreamAccumulator",
    "assistant_blocks",
    "from_core_result",
    "image_to_core",
    "invalid_calls_dict",
    "keep_first_tool_call",
    "metrics_dict",
    "response_kwargs",
    "stable_tool_id",
    "to_core_message",
    "to_core_messages",
    "to_metadata",
    "tool_arguments",
    "tool_choice",
    "uses_completions",
    "tool_selections",
    "tool_specs",
    "usage_dict",
]

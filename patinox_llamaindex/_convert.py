"""Pure LlamaIndex <-> patinox neutral-type mapping.

Nothing here does network I/O; the only side effect is reading a local image file named by an
``ImageBlock(path=...)``. The adapters (``llm.py``, ``embeddings.py``) call these functions around
``LocalProvider``; sync and async paths share every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.llms.llm import ToolSelection
from pydantic_core import from_json

from patinox_core import types as core
from patinox_core.arguments import ALIASES, unknown_argument
from patinox_core.backends.base import tool_call_id
from patinox_core.errors import CapabilityError, ConfigurationError
from patinox_core.reply_facts import facts_of

from ._logprobs import to_logprobs

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

    from patinox_core.capabilities import ModelInfo

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


def _arguments(kwargs: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Tool arguments as a dict; a JSON string (from another integration's history) is decoded."""
    if isinstance(kwargs, Mapping):
        return dict(kwargs)
    if not kwargs:
        return {}
    try:
        value = from_json(kwargs)
    except ValueError:
        return {"input": kwargs}
    return value if isinstance(value, dict) else {"input": value}


def stable_tool_id(name: str, arguments: Mapping[str, Any], index: int) -> str:
    """Deterministic id for a tool call that came without one (never the bare tool name).

    >>> stable_tool_id("add", {"b": 2, "a": 1}, 0) == stable_tool_id("add", {"a": 1, "b": 2}, 0)
    True
    >>> stable_tool_id("add", {"a": 1}, 0) != stable_tool_id("add", {"a": 1}, 1)
    True
    """
    return tool_call_id(name, json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str), index)


def _legacy_tool_calls(kwargs: Mapping[str, Any]) -> list[core.ToolCall]:
    """OpenAI-style ``additional_kwargs["tool_calls"]`` (dicts or SDK objects) from older histories."""
    out = []
    for i, call in enumerate(kwargs.get("tool_calls") or ()):
        data = call if isinstance(call, Mapping) else getattr(call, "model_dump", lambda: {})()
        fn = data.get("function") or {}
        name = str(fn.get("name") or "")
        args = _arguments(fn.get("arguments"))
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
            args = _arguments(block.tool_kwargs)
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
        return value.model_json_schema()
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


# --------------------------------------------------------------------------- responses


def usage_dict(usage: core.Usage | None) -> dict[str, int]:
    """Token counts under the OpenAI key names LlamaIndex's ``TokenCountingHandler`` reads.

    >>> usage_dict(core.Usage(input_tokens=3, output_tokens=2, cached_input_tokens=1))
    {'prompt_tokens': 3, 'completion_tokens': 2, 'total_tokens': 5, 'cached_tokens': 1}
    """
    if usage is None:
        return {}
    pairs = (
        ("prompt_tokens", usage.input_tokens),
        ("completion_tokens", usage.output_tokens),
        ("total_tokens", usage.total_tokens),
        ("cached_tokens", usage.cached_input_tokens),
        ("reasoning_tokens", usage.reasoning_tokens),
    )
    return {k: v for k, v in pairs if v is not None}


def metrics_dict(metrics: core.Metrics | None) -> dict[str, float]:
    if metrics is None:
        return {}
    pairs = (
        ("time_to_first_token_s", metrics.time_to_first_token_s),
        ("tokens_per_second", metrics.tokens_per_second),
        ("load_duration_s", metrics.load_duration_s),
        ("total_duration_s", metrics.total_duration_s),
    )
    return {k: v for k, v in pairs if v is not None}


def response_kwargs(*, usage: core.Usage | None, metrics: core.Metrics | None, model: str | None,
                    service: str | None, finish_reason: str | None,
                    facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ChatResponse.additional_kwargs``: token counts at top level (as llama-index-llms-openai
    does), plus model, service, finish reason and timings, and the reply facts both adapters share
    (``patinox_core.reply_facts``: server, server_kind, timings and cache-read tokens as flat keys)."""
    out: dict[str, Any] = dict(usage_dict(usage))
    out.update(model=model, service=service, finish_reason=finish_reason)
    if m := metrics_dict(metrics):
        out["metrics"] = m
    if facts:
        out.update(facts)
    return out


def _raw(server_raw: Mapping[str, Any] | None, usage: core.Usage | None, **facts: Any) -> dict[str, Any]:
    raw: dict[str, Any] = dict(server_raw or {})
    raw["usage"] = usage_dict(usage)
    for key, value in facts.items():
        raw.setdefault(key, value)
    return raw


def assistant_blocks(content: str, thinking: str | None, calls: Sequence[core.ToolCall],
                     invalid: Sequence[core.InvalidToolCall] = ()) -> list[Any]:
    """``[ThinkingBlock?, TextBlock, ToolCallBlock*]``; a call without an id gets a stable one. A call
    whose arguments are not a JSON object keeps them as the raw text (``tool_kwargs`` is a str)."""
    blocks: list[Any] = []
    if thinking:
        blocks.append(ThinkingBlock(content=thinking))
    blocks.append(TextBlock(text=content))
    for i, call in enumerate(calls):
        call_id = call.id or stable_tool_id(call.name, call.arguments, i)
        blocks.append(ToolCallBlock(tool_call_id=call_id, tool_name=call.name, tool_kwargs=dict(call.arguments)))
    blocks += [ToolCallBlock(tool_call_id=bad.id, tool_name=bad.name, tool_kwargs=bad.arguments) for bad in invalid]
    return blocks


def invalid_calls_dict(invalid: Sequence[core.InvalidToolCall]) -> list[dict[str, str]]:
    """``additional_kwargs["invalid_tool_calls"]``: each unreadable call with the error that says why.

    >>> invalid_calls_dict([core.InvalidToolCall("c1", "f", '{"a":', "cut off; raise max_tokens")])
    [{'id': 'c1', 'name': 'f', 'arguments': '{"a":', 'error': 'cut off; raise max_tokens'}]
    """
    return [{"id": c.id, "name": c.name, "arguments": c.arguments, "error": c.error} for c in invalid]


def from_core_result(result: core.ChatResult) -> ChatResponse:
    """A complete neutral reply as a ``ChatResponse`` (``raw["usage"]`` holds the token counts):
    ``raw`` as ``_raw`` builds it and ``additional_kwargs`` as ``response_kwargs`` does, computed once."""
    msg = result.message
    usage = usage_dict(result.usage)
    facts = {"model": result.model, "service": result.service, "finish_reason": result.finish_reason}
    raw: dict[str, Any] = dict(result.raw or {})
    raw["usage"] = usage
    for key, value in facts.items():
        raw.setdefault(key, value)
    extra: dict[str, Any] = dict(usage)
    extra.update(facts)
    if m := metrics_dict(result.metrics):
        extra["metrics"] = m
    extra.update(facts_of(result))
    if msg.invalid_tool_calls:
        extra["invalid_tool_calls"] = invalid_calls_dict(msg.invalid_tool_calls)
    return ChatResponse(
        message=ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=assistant_blocks(msg.content, msg.thinking, msg.tool_calls, msg.invalid_tool_calls),
        ),
        raw=raw,
        additional_kwargs=extra,
        logprobs=to_logprobs(result.logprobs),
    )


class StreamAccumulator:
    """Neutral chunks in, cumulative ``ChatResponse``s out (one per chunk, ``delta`` = new text).

    Pure and synchronous, so ``stream_chat`` and ``astream_chat`` share it.
    """

    __slots__ = ("_calls", "_content", "_invalid", "_seen", "_thinking")

    def __init__(self) -> None:
        self._content = ""  # the text so far: one concatenation per chunk (joining a growing list
        self._thinking = ""  # of deltas made every chunk cost O(chunks so far): 4 µs at 500 chunks)
        self._calls: list[core.ToolCall] = []
        self._invalid: list[core.InvalidToolCall] = []
        self._seen: set[str] = set()

    def feed(self, chunk: core.ChatChunk) -> ChatResponse:
        self._content += chunk.content
        self._thinking += chunk.thinking
        for call in chunk.tool_calls:
            key = call.id or stable_tool_id(call.name, call.arguments, len(self._calls))
            if key not in self._seen:
                self._seen.add(key)
                self._calls.append(core.ToolCall(id=key, name=call.name, arguments=dict(call.arguments)))
        self._invalid += chunk.invalid_tool_calls
        blocks = assistant_blocks(self._content, self._thinking or None, self._calls, self._invalid)
        extra: dict[str, Any] = {"thinking_delta": chunk.thinking or None}
        if self._invalid:
            extra["invalid_tool_calls"] = invalid_calls_dict(self._invalid)
        raw: dict[str, Any] | None = None
        if chunk.is_final:
            facts = {"model": chunk.model, "service": chunk.service, "finish_reason": chunk.finish_reason}
            extra.update(response_kwargs(usage=chunk.usage, metrics=chunk.metrics, **facts, facts=facts_of(chunk)))
            raw = _raw(None, chunk.usage, **facts)
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks),
            delta=chunk.content,
            raw=raw,
            additional_kwargs=extra,
        )


def tool_selections(response: ChatResponse) -> list[ToolSelection]:
    """``ToolCallBlock``s as ``ToolSelection``s; ids stay unique even if a server repeats one."""
    out: list[ToolSelection] = []
    used: set[str] = set()
    calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    for i, block in enumerate(calls):
        args = _arguments(block.tool_kwargs)
        call_id = block.tool_call_id or stable_tool_id(block.tool_name, args, i)
        if call_id in used:
            call_id = f"{call_id}_{i}"
        used.add(call_id)
        out.append(ToolSelection(tool_id=call_id, tool_name=block.tool_name, tool_kwargs=args))
    return out


def keep_first_tool_call(response: ChatResponse) -> ChatResponse:
    """Drop every tool call after the first (``allow_parallel_tool_calls=False``)."""
    first = True
    blocks = []
    for block in response.message.blocks:
        if isinstance(block, ToolCallBlock):
            if not first:
                continue
            first = False
        blocks.append(block)
    response.message.blocks = blocks
    return response


def uses_completions(info: ModelInfo | None, is_chat_model: bool | None) -> bool:
    """Does ``complete()`` send a raw prompt (``/v1/completions``) rather than one chat turn? Yes for a
    model that is no chat model (``is_chat_model=False``, or known to lack chat: a base model without
    a chat template, e.g. marked with ``overrides={"m": {"chat": False}}``), as ``OpenAILike`` does.
    """
    if is_chat_model is not None:
        return not is_chat_model
    return info is not None and info.known_lacks("chat") and info.supports("completion")


def to_metadata(
    info: ModelInfo | None,
    *,
    model: str | None,
    context_window: int | None,
    num_output: int | None,
    is_function_calling_model: bool | None,
    is_chat_model: bool | None = None,
) -> LLMMetadata:
    """``LLMMetadata`` from the resolved catalogue entry (or defaults before resolution).

    Precedence per field: the user's explicit value > the catalogue > LlamaIndex's default. The
    context window is the catalogue's *effective* one (``ModelInfo.effective_context_length``, also
    LangChain's ``profile["max_input_tokens"]``); when the catalogue does not know it, LlamaIndex's
    default (3900), never above the model's maximum. Flags follow ``ModelInfo.supports``, as
    LangChain's ``profile`` does: False only when the model is known to lack the capability.
    """
    ctx = context_window
    if ctx is None and info is not None:
        ctx = info.effective_context_length or min(DEFAULT_CONTEXT_WINDOW,
                                                   info.context_length or DEFAULT_CONTEXT_WINDOW)
    fc = is_function_calling_model
    if fc is None:
        fc = info is None or info.supports("tools")
    chat = is_chat_model if is_chat_model is not None else info is None or info.supports("chat")
    return LLMMetadata(
        context_window=ctx or DEFAULT_CONTEXT_WINDOW,
        num_output=num_output or DEFAULT_NUM_OUTPUTS,
        is_chat_model=chat,
        is_function_calling_model=fc,
        model_name=model or (info.name if info is not None else None) or "unknown",
    )


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
    "tool_choice",
    "uses_completions",
    "tool_selections",
    "tool_specs",
    "usage_dict",
]

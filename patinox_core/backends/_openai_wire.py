"""Pure OpenAI-compatible wire conversion: messages, replies, errors, embeddings (SSE streams:
``_openai_stream.py``).

No I/O here; ``openai_compat.py`` re-exports these names and adds the request side (quirks,
``to_wire``) and the backend. Lenient in what it reads: ``reasoning`` or
``reasoning_content``, ``<think>`` tags, tool calls with or without ``index``, ``error`` as string or
object, HTTP 200 bodies carrying an ``error`` key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, InvalidResponseError
from ..types import (
    ChatResult,
    EmbeddingResult,
    FinishReason,
    Message,
    Metrics,
    Usage,
)
from .base import ErrorPayload, token_count
from .forced_tools import ForcedTool, forced_call
from .logprobs import logprobs_from_wire
from .malformed import (
    as_list,
    as_mapping,
    field,
    number_or_none,
    optional_list,
    optional_mapping,
    optional_text,
    text_or_none,
)
from .openai_errors import classify_error, error_fields, summarize_server_message
from .think import split_think
from .tool_args import split_calls, tool_calls_from_wire
from .tool_ids import wire_tool_ids

FINISH_REASONS: dict[str | None, FinishReason] = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
    "content_filter": "stop", "eos": "stop", "eos_token": "stop", None: "stop",
}

# --------------------------------------------------------------------------- messages


def _image_url(image: str) -> str:
    """An http(s)/data URL as is; bare base64 gets a data URL with a sniffed type."""
    if image.startswith(("http://", "https://", "data:")):
        return image
    mime = next((m for prefix, m in (("/9j/", "jpeg"), ("iVBOR", "png"), ("R0lG", "gif"), ("UklGR", "webp"))
                 if image.startswith(prefix)), "png")
    return f"data:image/{mime};base64,{image}"


def _text(content: Any) -> str:
    """Message text as one string: text parts joined (llama-cpp-python rejects list content)."""
    if isinstance(content, str):
        return content
    parts = content or ()
    return "".join(p.get("text") or "" if isinstance(p, Mapping) else str(p) for p in parts)


def _tool_call_to_wire(call_id: str, name: str, args: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def messages_to_wire(messages: Sequence[Message], reasoning_field: str | None = None) -> list[dict[str, Any]]:
    """Neutral messages to OpenAI ones: assistant ``content`` is ``""`` (never null, llama-cpp-python
    answers 500), images become ``image_url`` parts, calls and results are paired by string ids
    (``wire_tool_ids``: never ``null``, strict servers reject it). An assistant turn's reasoning goes back in
    ``reasoning_field`` where the server reads one (``Quirks.reasoning_history``), else it is dropped
    (never put back into the content).

    >>> messages_to_wire([Message("assistant", "4", thinking="2+2")], "reasoning_content")
    [{'role': 'assistant', 'content': '4', 'reasoning_content': '2+2'}]
    >>> messages_to_wire([Message("assistant", "4", thinking="2+2")])
    [{'role': 'assistant', 'content': '4'}]

    >>> from ..types import ToolCall
    >>> wire = messages_to_wire([Message("assistant", tool_calls=[ToolCall("c1", "f", {"x": 1})]),
    ...                          Message("tool", "42", name="f")])
    >>> wire[0]  # doctest: +ELLIPSIS
    {'role': 'assistant', 'content': '', 'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {...}}]}
    >>> wire[0]["tool_calls"][0]["function"], wire[1]
    ({'name': 'f', 'arguments': '{"x":1}'}, {'role': 'tool', 'content': '42', 'tool_call_id': 'c1'})
    """
    out: list[dict[str, Any]] = []
    for m, (call_ids, answered) in zip(messages, wire_tool_ids(messages), strict=True):
        text = _text(m.content)
        msg: dict[str, Any] = {"role": m.role, "content": text}
        if reasoning_field and m.thinking and m.role == "assistant":
            msg[reasoning_field] = m.thinking
        if m.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            parts += [{"type": "image_url", "image_url": {"url": _image_url(img)}} for img in m.images]
            msg["content"] = parts
        if m.tool_calls or m.invalid_tool_calls:  # invalid ones with their raw text, as ChatOpenAI sends them
            sent = [(c.name, json.dumps(c.arguments, ensure_ascii=False, separators=(",", ":"))) for c in m.tool_calls]
            sent += [(c.name, c.arguments) for c in m.invalid_tool_calls]
            msg["tool_calls"] = [_tool_call_to_wire(i, n, args) for i, (n, args) in zip(call_ids, sent, strict=True)]
        if m.role == "tool" and answered:
            msg["tool_call_id"] = answered
        elif m.name and m.role in ("user", "system"):
            msg["name"] = m.name
        out.append(msg)
    return out


def tools_to_wire(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function specs; a bare ``{"name", "parameters"}`` spec gets its envelope."""
    return [dict(t) if "function" in t else {"type": "function", "function": dict(t)} for t in tools]


# --------------------------------------------------------------------------- replies


def usage_from_wire(raw: Any) -> Usage:
    """``None`` fields when the server said nothing (never invented zeros).

    >>> usage_from_wire({"prompt_tokens": 15, "completion_tokens": 16, "prompt_tokens_details": {"cached_tokens": 3},
    ...                  "completion_tokens_details": {"reasoning_tokens": 9}})
    Usage(input_tokens=15, output_tokens=16, total_tokens=31, cached_input_tokens=3, reasoning_tokens=9)
    >>> usage_from_wire(None)
    Usage(input_tokens=None, output_tokens=None, total_tokens=None, cached_input_tokens=None, reasoning_tokens=None)
    """
    if not raw:
        return Usage()
    raw = as_mapping(raw, "usage")
    details = optional_mapping(raw.get("prompt_tokens_details") or None, "usage.prompt_tokens_details")
    out = optional_mapping(raw.get("completion_tokens_details") or None, "usage.completion_tokens_details")
    return Usage(token_count(raw.get("prompt_tokens")), token_count(raw.get("completion_tokens")),
                 token_count(raw.get("total_tokens")), token_count(details.get("cached_tokens")),
                 token_count(out.get("reasoning_tokens")))



def cached_from_timings(data: Mapping[str, Any]) -> int | None:
    """llama-server's prompt tokens reused from its KV cache (``timings.cache_n``), for servers
    that leave ``usage.prompt_tokens_details.cached_tokens`` out.

    >>> cached_from_timings({"timings": {"cache_n": 236, "prompt_n": 1}}), cached_from_timings({})
    (236, None)
    """
    return token_count(optional_mapping(data.get("timings") or None, "timings").get("cache_n"))


def with_cached(usage: Usage, cached: int | None) -> Usage:
    if usage.cached_input_tokens is None and cached is not None:
        usage.cached_input_tokens = cached
    return usage


def metrics_from_wire(data: Mapping[str, Any]) -> Metrics:
    """Server-measured timings: llama-server ``timings`` (ms) or LM Studio ``stats`` (seconds).

    >>> metrics_from_wire({"timings": {"prompt_ms": 30.0, "predicted_ms": 370.0, "predicted_per_second": 43.2}})
    Metrics(time_to_first_token_s=0.03, tokens_per_second=43.2, load_duration_s=None, total_duration_s=0.4)
    >>> metrics_from_wire({"stats": {"tokens_per_second": 63.7, "time_to_first_token": 0.073}}).tokens_per_second
    63.7
    """
    timings = optional_mapping(data.get("timings") or None, "timings")
    stats = optional_mapping(data.get("stats") or None, "stats")
    if timings:
        prompt_ms, predicted_ms = number_or_none(timings.get("prompt_ms")), number_or_none(timings.get("predicted_ms"))
        total = (prompt_ms + predicted_ms) / 1000 if prompt_ms is not None and predicted_ms is not None else None
        return Metrics(prompt_ms / 1000 if prompt_ms is not None else None,
                       number_or_none(timings.get("predicted_per_second")), None, total)
    if stats:
        ttft = stats.get("time_to_first_token", stats.get("time_to_first_token_seconds"))
        return Metrics(number_or_none(ttft), number_or_none(stats.get("tokens_per_second")),
                       number_or_none(stats.get("model_load_time_seconds")), None)
    return Metrics()


def finish_from_wire(reason: Any, has_calls: bool) -> FinishReason:
    mapped = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) or reason is None else "stop"
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def from_wire(data: Any, *, forced: ForcedTool | None = None) -> ChatResult:
    """A ``chat.completion`` object to a ``ChatResult`` (``service`` is set by the backend).
    With ``forced`` (a call forced through JSON output) the content is read back as that call.

    >>> r = from_wire({"model": "m", "choices": [{"message": {"role": "assistant",
    ...     "content": "<think>hmm</think>Paris"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3}})
    >>> r.message.content, r.message.thinking, r.finish_reason, r.usage.output_tokens
    ('Paris', 'hmm', 'stop', None)
    """
    data = as_mapping(data, "the chat reply")
    if data.get("object") == "error":
        raise ErrorPayload(dict(data))
    choices = optional_list(data.get("choices") or None, "choices")
    if not choices:
        raise InvalidResponseError("the server's reply has no choices", hint="check the server's version and logs")
    choice = as_mapping(choices[0], "a choice")
    raw_msg = optional_mapping(choice.get("message") or None, "a choice's message")
    text = optional_text(raw_msg.get("content") or choice.get("text") or None, "message.content")  # "text": completions
    content, tagged = split_think(text) if forced is None else ("", "")
    thinking = optional_text(raw_msg.get("reasoning_content") or raw_msg.get("reasoning") or None, "message.reasoning")
    thinking = (thinking + tagged) if thinking and tagged else (thinking or tagged)
    truncated = choice.get("finish_reason") == "length"
    calls, invalid = tool_calls_from_wire(raw_msg.get("tool_calls"), truncated=truncated)
    if forced is not None and not (calls or invalid):
        calls, invalid = split_calls([forced_call(forced, text, truncated=truncated)])
    message = Message("assistant", content, tool_calls=calls, invalid_tool_calls=invalid, thinking=thinking or None)
    usage = usage_from_wire(data.get("usage"))
    stats = data.get("stats")
    if usage.reasoning_tokens is None and isinstance(stats, Mapping):  # LM Studio's native stats
        usage.reasoning_tokens = token_count(stats.get("reasoning_output_tokens"))
    return ChatResult(message=message, finish_reason=finish_from_wire(choice.get("finish_reason"), bool(calls)),
                      usage=with_cached(usage, cached_from_timings(data)),
                      metrics=metrics_from_wire(data), model=text_or_none(data.get("model")), raw=dict(data),
                      logprobs=logprobs_from_wire(choice.get("logprobs")))


# --------------------------------------------------------------------------- embeddings & models


def embed_to_wire(texts: Sequence[str], model: str, *, dimensions: int | None = None,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``/v1/embeddings`` body: always a list of strings (never token arrays).

    >>> embed_to_wire(["a", "b"], "e5", dimensions=64)
    {'model': 'e5', 'input': ['a', 'b'], 'encoding_format': 'float', 'dimensions': 64}
    """
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ConfigurationError(f"embedding inputs must be strings, got {bad[0]}", hint="pass a list of str")
    body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = int(dimensions)
    body.update(extra or {})
    return body


def embed_from_wire(data: Any) -> EmbeddingResult:
    """Vectors in input order (sorted by ``index``); a per-token list of vectors is an error."""
    data = as_mapping(data, "the embeddings reply")
    entries = [as_mapping(d, "an embedding entry") for d in as_list(data.get("data") or [], "data")]
    items = sorted(entries, key=lambda d: d["index"] if isinstance(d.get("index"), (int, float)) else 0)
    vectors = [field(d, "embedding", "an embedding entry") for d in items]
    if any(not isinstance(v, list) or (v and number_or_none(v[0]) is None) for v in vectors):
        raise InvalidResponseError("the server did not return one list of floats per input (per-token vectors "
                                   "or base64?)", hint="enable pooling on the server (e.g. llama.cpp --pooling mean)")
    return EmbeddingResult(vectors, model=text_or_none(data.get("model")), usage=usage_from_wire(data.get("usage")))


__all__ = [
    "classify_error",
    "embed_from_wire",
    "embed_to_wire",
    "error_fields",
    "from_wire",
    "messages_to_wire",
    "cached_from_timings",
    "finish_from_wire",
    "metrics_from_wire",
    "summarize_server_message",
    "tool_calls_from_wire",
    "tools_to_wire",
    "usage_from_wire",
    "with_cached",
]

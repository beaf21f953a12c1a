"""Pure converters from patinox's neutral types to OpenTelemetry GenAI attributes.

No OpenTelemetry import here: these are plain dicts of semantic-convention names (``gen_ai.*``,
``server.*``, ``error.type``), built once per operation and doctested without the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ..types import ChatRequest, ChatResult, Message, Usage

Attributes = dict[str, Any]

NO_SERVER = "patinox"  # gen_ai.provider.name when no server was reached (the request failed in routing)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def provider_name(kind: str | None, flavor: str | None) -> str:
    """``gen_ai.provider.name``: the server kind that answered (the conventions name no local servers),
    as ``reply_facts.server_kind`` spells it.

    >>> provider_name("ollama", "ollama"), provider_name("openai_compatible", "vllm")
    ('ollama', 'vllm')
    >>> provider_name("openai_compatible", None), provider_name(None, None)
    ('openai_compatible', 'patinox')
    """
    return flavor or kind or NO_SERVER


def server_attributes(url: str | None) -> Attributes:
    """``server.address`` and ``server.port`` of a base URL (a fresh dict; parsed once per URL)."""
    return dict(_server_attributes(url))


@lru_cache(maxsize=256)
def _server_attributes(url: str | None) -> Attributes:
    """The scheme's port when none is given.

    >>> server_attributes("http://127.0.0.1:11434")
    {'server.address': '127.0.0.1', 'server.port': 11434}
    >>> server_attributes("https://[::1]/v1"), server_attributes(None), server_attributes("http://a:x")
    ({'server.address': '::1', 'server.port': 443}, {}, {'server.address': 'a'})
    """
    if not url:
        return {}
    parts = urlsplit(url)
    if not parts.hostname:
        return {}
    out: Attributes = {"server.address": parts.hostname}
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = None
    if port is not None:
        out["server.port"] = port
    return out


def operation_name(request: ChatRequest | None) -> str:
    """``gen_ai.operation.name``: ``chat``, ``text_completion`` (a raw prompt) or ``embeddings``."""
    if request is None:
        return "embeddings"
    return "text_completion" if request.completion else "chat"


def span_name(operation: str, model: str | None) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``; the operation alone when no model is named.

    >>> span_name("chat", "qwen3:4b"), span_name("embeddings", None)
    ('chat qwen3:4b', 'embeddings')
    """
    return f"{operation} {model}" if model else operation


def request_attributes(request: ChatRequest) -> Attributes:
    """What a chat request asked for (only the parameters it set; one dict, given to the span at its start).

    >>> request_attributes(ChatRequest(model="m", messages=[], max_tokens=64, temperature=0.2, stop=["x"]))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm', 'gen_ai.request.max_tokens': 64,
     'gen_ai.request.temperature': 0.2, 'gen_ai.request.stop_sequences': ['x']}
    """
    out: Attributes = {"gen_ai.operation.name": "text_completion" if request.completion else "chat"}
    if request.model:
        out["gen_ai.request.model"] = request.model
    if request.max_tokens is not None:
        out["gen_ai.request.max_tokens"] = request.max_tokens
    if request.temperature is not None:
        out["gen_ai.request.temperature"] = request.temperature
    if request.top_p is not None:
        out["gen_ai.request.top_p"] = request.top_p
    if request.top_k is not None:
        out["gen_ai.request.top_k"] = request.top_k
    if request.seed is not None:
        out["gen_ai.request.seed"] = request.seed
    if request.stop:
        out["gen_ai.request.stop_sequences"] = list(request.stop)
    if request.response_format is not None:
        out["gen_ai.output.type"] = "json"
    if request.session_id:
        out["gen_ai.conversation.id"] = request.session_id
    return out


def embed_request_attributes(model: str | None, count: int, dimensions: int | None) -> Attributes:
    """An embedding call: its model, how many texts, and the dimensions asked for."""
    out: Attributes = {"gen_ai.operation.name": "embeddings", "patinox.embeddings.input_count": count}
    if model:
        out["gen_ai.request.model"] = model
    if dimensions is not None:
        out["gen_ai.embeddings.dimension.count"] = dimensions
    return out


def usage_attributes(usage: Usage | None, out: Attributes | None = None) -> Attributes:
    """Token counts the server reported (an unreported count is absent, never 0), added to ``out``.

    >>> usage_attributes(Usage(input_tokens=12, output_tokens=5, cached_input_tokens=8))
    {'gen_ai.usage.input_tokens': 12, 'gen_ai.usage.output_tokens': 5, 'gen_ai.usage.cache_read.input_tokens': 8}
    """
    if out is None:
        out = {}
    if usage is None:
        return out
    if usage.input_tokens is not None:
        out["gen_ai.usage.input_tokens"] = usage.input_tokens
    if usage.output_tokens is not None:
        out["gen_ai.usage.output_tokens"] = usage.output_tokens
    if usage.cached_input_tokens is not None:
        out["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
    return out


def result_attributes(result: ChatResult) -> Attributes:
    """What the reply says: the model that answered, why it stopped, its token counts.

    >>> result_attributes(ChatResult(message=Message(role="assistant"), model="m", finish_reason="length"))
    {'gen_ai.response.model': 'm', 'gen_ai.response.finish_reasons': ('length',)}
    """
    out: Attributes = {}
    if result.model:
        out["gen_ai.response.model"] = result.model
    if result.finish_reason:
        out["gen_ai.response.finish_reasons"] = _finish_reasons(result.finish_reason)
    return usage_attributes(result.usage, out)


@lru_cache(maxsize=16)
def _finish_reasons(reason: str) -> tuple[str, ...]:
    return (reason,)  # a tuple, as the SDK stores a sequence: one shared value per reason


def _parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.thinking:
        parts.append({"type": "reasoning", "content": message.thinking})
    if message.role == "tool":
        parts.append({"type": "tool_call_response", "id": message.tool_call_id, "response": message.content})
    elif message.content:
        parts.append({"type": "text", "content": message.content})
    parts.extend({"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
                 for c in message.tool_calls)
    return parts


def messages_json(messages: Sequence[Message]) -> str:
    """``gen_ai.input.messages``: the conventions' JSON form of a conversation (opt-in content).

    >>> messages_json([Message(role="user", content="hi")])
    '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    """
    return json.dumps([{"role": m.role, "parts": _parts(m)} for m in messages], ensure_ascii=False)


def output_json(message: Message, finish_reason: str | None) -> str:
    """``gen_ai.output.messages``: the reply in the same form, with its finish reason.

    >>> output_json(Message(role="assistant", content="yes"), "stop")
    '[{"role": "assistant", "parts": [{"type": "text", "content": "yes"}], "finish_reason": "stop"}]'
    """
    return json.dumps([{"role": "assistant", "parts": _parts(message), "finish_reason": finish_reason or "stop"}],
                      ensure_ascii=False)


def metric_labels(operation: str, request_model: str | None, response_model: str | None, error_type: str | None,
                  server: Mapping[str, Any]) -> Attributes:
    """The low-cardinality attributes metrics carry: the operation, the models, the server, the error.

    >>> metric_labels("chat", "m", None, "ServerError", {"gen_ai.provider.name": "ollama", "server.port": 1})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'ollama', 'gen_ai.request.model': 'm',
     'server.port': 1, 'error.type': 'ServerError'}
    """
    out: Attributes = {"gen_ai.operation.name": operation, "gen_ai.provider.name": server["gen_ai.provider.name"]}
    if request_model:
        out["gen_ai.request.model"] = request_model
    if response_model:
        out["gen_ai.response.model"] = response_model
    out.update((k, server[k]) for k in ("server.address", "server.port") if k in server)
    if error_type:
        out["error.type"] = error_type
    return out


__all__ = [
    "NO_SERVER",
    "Attributes",
    "embed_request_attributes",
    "messages_json",
    "metric_labels",
    "operation_name",
    "output_json",
    "provider_name",
    "request_attributes",
    "result_attributes",
    "server_attributes",
    "span_name",
    "usage_attributes",
]

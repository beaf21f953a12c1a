"""OpenAI-shaped chat and embedding replies for the engine fakes (llama-server, vLLM, LiteLLM).

Pure functions of the request body: ``chat_reply`` (a ``chat.completion``, or an SSE stream of
``chat.completion.chunk`` events when ``stream`` is set, with a usage event when
``stream_options.include_usage`` asks for one) and ``embeddings_reply`` (deterministic unit
vectors per text). A "token" is a word with its trailing space; ``max_tokens`` cuts the reply and
makes ``finish_reason`` ``"length"``. Each engine adds its own fields through ``extra``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ._http import Reply, StreamReply

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

CREATED = 1764979200  # fixed, so replies are identical across runs
_WORD = re.compile(r"\S+\s*")


def words(text: str) -> list[str]:
    """The fake's tokens: words with their trailing whitespace.

    >>> words("Hello there. "), words("")
    (['Hello ', 'there. '], [])
    """
    return _WORD.findall(text)


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Words in every message's text content, plus 4 per message (the chat template)."""
    total = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        total += len(words(content if isinstance(content, str) else "")) + 4
    return total


def error_body(message: str, *, status: int, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-style error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def chat_reply(body: Any, *, text: str, completion_id: str, extra: Mapping[str, Any] | None = None,
               choice_extra: Mapping[str, Any] | None = None) -> Reply | StreamReply:
    """The reply to ``POST /v1/chat/completions`` (400 without ``messages``)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return Reply(status=400, body=error_body("'messages' must be a non-empty array", status=400))
    pieces, finish = words(text), "stop"
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(limit, int) and 0 < limit < len(pieces):
        pieces, finish = pieces[:limit], "length"
    n_prompt = prompt_tokens(body)
    usage = {"prompt_tokens": n_prompt, "completion_tokens": len(pieces), "total_tokens": n_prompt + len(pieces)}
    head = {"id": completion_id, "created": CREATED, "model": str(body.get("model") or ""), **(extra or {})}
    if not body.get("stream"):
        choice = {"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                  "logprobs": None, "finish_reason": finish, **(choice_extra or {})}
        return Reply(body={**head, "object": "chat.completion", "choices": [choice], "usage": usage})

    def event(delta: Mapping[str, Any] | None, finish_reason: str | None = None, **more: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": dict(delta), "logprobs": None,
                                            "finish_reason": finish_reason}]
        return "data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": choices, **more}) + "\n\n"

    lines = [event({"role": "assistant", "content": None})]
    lines += [event({"content": p}) for p in pieces]
    lines.append(event({}, finish))
    options = body.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        lines.append(event(None, usage=usage))
    lines.append("data: [DONE]\n\n")
    return StreamReply(lines=lines, content_type="text/event-stream")


def unit_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from ``sha256(text)``.

    >>> unit_vector("a", 4) == unit_vector("a", 4), round(sum(x * x for x in unit_vector("b", 6)), 6)
    (True, 1.0)
    """
    raw = hashlib.sha256(text.encode()).digest()
    while len(raw) < dimensions:
        raw += hashlib.sha256(raw).digest()
    values = [b / 255.0 - 0.5 for b in raw[:dimensions]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings_reply(body: Any, *, dimensions: int) -> Reply:
    """The reply to ``POST /v1/embeddings`` (400 unless ``input`` is a string or a list of strings)."""
    texts = body.get("input") if isinstance(body, Mapping) else None
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return Reply(status=400, body=error_body("'input' must be a string or an array of strings", status=400))
    n_tokens = sum(len(words(t)) for t in texts)
    data = [{"object": "embedding", "index": i, "embedding": unit_vector(t, dimensions)} for i, t in enumerate(texts)]
    return Reply(body={"object": "list", "data": data, "model": str(body.get("model") or ""),
                      "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}})


__all__ = ["CREATED", "chat_reply", "embeddings_reply", "error_body", "prompt_tokens", "unit_vector", "words"]

"""OpenAI ``/v1/responses`` and Anthropic-style ``/v1/messages`` replies, as Ollama (>= 0.13.3 and
0.14.0) and LM Studio (>= 0.3.29 and 0.4.1) serve them, and token logprob entries (Ollama's native
``logprobs`` and OpenAI's ``choices[].logprobs.content`` share their shape).

patinox does not use these endpoints as transports; the fakes serve them so tests can show that
their presence misleads neither discovery nor the catalogue. Non-streaming only: a request with
``stream: true`` gets a 400 naming this limit of the fake. Shapes follow OpenAI's Responses API
reference and Anthropic's Messages API reference, which both servers document as compatible.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"
STREAM_UNSUPPORTED = "this fake serves /v1/responses and /v1/messages with stream: false only"
_TOKEN = re.compile(r"\S+\s*|\s+")


def _id(prefix: str, *parts: Any) -> str:
    return prefix + hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:24]


def _words(text: str) -> int:
    return len(text.split())


def _input_text(value: Any) -> str:
    """The text of a Responses ``input`` or a Messages ``messages`` list (strings and text parts)."""
    if isinstance(value, str):
        return value
    out = []
    for item in value if isinstance(value, list) else []:
        content = item.get("content", "") if isinstance(item, dict) else item
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return " ".join(out)


def responses_reply(model: str, text: str, body: dict[str, Any], created: int) -> dict[str, Any]:
    """A completed ``/v1/responses`` object answering ``body`` with ``text``.

    >>> r = responses_reply("m", "Hi there.", {"input": "Hello"}, 1750505643)
    >>> r["object"], r["status"], r["output"][0]["content"][0]["text"], r["usage"]
    ('response', 'completed', 'Hi there.', {'input_tokens': 1, 'output_tokens': 2, 'total_tokens': 3})
    """
    prompt, done = _words(_input_text(body.get("input"))), _words(text)
    return {"id": _id("resp_", model, created, text), "object": "response", "created_at": created,
            "status": "completed", "model": model, "error": None, "incomplete_details": None,
            "output": [{"type": "message", "id": _id("msg_", model, text), "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "usage": {"input_tokens": prompt, "output_tokens": done, "total_tokens": prompt + done}}


def messages_reply(model: str, text: str, body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic ``message`` answering ``body`` with ``text``.

    >>> r = messages_reply("m", "Hi there.", {"messages": [{"role": "user", "content": "Hello"}]})
    >>> r["type"], r["role"], r["content"], r["stop_reason"]
    ('message', 'assistant', [{'type': 'text', 'text': 'Hi there.'}], 'end_turn')
    >>> r["usage"]
    {'input_tokens': 1, 'output_tokens': 2}
    """
    return {"id": _id("msg_", model, text), "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": _words(_input_text(body.get("messages"))), "output_tokens": _words(text)}}


def token_logprobs(text: str, top: int, start: int = 0) -> list[dict[str, Any]]:
    """Deterministic logprob entries for ``text``'s tokens, each with ``top`` alternatives.

    >>> token_logprobs("Hi there", 1)
    [{'token': 'Hi ', 'logprob': -0.1, 'bytes': [72, 105, 32], 'top_logprobs': [{'token': 'Hi ', \
'logprob': -0.1, 'bytes': [72, 105, 32]}]}, {'token': 'there', 'logprob': -0.2, 'bytes': [116, 104, 101, 114, \
101], 'top_logprobs': [{'token': 'there', 'logprob': -0.2, 'bytes': [116, 104, 101, 114, 101]}]}]
    """
    out = []
    for i, token in enumerate(_TOKEN.findall(text), start):
        logprob = -round(0.1 * (i % 5 + 1), 3)
        alternatives = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        alternatives += [{"token": f"alt{k}", "logprob": round(logprob - k, 3), "bytes": list(f"alt{k}".encode())}
                         for k in range(1, top)]
        out.append({"token": token, "logprob": logprob, "bytes": list(token.encode()),
                    "top_logprobs": alternatives[:top]})
    return out


def anthropic_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """Anthropic's error envelope (what ``/v1/messages`` answers a bad request with)."""
    return {"type": "error", "error": {"type": kind, "message": message}}


__all__ = ["MESSAGES_PATH", "RESPONSES_PATH", "STREAM_UNSUPPORTED", "anthropic_error", "messages_reply",
           "responses_reply", "token_logprobs"]

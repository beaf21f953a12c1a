"""Token log probabilities as servers send them, to one neutral shape.

Ollama's native ``logprobs`` (>= 0.12.11, a list per reply or stream line) and an OpenAI-compatible
``choices[].logprobs`` (``{"content": [...]}``) carry the same entries: ``{token, logprob, bytes,
top_logprobs: [{token, logprob, bytes}]}``. ``ChatResult.logprobs`` / ``ChatChunk.logprobs`` keep
that shape (OpenAI's ``content`` entries, which LangChain's ``response_metadata["logprobs"]``
holds for ChatOpenAI), so the adapters pass it on as is. Pure; lenient: an entry without a text
``token`` and a numeric ``logprob`` is dropped, a reply without logprobs gives ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .malformed import number_or_none

Logprob = dict[str, Any]


def _entry(item: Any, *, nested: bool) -> Logprob | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("token"), str):
        return None
    logprob = number_or_none(item.get("logprob"))
    if logprob is None:
        return None
    raw_bytes = item.get("bytes")
    out: Logprob = {"token": item["token"], "logprob": float(logprob),
                    "bytes": [b for b in raw_bytes if isinstance(b, int) and 0 <= b < 256]
                    if isinstance(raw_bytes, list) else None}
    if nested:
        top = item.get("top_logprobs")
        out["top_logprobs"] = [e for e in (_entry(t, nested=False) for t in top) if e is not None] \
            if isinstance(top, list) else []
    return out


def logprobs_from_wire(raw: Any) -> list[Logprob] | None:
    """A reply's logprobs (a list, or OpenAI's ``{"content": [...]}``) as neutral entries; None when absent.

    >>> logprobs_from_wire([{"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
    ...                      "top_logprobs": [{"token": "Hi", "logprob": -0.25}, {"token": "Hey", "logprob": -1.5}]}])
    [{'token': 'Hi', 'logprob': -0.25, 'bytes': [72, 105], 'top_logprobs': [{'token': 'Hi', 'logprob': -0.25, \
'bytes': None}, {'token': 'Hey', 'logprob': -1.5, 'bytes': None}]}]
    >>> logprobs_from_wire({"content": [{"token": "!", "logprob": -0.1, "bytes": [33], "top_logprobs": []}],
    ...                     "refusal": None})
    [{'token': '!', 'logprob': -0.1, 'bytes': [33], 'top_logprobs': []}]
    >>> logprobs_from_wire(None), logprobs_from_wire({"content": None}), logprobs_from_wire([{"token": 1}])
    (None, None, [])
    """
    if raw is None:  # the common case, per stream chunk: skip the Mapping ABC check
        return None
    if isinstance(raw, Mapping):
        raw = raw.get("content")
    if not isinstance(raw, list):
        return None
    return [e for e in (_entry(item, nested=True) for item in raw) if e is not None]


__all__ = ["Logprob", "logprobs_from_wire"]

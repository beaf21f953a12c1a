"""Neutral token logprobs to LlamaIndex's ``ChatResponse.logprobs`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import LogProb


def _one(entry: Mapping[str, Any]) -> LogProb:
    return LogProb(token=entry["token"], logprob=entry["logprob"], bytes=list(entry.get("bytes") or []))


def to_logprobs(entries: Sequence[Mapping[str, Any]] | None) -> list[list[LogProb]] | None:
    """One list per output token, as llama-index's OpenAI integration fills it: the token's most
    likely alternatives (``top_logprobs``), or the token alone when none were asked.

    >>> out = to_logprobs([{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}])
    >>> [[(p.token, p.logprob, p.bytes) for p in alternatives] for alternatives in out]
    [[('Hi', -0.5, [72, 105])]]
    >>> to_logprobs(None) is None
    True
    """
    if entries is None:
        return None
    return [[_one(t) for t in e.get("top_logprobs") or ()] or [_one(e)] for e in entries]


__all__ = ["to_logprobs"]

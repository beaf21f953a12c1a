"""The reply check of ``Patinox.structured_predict`` and its variants (``patinox_core.structured``'s rule).

A reply cut off by ``max_tokens`` is never validated into the output class, not even by the
streaming variants' partial-JSON repair: ``StructuredOutputError`` (an ``InvalidResponseError``
with a hint, and a ``ValueError`` as LlamaIndex's programs expect of a bad output) says to raise
``max_tokens``. Unreadable tool-call arguments need no check here: they reach the output class as
raw text and fail its (pydantic) validation, as in LlamaIndex's own function-calling program.
"""

from __future__ import annotations

from llama_index.core.base.llms.types import ChatResponse

from patinox_core.errors import InvalidResponseError, RecoveryStrategy
from patinox_core.structured import structured_reply_problem


class StructuredOutputError(InvalidResponseError, ValueError):
    """A reply that cannot be structured output (cut off by ``max_tokens``)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


def check_response(response: ChatResponse | None) -> None:
    """Raise ``StructuredOutputError`` when ``response`` (a complete or final streamed one) stopped for length."""
    extra = response.additional_kwargs if response is not None else {}
    problem = structured_reply_problem(extra.get("finish_reason"))
    if problem is not None:
        text, hint = problem
        raise StructuredOutputError(text, hint=hint, model=extra.get("model"), service=extra.get("service"))


__all__ = ["StructuredOutputError", "check_response"]

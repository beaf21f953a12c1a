"""When a reply cannot be structured output, whichever framework asked for it (one rule for both adapters).

A reply that stopped for length (``finish_reason="length"``) holds incomplete JSON; LangChain's
parsers repair partial JSON, so ``'{"name": "Eiffel Tower", "country": "France'`` would come back as
an object with a cut-off value. Such a reply is never accepted, as ChatOpenAI's
``LengthFinishReasonError``. A forced call whose arguments are unreadable (an ``InvalidToolCall``)
is no structured output either. Pure: the adapters raise the error in their framework's type.
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import InvalidToolCall

TRUNCATED = ("the structured reply stopped at max_tokens, so its JSON is incomplete",
             "raise max_tokens (or leave it unset) so the whole object fits")


def structured_reply_problem(finish_reason: str | None, invalid_calls: Sequence[InvalidToolCall] = (),
                             valid_calls: int = 0) -> tuple[str, str] | None:
    """``(message, hint)`` when a reply cannot be parsed as structured output, else ``None``.

    >>> structured_reply_problem("length")[1]
    'raise max_tokens (or leave it unset) so the whole object fits'
    >>> structured_reply_problem("stop"), structured_reply_problem("tool_calls", valid_calls=1)
    (None, None)
    >>> structured_reply_problem("stop", [InvalidToolCall("c", "City", "Sure", "malformed")])[0]
    "the model's call of 'City' is not structured output: malformed"
    """
    if finish_reason == "length":
        return TRUNCATED
    if invalid_calls and not valid_calls:
        bad = invalid_calls[0]
        return (f"the model's call of {bad.name!r} is not structured output: {bad.error}",
                "retry, or use a model trained for tool calling (or method='json_schema')")
    return None


__all__ = ["TRUNCATED", "structured_reply_problem"]

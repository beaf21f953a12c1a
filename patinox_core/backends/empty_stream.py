"""Why did a stream end before its first event? Ask the server once more, without streaming.

llama-cpp-python (0.3) answers a streamed request with HTTP 200 and starts generating only then, so
an error it finds first (a prompt longer than the context) cannot be reported: the event stream just
ends, empty. The same request sent without ``stream`` gets the real answer (HTTP 400
``context_length_exceeded``). When a stream ended cleanly with no event at all, the backend repeats
the request non-streamed with ``max_tokens=1`` and raises the error that gives (a
``ContextOverflowError`` with its hint, as ``invoke`` raises); if that succeeds or the server is
gone, the original error stands. Streams that showed anything are never repeated. One plan
(``exchange.py``), run by the sync and the async driver alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from ..errors import LocalProviderError, ServiceUnavailableError
from ..exchange import Operation
from ..types import ChatRequest


class _Parser(Protocol):
    seen_data: bool
    ended_early: bool


def diagnosis_request(request: ChatRequest) -> ChatRequest:
    """The request to repeat: the same input, one token of output, no retries.

    >>> from patinox_core.types import Message
    >>> r = diagnosis_request(ChatRequest(model="m", messages=[Message("user", "hi")], max_tokens=500))
    >>> r.max_tokens, r.max_retries, r.messages[0].content
    (1, 0, 'hi')
    """
    return replace(request, max_tokens=1, max_retries=0)


def explain_empty_stream(stream: Operation[None], parser: _Parser,
                         diagnose: Callable[[], Operation[Any]]) -> Operation[None]:
    """``stream``'s plan, with an empty stream's error replaced by the cause ``diagnose()``'s plan raises."""
    try:
        yield from stream
    except LocalProviderError as err:
        if not (isinstance(err, ServiceUnavailableError) and parser.ended_early and not parser.seen_data):
            raise
        try:
            yield from diagnose()
        except LocalProviderError as cause:
            if not isinstance(cause, ServiceUnavailableError):  # another cause than "the server went away"
                raise cause from err
        raise


__all__ = ["diagnosis_request", "explain_empty_stream"]

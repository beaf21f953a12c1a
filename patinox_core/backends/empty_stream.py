"""Why did a stream end before its first event? Ask the server once more, without streaming.

llama-cpp-python (0.3) answers a streamed request with HTTP 200 and starts generating only then, so
an error it finds first (a prompt longer than the context) cannot be reported: the event stream just
ends, empty. The same request sent without ``stream`` gets the real answer (HTTP 400
``context_length_exceeded``). When a stream ended cleanly with no event at all, the backend repeats
the request non-streamed with ``max_tokens=1`` and raises the error that gives (a
``ContextOverflowError`` with its hint, as ``invoke`` raises); if that succeeds or the server is
gone, the original error stands. Streams that showed anything are never repeated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, Protocol

from ..errors import LocalProviderError, ServiceUnavailableError
from ..types import ChatChunk, ChatRequest


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


def _empty(err: LocalProviderError, parser: _Parser) -> bool:
    return isinstance(err, ServiceUnavailableError) and parser.ended_early and not parser.seen_data


def _raise_cause(err: LocalProviderError, cause: LocalProviderError) -> None:
    """Raise the diagnosis's error when it names another cause than "the server went away"."""
    if not isinstance(cause, ServiceUnavailableError):
        raise cause from err


def explain_empty_stream(chunks: Iterator[ChatChunk], parser: _Parser, diagnose: Callable[[], Any]
                         ) -> Iterator[ChatChunk]:
    """``chunks``, with an empty stream's error replaced by the cause ``diagnose()`` raises."""
    try:
        yield from chunks
    except LocalProviderError as err:
        if not _empty(err, parser):
            raise
        try:
            diagnose()
        except LocalProviderError as cause:
            _raise_cause(err, cause)
        raise


async def aexplain_empty_stream(chunks: AsyncIterator[ChatChunk], parser: _Parser,
                                diagnose: Callable[[], Awaitable[Any]]) -> AsyncIterator[ChatChunk]:
    """Async twin of ``explain_empty_stream`` (the same decisions, ``_empty`` and ``_raise_cause``)."""
    try:
        async for chunk in chunks:
            yield chunk
    except LocalProviderError as err:
        if not _empty(err, parser):
            raise
        try:
            await diagnose()
        except LocalProviderError as cause:
            _raise_cause(err, cause)
        raise


__all__ = ["aexplain_empty_stream", "diagnosis_request", "explain_empty_stream"]

"""The narrow error funnel (httpx's ``map_httpcore_exceptions`` pattern): transport failures, decode
failures and malformed replies become the error tree; nothing else is touched.

Mapped: httpx's exceptions (aiohttp's arrive as httpx's, see ``_aiohttp_transport.py``), the total
deadline, ``ErrorPayload`` (an error object the server sent) and ``MalformedReply`` (a reply that
decodes but has the wrong shape, raised by the pure converters; undecodable JSON is one too). A
``LocalProviderError`` raised inside gets the server and model named. Any other exception, such as
an ``AttributeError`` in patinox's own code, passes through unchanged: it is a bug, not the server's
fault, and must not read as "malformed reply" (which would make the router fall back).
"""

from __future__ import annotations

import httpx

from .backends.base import ErrorPayload
from .backends.malformed import MalformedReply
from .call_context import CallContext
from .deadline import Deadline, DeadlineExceeded
from .errors import (
    ConfigurationError,
    InvalidResponseError,
    LocalProviderError,
    RequestTimeoutError,
    ServiceUnavailableError,
    TotalDeadlineError,
)
from .redaction import redact
from .safe_text import server_text

MALFORMED_HINT = "the server sent malformed or unexpected data; check its version and logs"


def _describe(exc: BaseException) -> str:
    return redact(str(exc) or type(exc).__name__)  # str(httpx.ReadTimeout()) is ''


def _timeout(ctx: CallContext, exc: httpx.TimeoutException, deadline: Deadline | None) -> RequestTimeoutError:
    if isinstance(exc, DeadlineExceeded) or (deadline is not None and deadline.expired):
        return TotalDeadlineError(
            f"no complete reply from {ctx.service} within its total deadline of {ctx.deadline_s:g}s",
            hint="the server kept the call open (dripping bytes?); raise total_timeout "
                 "(PATINOX_TOTAL_TIMEOUT) if it is legitimately this slow",
            **ctx.fields,
        )
    return RequestTimeoutError(
        f"{type(exc).__name__}: no data from {ctx.service} within {ctx.timeout.read}s",
        hint="the model may still be loading: raise read_timeout/cold_load_timeout, or retry",
        **ctx.fields,
    )


def map_transport_error(ctx: CallContext, exc: httpx.HTTPError | httpx.InvalidURL,
                        deadline: Deadline | None = None) -> LocalProviderError:
    """The error-tree twin of one httpx exception."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ServiceUnavailableError(f"connecting to {ctx.service} timed out after {ctx.timeout.connect}s",
                                       hint=ctx.unreachable_hint, **ctx.fields)
    if isinstance(exc, httpx.ConnectError):
        return ServiceUnavailableError(f"cannot connect to {ctx.service} ({_describe(exc)})",
                                       hint=ctx.unreachable_hint, **ctx.fields)
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(ctx, exc, deadline)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return ServiceUnavailableError(
            f"connection to {ctx.service} broke: {_describe(exc)}",
            hint="the server closed the connection (crashed or restarted?); retry or use another server",
            **ctx.fields,
        )
    if isinstance(exc, httpx.InvalidURL):  # not an HTTPError: a URL from the settings httpx cannot send to
        return ConfigurationError(f"invalid URL for {ctx.service}: {_describe(exc)}",
                                  hint="fix the server URL in your settings", **ctx.fields)
    return ServiceUnavailableError(f"HTTP failure talking to {ctx.service}: {_describe(exc)}", **ctx.fields)


#: What the funnel maps; anything else passes through unchanged.
FUNNELED = (LocalProviderError, ErrorPayload, MalformedReply, httpx.HTTPError, httpx.InvalidURL)


def funneled(ctx: CallContext, exc: BaseException, deadline: Deadline | None = None) -> BaseException:
    """The error to raise for ``exc``, caught as one of ``FUNNELED``: a ``LocalProviderError``
    itself, now naming the server and model; the error-tree twin of anything else, caused by it.
    A plan writes ``except FUNNELED as exc: raise funneled(ctx, exc, deadline)``: nothing is spent
    on the way when nothing fails (a ``with`` block would cost a context manager per call)."""
    if isinstance(exc, LocalProviderError):  # raised by a parser or a reader: name the server and model
        if exc.service is None or exc.model is None:
            exc.service, exc.model = exc.service or ctx.service, exc.model or ctx.model
            exc.args = (exc._render(),)
        return exc
    out: BaseException
    if isinstance(exc, ErrorPayload):
        out = ctx.error_from(exc.status, exc.body)
    elif isinstance(exc, MalformedReply):
        out = InvalidResponseError(f"unreadable reply from {ctx.service}: {server_text(str(exc), 200)}",
                                   hint=MALFORMED_HINT, **ctx.fields)
    elif isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        out = map_transport_error(ctx, exc, deadline)
    else:
        return exc
    out.__cause__ = exc  # ``raise out from exc``
    return out


__all__ = ["FUNNELED", "MALFORMED_HINT", "funneled", "map_transport_error"]

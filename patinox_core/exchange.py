"""One HTTP exchange as a sans-IO plan: generators that yield the I/O steps a driver performs
(``driver.py``, one sync, one async) and receive each step's result, or its exception thrown in.

An operation is a generator of steps returning its result (``Operation[T]``); a streaming one
also yields ``ChatChunk``s, which the driver hands to the caller. Everything but the I/O lives here,
once: request encoding, the retry policy (``retry.py``), status and error-body checks, size caps,
JSON decoding, line splitting, stream parsing and the error funnel (``funnel.py``). Backends compose
these (``yield from call(...)``) into multi-step operations: Ollama's model listing, image fetching
before a chat, the embedding fallback to a legacy endpoint, the empty-stream diagnosis.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import httpx

from .backends.base import LineParser
from .backends.malformed import decode
from .call_context import CallContext
from .deadline import Deadline
from .errors import (
    ConfigurationError,
    InvalidResponseError,
    LocalProviderError,
    ServerBusyError,
    ServerError,
    ServiceUnavailableError,
)
from .funnel import FUNNELED, funneled
from .json_codec import dumps, loads
from .limits import ERROR_BODY_LIMIT, BodyCollector
from .provisioning.events import ProgressEvent
from .replies import body_collector, fetch_collector, line_splitter, probe_collector
from .retry import BUSY_STATUSES, RETRY_STATUSES, error_delay, retry_after_s, status_delay
from .safe_text import server_text
from .types import ChatChunk

T = TypeVar("T")
MAX_FETCH_BYTES = 50_000_000  # image URLs fetched client-side

#: ``collect(status, headers)``: where a reply's body goes while it is read (it enforces the cap).
Collect = Callable[[int, Any], BodyCollector]


@dataclass(slots=True)
class Request:
    """What to send: the request itself plus its timeouts and the deadline of the whole call."""

    method: str
    url: str
    content: bytes | None
    headers: Mapping[str, str]
    timeout: httpx.Timeout
    deadline: Deadline
    follow_redirects: bool = False


@dataclass(slots=True)
class Fetch:
    """Send ``request`` and read its whole reply through ``collect``; result: a ``Reply``."""

    request: Request
    collect: Collect


@dataclass(slots=True)
class Open:
    """Send ``request`` and keep the reply open for ``Receive``/``ReadRest``; result: a ``Reply``
    without body. The driver closes it at the next ``Open`` or at the end of the operation."""

    request: Request


@dataclass(slots=True)
class Receive:
    """The next bytes of the open reply, or None at its end."""


@dataclass(slots=True)
class ReadRest:
    """The rest of the open reply's body into ``body``; result: the bytes collected."""

    body: BodyCollector


@dataclass(slots=True)
class Sleep:
    """Wait before a retry."""

    seconds: float


@dataclass(slots=True)
class Reply:
    """A reply: status, headers (case-insensitive ``get``) and body (empty for ``Open``)."""

    status: int
    headers: Any
    body: bytes


RECEIVE = Receive()
Step = Fetch | Open | Receive | ReadRest | Sleep
#: A plan: yields steps (and, when streaming, ``ChatChunk``s or a pull's ``ProgressEvent``s for the
#: caller, or a list of chunks: they go to the caller, then the list stands for ``RECEIVE``), returns
#: its result.
Operation = Generator[Step | ChatChunk | ProgressEvent | list[ChatChunk], Any, T]


@dataclass(slots=True)
class ProbeReply:
    """A raw reply to a discovery probe: status, lower-cased headers, body (at most 1 MiB), timing."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float

    @property
    def text(self) -> str:
        return bytes(self.body).decode("utf-8", "replace")

    def json(self) -> Any:
        """The decoded JSON body, or None when it is not JSON."""
        try:
            return loads(self.body)
        except ValueError:
            return None


# --------------------------------------------------------------------------- pure pieces


def encode(ctx: CallContext, body: Any) -> bytes | None:
    """The request body as JSON, or a ``ConfigurationError`` naming what cannot be sent (a lone
    surrogate in a text, a Python ``set`` in a tool schema) before anything is sent."""
    if body is None:
        return None
    try:
        return dumps(body)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise ConfigurationError(
            f"cannot send this request to {ctx.service}: it is not valid JSON ({server_text(str(exc), 200)})",
            hint="texts must be valid Unicode (no lone surrogates such as '\\ud800'); tool schemas and options "
                 "must hold only dicts, lists, strings, numbers, booleans and None",
            **ctx.fields,
        ) from None


def error_body(content: bytes) -> Any:
    """An error reply's body: its JSON, else its text."""
    try:
        return loads(content)
    except ValueError:
        return bytes(content).decode("utf-8", "replace")


def _redirect(ctx: CallContext, reply: Reply) -> InvalidResponseError:
    location = server_text(str(reply.headers.get("location") or "nowhere (no Location header)"), 200)
    return InvalidResponseError(
        f"{ctx.service} answered with a redirect (HTTP {reply.status}) to {location}",
        hint="patinox does not follow redirects (they could carry your API key elsewhere): "
             "configure the URL the server redirects to",
        status_code=reply.status, **ctx.fields,
    )


def busy(err: LocalProviderError, status: int, headers: Mapping[str, str]) -> LocalProviderError:
    """A 503/429 that the server's classifier read as unavailable or failing, as ``ServerBusyError``
    (with its ``Retry-After``); any other error unchanged (a 503 that names a missing model stays
    ``ModelNotFoundError``)."""
    if status not in BUSY_STATUSES or type(err) not in (ServiceUnavailableError, ServerError):
        return err
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    out = ServerBusyError(err.message, hint=err.hint or "retry shortly or use another server", service=err.service,
                          model=err.model, status_code=status, retry_after=retry_after_s(lowered.get("retry-after")))
    out.body = err.body
    return out


def checked(ctx: CallContext, reply: Reply) -> Any:
    """The decoded JSON of a complete reply, or the classified error of an error status or body."""
    if reply.status >= 400:
        raise busy(ctx.error_from(reply.status, error_body(reply.body[:ERROR_BODY_LIMIT])), reply.status,
                   reply.headers)
    if reply.status >= 300:
        raise _redirect(ctx, reply)
    data = decode(reply.body, "the reply")
    if isinstance(data, dict) and data.get("error"):
        raise ctx.error_from(reply.status, data)  # LM Studio answers routing errors with HTTP 200
    return data


def _request(ctx: CallContext, method: str, url: str, body: Any) -> Request:
    content = encode(ctx, body)
    return Request(method, url, content, ctx.headers if content is None else ctx.json_headers, ctx.timeout,
                   ctx.deadline())


# --------------------------------------------------------------------------- plans


def resend(ctx: CallContext, step: Fetch | Open) -> Generator[Step, Any, Reply]:
    """``step``, sent again while the retry policy (``retry.py``) says so; the last reply."""
    for attempt in itertools.count():
        try:
            reply: Reply = yield step
        except httpx.TransportError as exc:
            delay = error_delay(ctx.retries, attempt, exc)
            if delay is None:
                raise
        else:
            if reply.status not in RETRY_STATUSES:  # most replies: nothing to decide
                return reply
            delay = status_delay(ctx.retries, attempt, reply.status, reply.headers)
            if delay is None:
                return reply
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count never ends


def _identity(data: Any) -> Any:
    return data


def call(ctx: CallContext, method: str, url: str, body: Any = None,
         parse: Callable[[Any], T] = _identity) -> Operation[T]:
    """One complete request: sent (and retried), read within ``ctx.max_body``, checked, decoded and
    ``parse``d, all inside the funnel; the whole call ends by ``ctx.deadline_s``."""
    request = _request(ctx, method, url, body)
    try:
        reply = yield from resend(ctx, Fetch(request, partial(body_collector, ctx)))
        return parse(checked(ctx, reply))
    except FUNNELED as exc:
        raise funneled(ctx, exc, request.deadline)  # noqa: B904 - funneled sets the cause


def stream(ctx: CallContext, url: str, body: Any, parser: LineParser) -> Operation[None]:
    """POST ``body`` and yield the parser's chunks line by line. Retried only before the reply's
    headers; a failure after that propagates (never replayed). Lines are capped; the headers, and
    then each line, must arrive within ``ctx.deadline_s``."""
    request = _request(ctx, "POST", url, body)
    deadline = request.deadline
    try:
        parser.t0 = time.perf_counter()
        head = yield from resend(ctx, Open(request))
        if head.status >= 300:
            rest = yield ReadRest(body_collector(ctx, head.status, head.headers))
            checked(ctx, Reply(head.status, head.headers, rest))
        lines = line_splitter(ctx)
        emit: Any = RECEIVE  # a read's chunks go out in one step with the next read (one resume per read)
        while (data := (yield emit)) is not None:
            emit = RECEIVE
            if got := lines.feed(data):
                deadline.renew()
                for line in got:
                    if line and (out := parser.feed(line)):
                        emit = out if emit is RECEIVE else [*emit, *out]
        if last := lines.close():
            yield from parser.feed(last)
        yield from parser.close()
    except FUNNELED as exc:
        raise funneled(ctx, exc, deadline)  # noqa: B904 - funneled sets the cause


def probe(ctx: CallContext, url: str) -> Operation[ProbeReply]:
    """``GET url`` once, no retries, no status/body classification (for fingerprinting); the body is
    capped at ``PROBE_BODY_LIMIT``. Connection failures, timeouts and oversized replies are mapped."""
    request = Request("GET", url, None, ctx.headers, ctx.timeout, ctx.deadline())
    try:
        t0 = time.perf_counter()
        reply = yield Fetch(request, lambda status, headers: probe_collector(ctx, headers))
        headers = {k.lower(): v for k, v in reply.headers.items()}
        return ProbeReply(reply.status, headers, reply.body, (time.perf_counter() - t0) * 1000)
    except FUNNELED as exc:
        raise funneled(ctx, exc, request.deadline)  # noqa: B904 - funneled sets the cause


def _download_collector(ctx: CallContext, url: str, limit: int, status: int, headers: Any) -> BodyCollector:
    return body_collector(ctx, 400, {}) if status >= 400 else fetch_collector(ctx, url, limit)


def download(ctx: CallContext, url: str, limit: int = MAX_FETCH_BYTES) -> Operation[bytes]:
    """``GET url``'s body (at most ``limit`` bytes), errors mapped like any call. Redirects are
    followed; ``ctx.headers`` are NOT sent (the URL may belong to a third party)."""
    request = Request("GET", url, None, {}, ctx.timeout, ctx.deadline(), follow_redirects=True)
    try:
        reply = yield Fetch(request, partial(_download_collector, ctx, url, limit))
        if reply.status >= 400:
            raise ctx.error_from(reply.status, error_body(reply.body))
        return bytes(reply.body)
    except FUNNELED as exc:
        raise funneled(ctx, exc, request.deadline)  # noqa: B904 - funneled sets the cause


__all__ = ["MAX_FETCH_BYTES", "RECEIVE", "Fetch", "Open", "Operation", "ProbeReply", "ReadRest", "Receive", "Reply",
           "Request", "Sleep", "Step", "busy", "call", "checked", "download", "encode", "error_body", "probe", "resend",
           "stream"]

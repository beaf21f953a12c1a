"""The one place that talks HTTP: pooled clients, split timeouts, bounded retries, error mapping.

Every ``except httpx.*`` / JSON failure in patinox lives here. Backends hand over a
``CallContext`` (which service, which model, how to classify an error body, which timeout) and a
pure parser; sync and async paths run the same parsers inside the same funnel (``_mapped``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import http.cookiejar
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import httpx

from ._sync_network import DeadlineHTTPTransport
from .backends.base import ErrorClassifier, ErrorPayload, StreamParser
from .config import LocalSettings, redact
from .deadline import Deadline, DeadlineExceeded, abound, bound
from .errors import (
    ConfigurationError,
    InvalidResponseError,
    LocalProviderError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    TotalDeadlineError,
)
from .limits import ERROR_BODY_LIMIT
from .replies import aread, body_collector, fetch_collector, line_splitter, probe_collector, read
from .safe_text import server_text
from .types import ChatChunk

try:  # orjson decodes large embedding replies several times faster than the stdlib
    import orjson

    def loads(data: str | bytes) -> Any:
        return orjson.loads(data)

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - orjson is a declared dependency
    import json

    def loads(data: str | bytes) -> Any:
        return json.loads(data)

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


T = TypeVar("T")
TimeoutKind = Literal["probe", "normal", "cold"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})  # 500 is usually deterministic (bad option, schema)
BACKOFF_BASE_S = 0.02
BACKOFF_MAX_S = 2.0
MAX_FETCH_BYTES = 50_000_000  # get_bytes cap (image URLs fetched client-side)


#: When set, at most this many retries of a refused connection (``httpx.ConnectError``) in this
#: context: the router sets 0 while another usable server holds the model, so a dead server is
#: left at once instead of after ``max_retries`` backoffs. Other retries are unaffected.
CONNECT_RETRIES: contextvars.ContextVar[int | None] = contextvars.ContextVar("patinox_connect_retries",
                                                                            default=None)


def _retries_after(ctx: CallContext, exc: BaseException) -> int:
    cap = CONNECT_RETRIES.get()
    return ctx.retries if cap is None or not isinstance(exc, httpx.ConnectError) else min(cap, ctx.retries)


#: parsed URLs by string: httpx re-parses a str URL on every request (~30 µs), a URL object it reuses
_url = functools.lru_cache(maxsize=512)(httpx.URL)


def backoff_s(attempt: int, retry_after: str | None = None) -> float:
    """Delay before retry ``attempt`` (0-based); honours a numeric Retry-After, bounded.

    >>> backoff_s(0), backoff_s(3), backoff_s(0, "1"), backoff_s(0, "999")
    (0.02, 0.16, 1.0, 2.0)
    """
    if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
        return min(float(retry_after), BACKOFF_MAX_S)
    return min(BACKOFF_BASE_S * (2**attempt), BACKOFF_MAX_S)


@dataclass(slots=True)
class CallContext:
    """Everything the funnel needs to name a failure and pick a timeout."""

    service: str
    classify: ErrorClassifier
    timeout: httpx.Timeout
    model: str | None = None
    unreachable_hint: str = "check that the server is running and the URL is right"
    headers: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    deadline_s: float = 900.0  # the whole exchange (per stream line after the headers)
    max_body: int = 128 << 20  # bytes of a complete reply (decoded)

    @property
    def fields(self) -> dict[str, Any]:
        return {"service": self.service, "model": self.model}

    def error_from(self, status: int | None, body: Any) -> LocalProviderError:
        err = self.classify(status, body)
        err.service = err.service or self.service
        err.model = err.model or self.model
        if err.status_code is None:
            err.status_code = status
        err.body = body  # the server's whole reply, for debugging (the message shows it escaped, capped)
        err.args = (err._render(),)
        return err

    def deadline(self) -> Deadline:
        return Deadline(self.deadline_s)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__  # str(httpx.ReadTimeout()) is ''
    return redact(text)


@contextmanager
def _mapped(ctx: CallContext, deadline: Deadline | None = None) -> Iterator[None]:
    """Map every transport / decode failure inside the block to the error tree."""
    try:
        yield
    except LocalProviderError as err:  # raised by a parser: name the server and model it came from
        if err.service is None or err.model is None:
            err.service, err.model = err.service or ctx.service, err.model or ctx.model
            err.args = (err._render(),)
        raise
    except ErrorPayload as exc:
        raise ctx.error_from(exc.status, exc.body) from exc
    except httpx.ConnectTimeout as exc:
        raise ServiceUnavailableError(
            f"connecting to {ctx.service} timed out after {ctx.timeout.connect}s",
            hint=ctx.unreachable_hint,
            **ctx.fields,
        ) from exc
    except httpx.ConnectError as exc:
        raise ServiceUnavailableError(
            f"cannot connect to {ctx.service} ({_describe(exc)})", hint=ctx.unreachable_hint, **ctx.fields
        ) from exc
    except httpx.TimeoutException as exc:
        if isinstance(exc, DeadlineExceeded) or (deadline is not None and deadline.expired):
            raise TotalDeadlineError(
                f"no complete reply from {ctx.service} within its total deadline of {ctx.deadline_s:g}s",
                hint="the server kept the call open (dripping bytes?); raise total_timeout "
                     "(PATINOX_TOTAL_TIMEOUT) if it is legitimately this slow",
                **ctx.fields,
            ) from exc
        raise RequestTimeoutError(
            f"{type(exc).__name__}: no data from {ctx.service} within {ctx.timeout.read}s",
            hint="the model may still be loading: raise read_timeout/cold_load_timeout, or retry",
            **ctx.fields,
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError) as exc:
        raise ServiceUnavailableError(
            f"connection to {ctx.service} broke: {_describe(exc)}",
            hint="the server closed the connection (crashed or restarted?); retry or use another server",
            **ctx.fields,
        ) from exc
    except httpx.HTTPError as exc:
        raise ServiceUnavailableError(f"HTTP failure talking to {ctx.service}: {_describe(exc)}", **ctx.fields) from exc
    except httpx.InvalidURL as exc:  # not an HTTPError: a URL from the settings httpx cannot send to
        raise ConfigurationError(f"invalid URL for {ctx.service}: {_describe(exc)}",
                                 hint="fix the server URL in your settings", **ctx.fields) from exc
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError, ArithmeticError,
            RecursionError) as exc:
        raise InvalidResponseError(
            f"unreadable reply from {ctx.service}: {type(exc).__name__}: {server_text(str(exc), 200)}",
            hint="the server sent malformed or unexpected data; check its version and logs",
            **ctx.fields,
        ) from exc


def _decode_body(content: bytes) -> Any:
    try:
        return loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


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


def _redirect(ctx: CallContext, status: int, headers: Any) -> InvalidResponseError:
    location = server_text(str(headers.get("location") or "nowhere (no Location header)"), 200)
    return InvalidResponseError(
        f"{ctx.service} answered with a redirect (HTTP {status}) to {location}",
        hint="patinox does not follow redirects (they could carry your API key elsewhere): "
             "configure the URL the server redirects to",
        status_code=status, **ctx.fields,
    )


def _check(ctx: CallContext, status: int, content: bytes, headers: Any = None) -> Any:
    """Parsed JSON of a complete reply, or raise the classified error for error statuses/bodies."""
    if status >= 400:
        raise ctx.error_from(status, _decode_body(content[:ERROR_BODY_LIMIT]))
    if 300 <= status < 400:
        raise _redirect(ctx, status, headers or {})
    data = loads(content)
    if isinstance(data, dict) and "error" in data and data["error"]:
        raise ctx.error_from(status, data)  # LM Studio answers routing errors with HTTP 200
    return data


@dataclass(slots=True)
class ProbeReply:
    """A raw reply to a discovery probe: status, lower-cased headers, body (at most 1 MiB), timing."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float

    @classmethod
    def of(cls, resp: httpx.Response, body: bytes, t0: float) -> ProbeReply:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return cls(resp.status_code, headers, body, (time.perf_counter() - t0) * 1000)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The decoded JSON body, or None when it is not JSON."""
        try:
            return loads(self.body)
        except ValueError:
            return None


def default_async_transport() -> httpx.AsyncBaseTransport | None:
    """An aiohttp-backed httpx transport (about 10x faster at 200 concurrent calls than httpx's
    own pool), or None (httpx's default) when aiohttp is not installed. Imported lazily."""
    try:
        from ._aiohttp_transport import AiohttpTransport
    except ImportError:
        return None
    return AiohttpTransport()


class Transport:
    """Pooled httpx clients for every server patinox talks to.

    One sync client (thread-safe, created lazily) and one async client per running event loop,
    so ``asyncio.run()`` twice on the same object works. ``transport=`` injects an httpx
    transport (``httpx.MockTransport`` serves both sync and async).
    """

    def __init__(
        self,
        settings: LocalSettings | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        *,
        async_transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.settings = settings or LocalSettings()
        self._injected = transport
        # aiohttp (when installed) carries async traffic unless a transport was injected
        self._async_factory = async_transport_factory or (default_async_transport if transport is None else None)
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._afast: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    # -- timeouts ------------------------------------------------------------------------
    def timeout(self, kind: TimeoutKind = "normal", read: float | None = None) -> httpx.Timeout:
        """Split timeout: short connect always; read (and write: both are gaps in the exchange) per
        kind (probe / normal / cold load)."""
        s = self.settings
        if read is None:
            read = {"probe": s.probe_timeout, "normal": s.read_timeout, "cold": s.cold_load_timeout}[kind]
        connect = s.probe_timeout if kind == "probe" else s.connect_timeout
        return httpx.Timeout(read, connect=connect, pool=max(connect, read), write=read)

    def deadline_s(self, kind: TimeoutKind = "normal", read: float | None = None) -> float:
        """The total deadline of one call: a probe gets its connect plus its read budget; a request
        ``total_timeout`` (plus ``cold_load_timeout`` when the model may have to load first), and
        never less than its own connect plus read timeouts."""
        s = self.settings
        if kind == "probe":
            return 2 * (read or s.probe_timeout)
        total = s.total_timeout + (s.cold_load_timeout if kind == "cold" else 0.0)
        return max(total, s.connect_timeout + (read or 0.0))

    def context(self, service: str, classify: ErrorClassifier, *, model: str | None = None,
                kind: TimeoutKind = "normal", read: float | None = None, unreachable_hint: str | None = None,
                retries: int | None = None) -> CallContext:
        return CallContext(
            service=service,
            classify=classify,
            timeout=self.timeout(kind, read),
            model=model,
            unreachable_hint=unreachable_hint or "check that the server is running and the URL is right",
            headers=self.settings.auth_headers(service),
            retries=self.settings.max_retries if retries is None else retries,
            deadline_s=self.deadline_s(kind, read),
            max_body=self.settings.max_response_bytes,
        )

    # -- clients -------------------------------------------------------------------------
    def _client_kwargs(self) -> dict[str, Any]:
        # no cookie jar: a cookie one server sets must never reach another (cookies ignore ports),
        # and the async path (aiohttp) keeps none either
        return {"trust_env": False, "follow_redirects": False, "timeout": self.timeout(), "cookies": _no_cookies()}

    def client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
                    t = (self._injected if isinstance(self._injected, httpx.BaseTransport)
                         else DeadlineHTTPTransport(limits=limits))
                    self._client = httpx.Client(transport=t, limits=limits, **self._client_kwargs())
                    # close pooled sockets when the Transport is garbage-collected unclosed
                    weakref.finalize(self, self._client.close)
                client = self._client
        return client

    def aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None or client.is_closed:
            if isinstance(self._injected, httpx.AsyncBaseTransport):
                t: httpx.AsyncBaseTransport | None = self._injected
            else:
                t = self._async_factory() if self._async_factory else None
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            client = httpx.AsyncClient(transport=t, limits=limits, **self._client_kwargs())
            self._aclients[loop] = client
            self._afast[loop] = getattr(t, "request_bytes", None)  # AiohttpTransport's fast path
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._aclients.pop(loop, None)
        self._afast.pop(loop, None)
        if client is not None:
            await client.aclose()

    # -- complete requests ---------------------------------------------------------------
    def request(self, ctx: CallContext, method: str, url: str, body: Any = None,
                parse: Callable[[Any], T] = lambda d: d) -> T:
        """Send, retry where safe, decode JSON and ``parse`` it, all inside the funnel. The body is read
        while it arrives, capped at ``ctx.max_body``; the whole call ends by ``ctx.deadline_s``."""
        content = encode(ctx, body)
        attempt = 0
        deadline = ctx.deadline()
        while True:
            with _mapped(ctx, deadline), bound(deadline):
                client = self.client()
                request = client.build_request(method, _url(url), content=content,
                                               headers=self._headers(ctx, content), timeout=ctx.timeout)
                try:
                    resp = client.send(request, stream=True)
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    if attempt < _retries_after(ctx, exc):
                        time.sleep(backoff_s(attempt))
                        attempt += 1
                        continue
                    raise exc
                try:
                    status = resp.status_code
                    if status in RETRY_STATUSES and attempt < ctx.retries:
                        time.sleep(backoff_s(attempt, resp.headers.get("retry-after")))
                        attempt += 1
                        continue
                    data = read(resp, body_collector(ctx, status, resp.headers))
                finally:
                    resp.close()
                return parse(_check(ctx, status, data, resp.headers))

    async def arequest(self, ctx: CallContext, method: str, url: str, body: Any = None,
                       parse: Callable[[Any], T] = lambda d: d) -> T:
        content = encode(ctx, body)
        attempt = 0
        deadline = ctx.deadline()
        while True:
            with _mapped(ctx, deadline):
                try:
                    with abound(deadline):
                        status, headers, data = await self._asend(ctx, method, url, content)
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    if attempt < _retries_after(ctx, exc):
                        await asyncio.sleep(backoff_s(attempt))
                        attempt += 1
                        continue
                    raise exc
                if status in RETRY_STATUSES and attempt < ctx.retries:
                    await asyncio.sleep(backoff_s(attempt, headers.get("retry-after")))
                    attempt += 1
                    continue
                return parse(_check(ctx, status, data, headers))

    async def _asend(self, ctx: CallContext, method: str, url: str, content: bytes | None) -> tuple[int, Any, bytes]:
        """(status, headers, body): straight through aiohttp when it carries this loop's traffic
        (skipping httpx's client layer), else through the httpx client; bodies capped alike."""
        client = self.aclient()
        fast = self._afast.get(asyncio.get_running_loop())
        if fast is not None:
            return await fast(method, url, content, self._headers(ctx, content), ctx.timeout,
                              partial(body_collector, ctx))
        request = client.build_request(method, _url(url), content=content, headers=self._headers(ctx, content),
                                       timeout=ctx.timeout)
        resp = await client.send(request, stream=True)
        try:
            return resp.status_code, resp.headers, await aread(resp, body_collector(ctx, resp.status_code,
                                                                                     resp.headers))
        finally:
            await resp.aclose()

    # -- probes (discovery) --------------------------------------------------------------
    def probe(self, ctx: CallContext, url: str) -> ProbeReply:
        """``GET url`` once, no retries, no status/body classification: for fingerprinting. The body
        is capped at ``PROBE_BODY_LIMIT`` and the probe ends by ``ctx.deadline_s``. Connection
        failures, timeouts and oversized replies are mapped to the error tree."""
        deadline = ctx.deadline()
        with _mapped(ctx, deadline), bound(deadline):
            t0 = time.perf_counter()
            with self.client().stream("GET", url, headers=ctx.headers, timeout=ctx.timeout) as resp:
                return ProbeReply.of(resp, read(resp, probe_collector(ctx, resp.headers)), t0)

    async def aprobe(self, ctx: CallContext, url: str) -> ProbeReply:
        deadline = ctx.deadline()
        with _mapped(ctx, deadline):
            client = self.aclient()
            t0 = time.perf_counter()
            with abound(deadline):
                async with client.stream("GET", url, headers=ctx.headers, timeout=ctx.timeout) as resp:
                    return ProbeReply.of(resp, await aread(resp, probe_collector(ctx, resp.headers)), t0)

    # -- streams -------------------------------------------------------------------------
    def stream(self, ctx: CallContext, url: str, body: Any, parser: StreamParser) -> Iterator[ChatChunk]:
        """POST ``body`` and yield the parser's chunks line by line. Retries only before the
        first byte of a 2xx body; a failure after that propagates (never replayed). Lines are
        capped; the headers, and then each line, must arrive within ``ctx.deadline_s``."""
        content = encode(ctx, body)
        attempt = 0
        deadline = ctx.deadline()
        while True:
            with _mapped(ctx, deadline):
                parser.t0 = time.perf_counter()
                client = self.client()
                request = client.build_request("POST", _url(url), content=content,
                                               headers=self._headers(ctx, content), timeout=ctx.timeout)
                try:
                    with bound(deadline):
                        resp = client.send(request, stream=True)
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    if attempt < _retries_after(ctx, exc):
                        time.sleep(backoff_s(attempt))
                        attempt += 1
                        continue
                    raise exc
                try:
                    status = resp.status_code
                    if status >= 300:
                        if status in RETRY_STATUSES and attempt < ctx.retries:
                            time.sleep(backoff_s(attempt, resp.headers.get("retry-after")))
                            attempt += 1
                            continue
                        with bound(deadline):
                            _check(ctx, status, read(resp, body_collector(ctx, status, resp.headers)), resp.headers)
                    lines, chunks = line_splitter(ctx), resp.iter_bytes()
                    while True:
                        with bound(deadline):
                            chunk = next(chunks, None)
                        if chunk is None:
                            break
                        if got := lines.feed(chunk):
                            deadline.renew()
                            for line in got:
                                if line:
                                    yield from parser.feed(line)
                    if last := lines.close():
                        yield from parser.feed(last)
                    yield from parser.close()
                    return
                finally:
                    resp.close()

    async def astream(self, ctx: CallContext, url: str, body: Any, parser: StreamParser) -> AsyncIterator[ChatChunk]:
        content = encode(ctx, body)
        attempt = 0
        deadline = ctx.deadline()
        while True:
            with _mapped(ctx, deadline):
                client = self.aclient()
                parser.t0 = time.perf_counter()
                request = client.build_request("POST", _url(url), content=content,
                                               headers=self._headers(ctx, content), timeout=ctx.timeout)
                try:
                    with abound(deadline):
                        resp = await client.send(request, stream=True)
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    if attempt < _retries_after(ctx, exc):
                        await asyncio.sleep(backoff_s(attempt))
                        attempt += 1
                        continue
                    raise exc
                try:
                    status = resp.status_code
                    if status >= 300:
                        if status in RETRY_STATUSES and attempt < ctx.retries:
                            await asyncio.sleep(backoff_s(attempt, resp.headers.get("retry-after")))
                            attempt += 1
                            continue
                        with abound(deadline):
                            data = await aread(resp, body_collector(ctx, status, resp.headers))
                        _check(ctx, status, data, resp.headers)
                    lines, chunks = line_splitter(ctx), resp.aiter_bytes()
                    while True:
                        with abound(deadline):
                            chunk = await anext(chunks, None)
                        if chunk is None:
                            break
                        if got := lines.feed(chunk):
                            deadline.renew()
                            for line in got:
                                if line:
                                    for item in parser.feed(line):
                                        yield item
                    if last := lines.close():
                        for item in parser.feed(last):
                            yield item
                    for item in parser.close():
                        yield item
                    return
                finally:
                    await resp.aclose()

    # -- plain downloads (image URLs) ----------------------------------------------------
    def get_bytes(self, ctx: CallContext, url: str, *, limit: int = MAX_FETCH_BYTES) -> bytes:
        """GET ``url`` and return its body (at most ``limit`` bytes), errors mapped like any call.
        Redirects are followed; ``ctx.headers`` are NOT sent (the URL may belong to a third party)."""
        deadline = ctx.deadline()
        with _mapped(ctx, deadline), bound(deadline), \
                self.client().stream("GET", url, timeout=ctx.timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise ctx.error_from(resp.status_code, _decode_body(read(resp, body_collector(ctx, 400, {}))))
            return read(resp, fetch_collector(ctx, url, limit))

    async def aget_bytes(self, ctx: CallContext, url: str, *, limit: int = MAX_FETCH_BYTES) -> bytes:
        deadline = ctx.deadline()
        with _mapped(ctx, deadline), abound(deadline):
            async with self.aclient().stream("GET", url, timeout=ctx.timeout, follow_redirects=True) as resp:
                if resp.status_code >= 400:
                    raise ctx.error_from(resp.status_code,
                                         _decode_body(await aread(resp, body_collector(ctx, 400, {}))))
                return await aread(resp, fetch_collector(ctx, url, limit))

    @staticmethod
    def _headers(ctx: CallContext, content: bytes | None) -> dict[str, str]:
        if content is None:
            return ctx.headers
        return {**ctx.headers, "Content-Type": "application/json"}


def _no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that accepts nothing (its policy allows no domain)."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


__all__ = ["CallContext", "ProbeReply", "Transport", "backoff_s", "dumps", "loads", "ServerError"]

"""What every backend talks HTTP through: ``Transport`` owns the pooled clients (``clients.py``),
builds call contexts (server, model, split timeout, retries, caps) and runs plans with the two
drivers (``driver.py``).

A backend builds each operation as a sans-IO plan (``exchange.py``: what to send, how to read the
reply, the retry policy of ``retry.py``, the error funnel of ``funnel.py``) and hands the same plan
to ``run``/``arun`` (one result) or ``iterate``/``aiterate`` (a stream of chunks). ``request``,
``stream``, ``probe`` and ``get_bytes`` (and their ``a`` twins) run the one-request plans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx

from .backends.base import ErrorClassifier, StreamParser
from .call_context import DEFAULT_UNREACHABLE_HINT, CallContext
from .clients import Clients, default_async_transport
from .config import LocalSettings
from .driver import AsyncDriver, SyncDriver
from .exchange import MAX_FETCH_BYTES, Operation, ProbeReply, call, download, encode, probe, stream
from .json_codec import dumps, loads
from .provisioning.events import ProgressEvent
from .retry import CONNECT_RETRIES, RETRY_STATUSES, backoff_s
from .timeouts import TimeoutKind, split_timeout, total_deadline_s
from .types import ChatChunk

T = TypeVar("T")

#: Call contexts a transport keeps (one per server, model, timeout kind and retries in use).
CONTEXT_CACHE_SIZE = 1024


def _identity(data: Any) -> Any:
    return data


class Transport:
    """Pooled httpx clients for every server patinox talks to, and the drivers that use them.

    ``transport=`` injects an httpx transport (``httpx.MockTransport`` serves both sync and async);
    without one, async traffic goes through aiohttp (``async_transport_factory`` replaces it).
    """

    def __init__(
        self,
        settings: LocalSettings | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        *,
        async_transport_factory: Callable[[], httpx.AsyncBaseTransport | None] | None = None,
    ) -> None:
        self.settings = settings or LocalSettings()
        factory = async_transport_factory or (default_async_transport if transport is None else None)
        self.clients = Clients(self.settings, transport, factory)
        self.driver = SyncDriver(self.clients.client)
        self.adriver = AsyncDriver(self.clients.aclient, self.clients.fast)
        self._contexts: dict[tuple[object, ...], CallContext] = {}

    # -- timeouts and contexts -------------------------------------------------------------
    def timeout(self, kind: TimeoutKind = "normal", read: float | None = None) -> httpx.Timeout:
        """The split timeout of a request of ``kind`` (``timeouts.split_timeout``)."""
        return split_timeout(self.settings, kind, read)

    def deadline_s(self, kind: TimeoutKind = "normal", read: float | None = None) -> float:
        """The total deadline of one call (``timeouts.total_deadline_s``)."""
        return total_deadline_s(self.settings, kind, read)

    def context(self, service: str, classify: ErrorClassifier, *, model: str | None = None,
                kind: TimeoutKind = "normal", read: float | None = None, unreachable_hint: str | None = None,
                retries: int | None = None, headers: dict[str, str] | None = None) -> CallContext:
        """What one call needs; ``headers``: extra ones (a request's), under the server's auth headers.
        Built once per distinct set of arguments (a context is never changed; the settings are read
        when it is built): every request otherwise pays for the same timeouts and headers again."""
        key = (service, classify, model, kind, read, unreachable_hint, retries,
               tuple(headers.items()) if headers else None)
        ctx = self._contexts.get(key)
        if ctx is None:
            settings = self.settings
            auth = settings.auth_headers(service)
            ctx = CallContext(
                service=service,
                classify=classify,
                timeout=self.timeout(kind, read),
                model=model,
                unreachable_hint=unreachable_hint or DEFAULT_UNREACHABLE_HINT,
                headers={**headers, **auth} if headers else auth,
                retries=settings.max_retries if retries is None else retries,
                deadline_s=self.deadline_s(kind, read),
                max_body=settings.max_response_bytes,
            )
            if len(self._contexts) >= CONTEXT_CACHE_SIZE:
                self._contexts.clear()
            self._contexts[key] = ctx
        return ctx

    # -- clients ---------------------------------------------------------------------------
    def client(self) -> httpx.Client:
        return self.clients.client()

    def aclient(self) -> httpx.AsyncClient:
        return self.clients.aclient()

    def close(self) -> None:
        self.clients.close()

    async def aclose(self) -> None:
        await self.clients.aclose()

    # -- plans -----------------------------------------------------------------------------
    def run(self, plan: Operation[T]) -> T:
        """Run a plan to its result (sync)."""
        return self.driver.run(plan)

    async def arun(self, plan: Operation[T]) -> T:
        """Run a plan to its result on the running event loop."""
        return await self.adriver.run(plan)

    def iterate(self, plan: Operation[Any]) -> Iterator[ChatChunk]:
        """The chunks a streaming plan emits (sync)."""
        return self.driver.iterate(plan)

    def aiterate(self, plan: Operation[Any]) -> AsyncIterator[ChatChunk]:
        """The chunks a streaming plan emits, on the running event loop."""
        return self.adriver.iterate(plan)

    def events(self, plan: Operation[Any]) -> Iterator[ProgressEvent]:
        """The progress events a pull or download plan emits (sync); closing the iterator ends it."""
        return self.driver.iterate(plan)

    def aevents(self, plan: Operation[Any]) -> AsyncIterator[ProgressEvent]:
        """The progress events a pull or download plan emits, on the running event loop."""
        return self.adriver.iterate(plan)

    # -- one-request plans -----------------------------------------------------------------
    def request(self, ctx: CallContext, method: str, url: str, body: Any = None,
                parse: Callable[[Any], T] = _identity) -> T:
        """One complete request (``exchange.call``): JSON in, ``parse(JSON)`` out, errors mapped."""
        return self.driver.run(call(ctx, method, url, body, parse))

    async def arequest(self, ctx: CallContext, method: str, url: str, body: Any = None,
                       parse: Callable[[Any], T] = _identity) -> T:
        return await self.adriver.run(call(ctx, method, url, body, parse))

    def stream(self, ctx: CallContext, url: str, body: Any, parser: StreamParser) -> Iterator[ChatChunk]:
        """POST ``body`` and yield the parser's chunks (``exchange.stream``)."""
        return self.driver.iterate(stream(ctx, url, body, parser))

    def astream(self, ctx: CallContext, url: str, body: Any, parser: StreamParser) -> AsyncIterator[ChatChunk]:
        return self.adriver.iterate(stream(ctx, url, body, parser))

    def probe(self, ctx: CallContext, url: str) -> ProbeReply:
        """``GET url`` once for fingerprinting (``exchange.probe``)."""
        return self.driver.run(probe(ctx, url))

    async def aprobe(self, ctx: CallContext, url: str) -> ProbeReply:
        return await self.adriver.run(probe(ctx, url))

    def get_bytes(self, ctx: CallContext, url: str, *, limit: int = MAX_FETCH_BYTES) -> bytes:
        """A download (``exchange.download``): redirects followed, no auth headers sent."""
        return self.driver.run(download(ctx, url, limit))

    async def aget_bytes(self, ctx: CallContext, url: str, *, limit: int = MAX_FETCH_BYTES) -> bytes:
        return await self.adriver.run(download(ctx, url, limit))


__all__ = ["CONNECT_RETRIES", "RETRY_STATUSES", "CallContext", "ProbeReply", "TimeoutKind", "Transport", "backoff_s",
           "dumps", "encode", "loads"]

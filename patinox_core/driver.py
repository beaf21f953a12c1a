"""The two drivers that execute any plan of ``exchange.py``: ``SyncDriver`` over an ``httpx.Client``,
``AsyncDriver`` over an ``httpx.AsyncClient`` (and aiohttp's direct path when it carries the loop's
traffic). They do the I/O of each step and nothing else: every decision (retries, checks, parsing,
error mapping) is the plan's. An exception a step raises is thrown into the plan, which maps what
it knows (``funnel.py``); anything else comes back out unchanged.

Each socket wait is bounded by the call's total deadline: ``deadline.bound`` (sync, per thread) and
``deadline.abound`` (async, never around a ``yield`` to the caller).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

import httpx

from .deadline import abound, bound, thread_state
from .exchange import RECEIVE, Fetch, Open, Operation, ReadRest, Receive, Reply, Request, Sleep
from .limits import BodyCollector
from .provisioning.events import ProgressEvent
from .replies import aread, read
from .types import ChatChunk

T = TypeVar("T")

#: parsed URLs by string: httpx re-parses a str URL on every request (~10 µs, 4% of a loopback call)
_url = functools.lru_cache(maxsize=512)(httpx.URL)


class FastFetch(Protocol):
    """``AiohttpTransport.request_bytes``: one complete request without httpx's client layer."""

    def __call__(self, method: str, url: str, content: bytes | None, headers: Any, timeout: httpx.Timeout,
                 collector: Callable[[int, Any], BodyCollector]) -> Awaitable[tuple[int, Any, bytes]]: ...


def _build(client: httpx.Client | httpx.AsyncClient, r: Request) -> httpx.Request:
    return client.build_request(r.method, _url(r.url), content=r.content, headers=r.headers, timeout=r.timeout)


class _SyncSteps:
    """The I/O of one sync operation: at most one open (streamed) reply at a time."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.open: httpx.Response | None = None
        self.chunks: Iterator[bytes] = iter(())
        self.deadline: Any = None

    def fetch(self, step: Fetch) -> Reply:
        r = step.request
        with bound(r.deadline):
            resp = self.client.send(_build(self.client, r), stream=True, follow_redirects=r.follow_redirects)
            try:
                return Reply(resp.status_code, resp.headers, read(resp, step.collect(resp.status_code, resp.headers)))
            finally:
                resp.close()

    def start(self, step: Open) -> Reply:
        self.close()
        with bound(step.request.deadline):
            resp = self.client.send(_build(self.client, step.request), stream=True)
        self.open, self.chunks, self.deadline = resp, resp.iter_bytes(), step.request.deadline
        return Reply(resp.status_code, resp.headers, b"")

    def receive(self, step: Receive) -> bytes | None:
        # ``with bound(self.deadline)``, written out (``SyncDriver.iterate`` inlines it once more)
        previous = getattr(thread_state, "deadline", None)
        thread_state.deadline = self.deadline
        try:
            return next(self.chunks, None)
        finally:
            thread_state.deadline = previous

    def read_rest(self, step: ReadRest) -> bytes:
        assert self.open is not None, "ReadRest without an open reply"
        with bound(self.deadline):
            return read(self.open, step.body)

    def sleep(self, step: Sleep) -> None:
        time.sleep(step.seconds)

    def close(self) -> None:
        if self.open is not None:
            self.open.close()
            self.open = None


_SYNC_STEPS: dict[type, Callable[[_SyncSteps, Any], Any]] = {
    Receive: _SyncSteps.receive, Fetch: _SyncSteps.fetch, Open: _SyncSteps.start, ReadRest: _SyncSteps.read_rest,
    Sleep: _SyncSteps.sleep}


class SyncDriver:
    """Runs plans over the ``httpx.Client`` that ``client()`` returns. A step's result is sent into
    the plan; an exception it raises is thrown into the plan (which maps what it knows)."""

    def __init__(self, client: Callable[[], httpx.Client]) -> None:
        self._client = client

    def run(self, plan: Operation[T]) -> T:
        """The plan's result (a plan of a complete reply: it emits no chunk). A plain loop, not
        ``iterate``: a generator per call costs its frame and its resumes."""
        steps = _SyncSteps(self._client())
        try:
            step = plan.send(None)
            while True:
                if type(step) is ChatChunk or type(step) is list or type(step) is ProgressEvent:
                    raise AssertionError(f"a complete-reply plan emitted {step!r}")
                step = _sync_advance(plan, steps, step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            if steps.open is not None:
                steps.close()
            plan.close()

    def iterate(self, plan: Operation[Any]) -> Iterator[Any]:
        """The chunks (or progress events) a streaming plan emits."""
        steps = _SyncSteps(self._client())
        try:
            step = plan.send(None)
            while True:
                if type(step) is ChatChunk or type(step) is ProgressEvent:
                    yield step
                    step = plan.send(None)
                    continue
                if type(step) is list:  # one read's chunks, then the next read (``exchange.stream``)
                    yield from step
                    step = RECEIVE
                if step is not RECEIVE:
                    step = _sync_advance(plan, steps, step)
                    continue
                # the next read of the stream: ``_sync_advance`` of ``steps.receive``, written out (per chunk)
                previous = getattr(thread_state, "deadline", None)
                thread_state.deadline = steps.deadline
                error: Exception | None = None
                try:
                    data = next(steps.chunks, None)
                except Exception as exc:  # the plan maps what it knows; anything else comes back out
                    error = exc
                finally:
                    thread_state.deadline = previous
                step = plan.send(data) if error is None else plan.throw(error)
        except StopIteration:
            return
        finally:
            steps.close()
            plan.close()


def _sync_advance(plan: Operation[Any], steps: _SyncSteps, step: Any) -> Any:
    """Do ``step``'s I/O; the plan's next step, given the result or thrown the exception (it maps
    what it knows; anything else comes back out). ``StopIteration`` when the plan returns."""
    try:
        reply = steps.receive(step) if step is RECEIVE else _SYNC_STEPS[type(step)](steps, step)
    except Exception as exc:
        return plan.throw(exc)
    return plan.send(reply)


class _AsyncSteps:
    """The I/O of one async operation: at most one open (streamed) reply at a time."""

    def __init__(self, client: httpx.AsyncClient, fast: FastFetch | None) -> None:
        self.client = client
        self.fast = fast
        self.open: httpx.Response | None = None
        self.chunks: AsyncIterator[bytes] | None = None
        self.deadline: Any = None

    async def fetch(self, step: Fetch) -> Reply:
        r = step.request
        with abound(r.deadline):
            if self.fast is not None and not r.follow_redirects:
                return Reply(*await self.fast(r.method, r.url, r.content, r.headers, r.timeout, step.collect))
            resp = await self.client.send(_build(self.client, r), stream=True, follow_redirects=r.follow_redirects)
            try:
                return Reply(resp.status_code, resp.headers,
                             await aread(resp, step.collect(resp.status_code, resp.headers)))
            finally:
                await resp.aclose()

    async def start(self, step: Open) -> Reply:
        await self.aclose()
        with abound(step.request.deadline):
            resp = await self.client.send(_build(self.client, step.request), stream=True)
        self.open, self.chunks, self.deadline = resp, resp.aiter_bytes(), step.request.deadline
        return Reply(resp.status_code, resp.headers, b"")

    async def receive(self, step: Receive) -> bytes | None:
        assert self.chunks is not None, "Receive without an open reply"
        with abound(self.deadline):
            return await anext(self.chunks, None)

    async def read_rest(self, step: ReadRest) -> bytes:
        assert self.open is not None, "ReadRest without an open reply"
        with abound(self.deadline):
            return await aread(self.open, step.body)

    async def sleep(self, step: Sleep) -> None:
        await asyncio.sleep(step.seconds)

    async def aclose(self) -> None:
        if self.open is not None:
            await self.open.aclose()
            self.open = self.chunks = None


_ASYNC_STEPS: dict[type, Callable[[_AsyncSteps, Any], Awaitable[Any]]] = {
    Receive: _AsyncSteps.receive, Fetch: _AsyncSteps.fetch, Open: _AsyncSteps.start, ReadRest: _AsyncSteps.read_rest,
    Sleep: _AsyncSteps.sleep}


class AsyncDriver:
    """Runs plans over the ``httpx.AsyncClient`` of the running loop (``client()``); complete requests
    go straight through aiohttp when ``fast()`` offers its direct path for this loop."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], fast: Callable[[], FastFetch | None]) -> None:
        self._client = client
        self._fast = fast

    async def run(self, plan: Operation[T]) -> T:
        """The plan's result (a plan of a complete reply: it emits no chunk). A plain coroutine, not
        ``iterate``: an async generator per call costs the loop's async-generator bookkeeping."""
        steps = _AsyncSteps(self._client(), self._fast())
        try:
            step = _first(plan)
            while type(step) is not _Done:
                if type(step) is ChatChunk or type(step) is list:
                    raise AssertionError(f"a complete-reply plan emitted {step!r}")
                step = await _advance(plan, steps, step)
            return step.value  # type: ignore[no-any-return]
        finally:
            await steps.aclose()
            plan.close()

    async def iterate(self, plan: Operation[Any]) -> AsyncIterator[Any]:
        """The chunks (or progress events) a streaming plan emits."""
        steps = _AsyncSteps(self._client(), self._fast())
        try:
            step = _first(plan)
            while type(step) is not _Done:
                if type(step) is ChatChunk or type(step) is ProgressEvent:
                    yield step
                    step = _resume(plan, None)
                    continue
                if type(step) is list:  # one read's chunks, then the next read (``exchange.stream``)
                    for chunk in step:
                        yield chunk
                    step = RECEIVE
                step = await _advance(plan, steps, step)
        finally:
            await steps.aclose()
            plan.close()


class _Done:
    """The plan returned ``value`` (a coroutine cannot let ``StopIteration`` through)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _first(plan: Operation[Any]) -> Any:
    return _resume(plan, None)


def _resume(plan: Operation[Any], reply: Any, error: Exception | None = None) -> Any:
    """The plan's next step after ``reply`` (or ``error`` thrown in), or ``_Done`` with its result."""
    try:
        return plan.throw(error) if error is not None else plan.send(reply)
    except StopIteration as stop:
        return _Done(stop.value)


async def _advance(plan: Operation[Any], steps: _AsyncSteps, step: Any) -> Any:
    """Do ``step``'s I/O; the plan's next step, given the result or thrown the exception (it maps
    what it knows; anything else comes back out)."""
    try:
        reply = await (steps.receive(step) if step is RECEIVE else _ASYNC_STEPS[type(step)](steps, step))
    except Exception as exc:
        return _resume(plan, None, exc)
    return _resume(plan, reply)


__all__ = ["AsyncDriver", "FastFetch", "SyncDriver"]

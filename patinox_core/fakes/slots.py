"""Slot-limited serving, shared by the engine fakes (llama-server, vLLM, LiteLLM proxy).

A ``SlotPool`` lets ``slots`` requests work at once; the rest wait in a FIFO queue and each freed
slot goes straight to the oldest waiter. With ``queue_limit=N`` a request that finds every slot
taken and N already waiting is refused. ``SlotServer`` (a ``FakeOpenAIServer``) puts its work
routes (chat, embeddings) behind a pool: each served request holds a slot for ``service_s``
seconds of simulated work (an ``asyncio.sleep``: the loop never blocks; longer while ``hold`` is
set, so a test can fill the server at a known moment), a refused one gets
``busy_status`` with a JSON error body and, if ``retry_after`` is set, a ``Retry-After`` header.
Every work request is recorded (arrival, start, finish, slot, conversation key) for tests and
benchmarks; ``stats()`` sums them up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_compat import FakeOpenAIServer, OpenAIModel

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


@dataclass
class RequestRecord:
    """One work request: ``perf_counter`` times, the slot it held (None: refused or cut off), and
    ``key``, the text of its first message or input (which conversation it belongs to)."""

    path: str
    key: str
    arrived: float
    started: float | None = None
    finished: float | None = None
    slot: int | None = None
    refused: bool = False


def conversation_key(body: Any, limit: int = 200) -> str:
    """The first message's text (chat) or the first input (embeddings), cut to ``limit`` chars.

    >>> conversation_key({"messages": [{"role": "user", "content": "conv 7: hello"}, {"content": "x"}]})
    'conv 7: hello'
    >>> conversation_key({"input": ["a", "b"]}), conversation_key(None)
    ('a', '')
    """
    if not isinstance(body, dict):
        return ""
    first: Any = None
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        first = messages[0].get("content")
    elif "input" in body:
        first = body["input"][0] if isinstance(body["input"], list) and body["input"] else body["input"]
    if isinstance(first, list):  # typed content parts: the first text part
        first = next((p.get("text") for p in first if isinstance(p, dict) and p.get("type") == "text"), "")
    return first[:limit] if isinstance(first, str) else ""


class SlotPool:
    """``slots`` at once, a FIFO queue behind them, refusal past ``queue_limit`` waiters.

    Used from one event loop (the fake server's); counters may be read from any thread.
    """

    def __init__(self, slots: int, queue_limit: int | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.queue_limit = queue_limit
        self._free: deque[int] = deque(range(slots))
        self._waiters: deque[asyncio.Future[int]] = deque()
        self.records: list[RequestRecord] = []
        self.served = 0
        self.refused = 0
        self.max_concurrency = 0
        self.max_queued = 0

    @property
    def processing(self) -> int:
        """Slots working now."""
        return self.slots - len(self._free)

    @property
    def queued(self) -> int:
        """Requests waiting for a slot now."""
        return sum(1 for w in self._waiters if not w.done())

    def busy(self, slot: int) -> bool:
        return slot not in self._free

    async def acquire(self, record: RequestRecord) -> int | None:
        """A slot id once one is free (FIFO), or None when the queue is full (refused)."""
        self.records.append(record)
        if self._free and not self._waiters:
            return self._start(record, self._free.popleft())
        if self.queue_limit is not None and self.queued >= self.queue_limit:
            record.refused = True
            self.refused += 1
            return None
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.max_queued = max(self.max_queued, self.queued)
        try:
            slot = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._hand_over(waiter.result())  # a slot was handed over just as the wait was cancelled
            else:
                self._waiters.remove(waiter)
            raise
        return self._start(record, slot)

    def release(self, slot: int, record: RequestRecord) -> None:
        """Free ``slot``: it goes to the oldest waiter, else back to the pool."""
        record.finished = time.perf_counter()
        self.served += 1
        self._hand_over(slot)

    def _start(self, record: RequestRecord, slot: int) -> int:
        record.started, record.slot = time.perf_counter(), slot
        self.max_concurrency = max(self.max_concurrency, self.processing)
        return slot

    def _hand_over(self, slot: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)

    def reset(self) -> None:
        """Forget the records and counters (slots in use stay in use)."""
        self.records = []
        self.served = self.refused = self.max_concurrency = self.max_queued = 0

    def stats(self, *, records: bool = False) -> dict[str, Any]:
        """Counters, and with ``records`` every request as a dict."""
        out: dict[str, Any] = {"slots": self.slots, "queue_limit": self.queue_limit, "served": self.served,
                               "refused": self.refused, "max_concurrency": self.max_concurrency,
                               "max_queued": self.max_queued, "processing": self.processing, "queued": self.queued}
        if records:
            out["records"] = [asdict(r) for r in list(self.records)]
        return out


class SlotServer(FakeOpenAIServer):
    """A ``FakeOpenAIServer`` whose POSTs to ``work_paths`` go through a ``SlotPool`` (see the
    module docstring). Every such request holds a slot, even one the handler then rejects; the
    reply is made by ``handle`` once the work is done. Engines shape the refusal in ``busy_reply``.
    """

    busy_status = 503
    work_paths: tuple[str, ...] = ("/v1/chat/completions", "/v1/embeddings")

    def __init__(self, models: Iterable[OpenAIModel], *, slots: int = 1, service_s: float = 0.05,
                 queue_limit: int | None = None, retry_after: float | None = None, port: int = 0) -> None:
        super().__init__(models, port=port)
        self.pool = SlotPool(slots, queue_limit)
        self.service_s = service_s
        self.retry_after = retry_after
        self.hold = False  # True: work requests keep their slots until it is False again (a full server on cue)

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        if request.method != "POST" or request.path not in self.work_paths:
            return self.handle(request)
        record = RequestRecord(request.path, conversation_key(request_json(request)), time.perf_counter())
        slot = await self.pool.acquire(record)
        if slot is None:
            busy = self.busy_reply()
            if self.retry_after is not None:
                busy.headers["Retry-After"] = _seconds(self.retry_after)
            return busy
        try:
            await asyncio.sleep(self.service_s)
            while self.hold:
                await asyncio.sleep(0.005)
            return self.handle(request)
        finally:
            self.pool.release(slot, record)

    def busy_reply(self) -> Reply:
        """The reply to a refused request (``busy_status``, the engine's error envelope)."""
        return self.error(self.busy_status, f"server busy: {self.pool.slots} slots working and "
                          f"{self.pool.queue_limit} requests waiting", "ServiceUnavailableError")

    def stats(self, *, records: bool = False) -> dict[str, Any]:
        """The pool's counters (see ``SlotPool.stats``)."""
        return self.pool.stats(records=records)

    def reset_stats(self) -> None:
        self.pool.reset()


def request_json(request: FakeRequest) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    try:
        return request.json
    except ValueError:
        return None


def _seconds(value: float) -> str:
    """``Retry-After`` is whole seconds: round up, at least 1.

    >>> _seconds(0.2), _seconds(2), _seconds(2.5)
    ('1', '2', '3')
    """
    whole = int(value)
    return str(max(1, whole if whole == value else whole + 1))


__all__ = ["RequestRecord", "SlotPool", "SlotServer", "conversation_key", "request_json"]

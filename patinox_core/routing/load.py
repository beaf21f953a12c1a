"""Load-aware dispatch: slots per server and model, one fair FIFO queue, least expected completion time.

A ``Lane`` is one model on one server: ``capacity`` slots (what the server reports, such as
llama-server's ``/props`` ``total_slots``; else the endpoint's ``max_concurrency``; else its kind's
``default_slots``), the requests in flight there, a moving average of how long one takes, and
``busy_until`` after a 503/429 (back-pressure: no new request there until then; never a cooldown).

A request is a ``Ticket`` over the lanes of its candidates. It gets the free lane (a slot left, not
busy) with the least expected completion time, ``(in flight + 1) / capacity * latency``; usable
servers (healthy, not cooling down) come first, the others only once no usable one is left to try,
and copies with the model loaded before cold ones. With an affinity (``prefer``) the ticket waits
for that lane unless it is saturated. When no lane is free the ticket waits in one FIFO queue; each
freed slot goes to the oldest ticket that can use it (work-conserving: a free slot never idles while
a ticket that may use it waits). Every decision is made under one lock by the code below; the sync
and async waits (``acquire``/``aacquire``) differ only in how the waiter sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger("patinox_core.routing")

#: Weight of a new measurement in a lane's latency average.
LATENCY_WEIGHT = 0.3
#: Back-off after a busy reply without ``Retry-After`` (doubling per busy reply in a row, capped).
BUSY_BACKOFF_S = 0.05
BUSY_BACKOFF_MAX_S = 2.0
#: An affinity is kept while its lane's load (in flight + tickets waiting for it, per slot) exceeds
#: the least loaded other lane's by at most this much; past that it is saturated and the turn moves.
SATURATION = 2.0

Key = tuple[str, str]  # (server URL, model name)


class Choice(NamedTuple):
    """One candidate of a request as the scheduler sees it."""

    service: str
    model: str
    capacity: int
    usable: bool = True  # healthy and not cooling down
    loaded: bool = True

    @property
    def key(self) -> Key:
        return (self.service, self.model)


@dataclass(slots=True)
class Lane:
    """One model on one server: slots, load and recent latency."""

    service: str
    model: str
    capacity: int
    in_flight: int = 0
    waiting: int = 0  # queued tickets that may use this lane
    sticky: int = 0  # queued tickets whose affinity is this lane
    latency_s: float | None = None
    busy_until: float = 0.0
    busy_streak: int = 0
    served: int = 0
    busy_replies: int = 0
    dimensions: int | None = None  # an embedding model's vector size, once seen

    def free(self, now: float) -> bool:
        return self.in_flight < self.capacity and self.busy_until <= now

    def expected(self, prior: float) -> float:
        """Expected completion time of one more request here."""
        return (self.in_flight + 1) / self.capacity * (self.latency_s or prior)


class Expired(Exception):
    """A ticket's deadline passed while it waited (``routing.fallback`` raises ``ServerBusyError``)."""


@dataclass(eq=False, slots=True)
class Ticket:
    """One request's claim on a slot: its choices, which of them failed, the lane it holds."""

    seq: int
    choices: list[Choice]
    deadline: float
    prefer: Key | None = None
    excluded: frozenset[Key] = frozenset()  # replaced, never changed in place (most tickets exclude nothing)
    lane: Lane | None = None
    queued: bool = False
    since: float = 0.0  # when the slot was granted
    reason: str = ""
    expected: float | None = None  # the granted lane's expected completion time, when several were weighed
    event: threading.Event | None = None  # made when a sync ticket first waits (most never do)
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    usable: bool = False  # every choice usable (``open`` then has nothing to filter)

    def open(self) -> list[Choice]:
        """Choices not excluded; the usable ones when any usable is left, else the rest."""
        if not self.excluded and self.usable:
            return self.choices
        left = [c for c in self.choices if c.key not in self.excluded]
        usable = [c for c in left if c.usable]
        return usable or left

    def wake(self) -> None:
        if self.loop is None:
            if self.event is not None:
                self.event.set()
        elif self.future is not None:
            if asyncio._get_running_loop() is self.loop:  # on the loop's own thread: no self-pipe write
                _resolve(self.future)
            else:
                self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Scheduler:
    """Lanes and the queue of one provider; thread-safe, shared by sync and async callers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lanes: dict[Key, Lane] = {}
        self.queue: list[Ticket] = []  # in arrival (seq) order
        self._lock = threading.Lock()
        self._seq = itertools.count()

    # -- pure decisions (called under the lock) --------------------------------------------
    def _lane(self, choice: Choice) -> Lane:
        lane = self.lanes.get((choice.service, choice.model))
        if lane is None:
            lane = self.lanes[(choice.service, choice.model)] = Lane(choice.service, choice.model, choice.capacity)
        elif lane.capacity != choice.capacity:
            lane.capacity = choice.capacity
        return lane

    def _saturated(self, lane: Lane, others: Sequence[Lane]) -> bool:
        if not others:
            return False
        backlog = (lane.in_flight + lane.sticky) / lane.capacity
        least = min((o.in_flight + o.sticky) / o.capacity for o in others)
        return backlog - least > SATURATION

    def _pick(self, ticket: Ticket, now: float) -> tuple[Lane, str] | None:
        """The lane ``ticket`` gets now, and why; None: it waits."""
        open_ = ticket.open()
        if len(open_) == 1:  # one server: nothing to weigh
            lane = self._lane(open_[0])
            return (lane, "only candidate") if lane.free(now) else None
        lanes = [self._lane(c) for c in open_]
        if ticket.prefer is not None:
            mine = next((lane for lane in lanes if (lane.service, lane.model) == ticket.prefer), None)
            if mine is not None and not self._saturated(mine, [x for x in lanes if x is not mine]):
                return (mine, "affinity") if mine.free(now) else None
        known = [x.latency_s for x in lanes if x.latency_s]
        prior = sum(known) / len(known) if known else 1.0
        best: tuple[tuple[bool, float, int], Lane] | None = None
        for index, (choice, lane) in enumerate(zip(open_, lanes, strict=True)):
            if lane.free(now):
                rank = (not choice.loaded, lane.expected(prior), index)
                if best is None or rank < best[0]:
                    best = (rank, lane)
        if best is None:
            return None
        ticket.expected = best[0][1]
        return best[1], "least expected completion"

    def _take(self, ticket: Ticket, lane: Lane, reason: str, now: float) -> None:
        lane.in_flight += 1
        ticket.lane, ticket.since, ticket.reason = lane, now, reason
        self._dequeue(ticket)

    def _enqueue(self, ticket: Ticket) -> None:
        if ticket.queued:
            return
        ticket.queued = True
        index = len(self.queue)
        while index and self.queue[index - 1].seq > ticket.seq:  # a requeued ticket keeps its place
            index -= 1
        self.queue.insert(index, ticket)
        for choice in ticket.open():
            lane = self._lane(choice)
            lane.waiting += 1
            lane.sticky += choice.key == ticket.prefer

    def _dequeue(self, ticket: Ticket) -> None:
        if not ticket.queued:
            return
        ticket.queued = False
        self.queue.remove(ticket)
        for choice in ticket.open():
            lane = self.lanes.get(choice.key)
            if lane is not None and lane.waiting:
                lane.waiting -= 1
                lane.sticky -= choice.key == ticket.prefer and lane.sticky > 0

    def _grant(self, now: float) -> list[Ticket]:
        """Hand free slots to queued tickets, oldest first; the tickets to wake."""
        woken: list[Ticket] = []
        if not self.queue:
            return woken
        for ticket in list(self.queue):
            if not any(lane.free(now) for lane in self.lanes.values()):
                break
            picked = self._pick(ticket, now)
            if picked is not None:
                self._take(ticket, *picked, now)
                woken.append(ticket)
        return woken

    def _next_wake(self, ticket: Ticket, now: float) -> float:
        """Seconds until ``ticket`` should look again: its deadline, or a busy lane's end."""
        wake = ticket.deadline
        for choice in ticket.open():
            lane = self.lanes.get(choice.key)
            if lane is not None and lane.busy_until > now:
                wake = min(wake, lane.busy_until)
        return max(0.0, wake - now)

    # -- the calls -------------------------------------------------------------------------
    def ticket(self, choices: Sequence[Choice], timeout_s: float, prefer: Key | None = None) -> Ticket:
        """A request's ticket over ``choices`` (in plan order), ending ``timeout_s`` from now."""
        return Ticket(next(self._seq), choices if isinstance(choices, list) else list(choices),
                      self.clock() + timeout_s, prefer, usable=all(c.usable for c in choices))

    def has_choices(self, ticket: Ticket) -> bool:
        """Is any choice of ``ticket`` not excluded yet?"""
        return len(ticket.excluded) < len(ticket.choices)

    def _poll(self, ticket: Ticket, loop: asyncio.AbstractEventLoop | None = None) -> float | None:
        """None once ``ticket`` holds a slot, else how long to wait; ``Expired`` at its deadline."""
        with self._lock:
            if ticket.lane is not None:
                return None
            now = self.clock()
            if now >= ticket.deadline:
                self._dequeue(ticket)
                raise Expired
            fresh = not ticket.queued
            woken = []
            if fresh and not self.queue:  # nobody waits: the ticket takes a free slot, if any, at once
                picked = self._pick(ticket, now)
                if picked is not None:
                    self._take(ticket, *picked, now)
            if ticket.lane is None:
                self._enqueue(ticket)
                woken = self._grant(now)
            if ticket.lane is None:
                if loop is None:
                    ticket.event = ticket.event or threading.Event()
                    ticket.event.clear()
                else:
                    ticket.loop, ticket.future = loop, loop.create_future()
        for other in woken:
            if other is not ticket:
                other.wake()
        if ticket.lane is not None:
            self._log_grant(ticket)
            return None
        if fresh and log.isEnabledFor(logging.DEBUG):
            log.debug("%s queued: no free slot on %s (%d waiting)", ticket.choices[0].model,
                      ", ".join(c.service for c in ticket.open()), len(self.queue))
        return self._next_wake(ticket, self.clock())

    def _at_once(self, ticket: Ticket) -> Lane | None:
        """The lane of a ticket with one choice, taken at once when nobody waits and it has a free
        slot (most requests to a one-server model); None: the full path (``_poll``) decides."""
        if ticket.excluded or len(ticket.choices) != 1 or self.queue:
            return None
        choice = ticket.choices[0]
        with self._lock:
            lane = self.lanes.get((choice.service, choice.model))
            if lane is None or lane.capacity != choice.capacity or self.queue:
                return None
            now = self.clock()
            if lane.in_flight >= lane.capacity or lane.busy_until > now or now >= ticket.deadline:
                return None
            lane.in_flight += 1
            ticket.lane, ticket.since, ticket.reason = lane, now, "only candidate"
        if log.isEnabledFor(logging.DEBUG):
            self._log_grant(ticket)
        return lane

    def acquire(self, ticket: Ticket) -> Lane:
        """Wait (this thread) until ``ticket`` holds a slot; ``Expired`` at its deadline."""
        if (lane := self._at_once(ticket)) is not None:
            return lane
        try:
            while (wait := self._poll(ticket)) is not None:
                assert ticket.event is not None
                ticket.event.wait(wait)
        except BaseException:
            self.cancel(ticket)
            raise
        assert ticket.lane is not None
        return ticket.lane

    async def aacquire(self, ticket: Ticket) -> Lane:
        """Wait (this task) until ``ticket`` holds a slot; ``Expired`` at its deadline."""
        if (lane := self._at_once(ticket)) is not None:
            return lane
        loop = asyncio.get_running_loop()
        try:
            while (wait := self._poll(ticket, loop)) is not None:
                assert ticket.future is not None
                timer = loop.call_later(wait, _resolve, ticket.future)  # cheaper than asyncio.wait
                try:
                    await ticket.future
                finally:
                    timer.cancel()
        except BaseException:
            self.cancel(ticket)
            raise
        assert ticket.lane is not None
        return ticket.lane

    def _free(self, ticket: Ticket, update: Callable[[Lane, float], None] | None = None) -> list[Ticket]:
        lane, now = ticket.lane, self.clock()
        if lane is None:
            return []
        lane.in_flight -= 1
        ticket.lane = None
        if update is not None:
            update(lane, now - ticket.since)
        return self._grant(now)

    def _release(self, ticket: Ticket, update: Callable[[Lane, float], None] | None) -> None:
        with self._lock:
            woken = self._free(ticket, update)
        if woken:
            for other in woken:
                other.wake()

    def release(self, ticket: Ticket, ok: bool = True) -> None:
        """Give the slot back; ``ok``: the request succeeded, its time feeds the lane's latency."""
        lane = ticket.lane
        if lane is not None and not self.queue:
            with self._lock:
                if ticket.lane is lane and not self.queue:  # nobody waits: no slot to hand on
                    lane.in_flight -= 1
                    ticket.lane = None
                    if ok:
                        _served(lane, self.clock() - ticket.since)
                    return
        self._release(ticket, _served if ok else None)

    def busy(self, ticket: Ticket, retry_after: float | None) -> None:
        """The server answered busy (503/429): no request goes there before ``retry_after`` (or a
        short back-off), the slot is given back and the ticket may try again (any lane)."""
        lane = ticket.lane

        def hold_off(lane: Lane, elapsed: float) -> None:
            lane.busy_replies += 1
            lane.busy_streak += 1
            delay = retry_after if retry_after is not None else min(
                BUSY_BACKOFF_S * 2 ** (lane.busy_streak - 1), BUSY_BACKOFF_MAX_S)
            lane.busy_until = max(lane.busy_until, self.clock() + delay)

        if lane is not None:
            log.debug("%s on %s is busy: no new request there for %s", lane.model, lane.service,
                      f"{retry_after:g}s (Retry-After)" if retry_after is not None else "a short back-off")
        self._release(ticket, hold_off)

    def exclude(self, ticket: Ticket) -> None:
        """The server failed this request: give the slot back, never offer it to this ticket again."""
        with self._lock:
            if ticket.lane is not None:
                ticket.excluded = ticket.excluded | {(ticket.lane.service, ticket.lane.model)}
                log.debug("%s on %s failed: the request moves on", ticket.lane.model, ticket.lane.service)
            woken = self._free(ticket)
        for other in woken:
            other.wake()

    def cancel(self, ticket: Ticket) -> None:
        """The request is gone (deadline, cancellation): leave the queue, give back any slot."""
        with self._lock:
            self._dequeue(ticket)
            woken = self._free(ticket)
        for other in woken:
            other.wake()

    def learn_dimensions(self, key: Key, dimensions: int | None) -> None:
        """An embedding model's vector size on one server (jobs split only where sizes agree)."""
        lane = self.lanes.get(key)
        if lane is not None and dimensions:
            lane.dimensions = dimensions

    def dimensions(self, key: Key) -> int | None:
        lane = self.lanes.get(key)
        return None if lane is None else lane.dimensions

    def load(self, key: Key) -> float:
        """How busy a lane is: (in flight + waiting) per slot; 0 for a lane never used."""
        lane = self.lanes.get(key)
        return 0.0 if lane is None else (lane.in_flight + lane.waiting) / lane.capacity

    def snapshot(self) -> list[dict[str, object]]:
        """Per lane: capacity, in flight, queued, recent latency (ms), served and busy replies."""
        with self._lock:
            now = self.clock()
            return [{"service": x.service, "model": x.model, "capacity": x.capacity, "in_flight": x.in_flight,
                     "queued": x.waiting, "latency_ms": None if x.latency_s is None else round(x.latency_s * 1000, 1),
                     "served": x.served, "busy_replies": x.busy_replies, "busy": x.busy_until > now}
                    for x in self.lanes.values()]

    @staticmethod
    def _log_grant(ticket: Ticket) -> None:
        lane = ticket.lane
        if lane is not None and log.isEnabledFor(logging.DEBUG):
            why = ticket.reason if ticket.expected is None else f"{ticket.reason} ({ticket.expected:.3g}s)"
            log.debug("%s -> %s (%s; %d/%d in flight, %d queued)", lane.model, lane.service, why,
                      lane.in_flight, lane.capacity, lane.waiting)


def _served(lane: Lane, elapsed: float) -> None:
    lane.served += 1
    lane.busy_streak = 0
    lane.latency_s = elapsed if lane.latency_s is None else (
        (1 - LATENCY_WEIGHT) * lane.latency_s + LATENCY_WEIGHT * elapsed)


__all__ = ["BUSY_BACKOFF_S", "LATENCY_WEIGHT", "SATURATION", "Choice", "Expired", "Lane", "Scheduler", "Ticket"]

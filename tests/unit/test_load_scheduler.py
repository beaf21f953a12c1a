"""The scheduler's decisions (``routing/load.py``) with a hand-driven clock: no I/O, no sleeps."""

from __future__ import annotations

import asyncio
import threading

import pytest

from patinox_core.routing.load import Choice, Expired, Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fleet() -> list[Choice]:
    return [Choice("http://a", "m", 4), Choice("http://b", "m", 2), Choice("http://c", "m", 1),
            Choice("http://d", "m", 1)]


def test_slots_fill_by_capacity_then_queue_in_fifo_order() -> None:
    clock = Clock()
    s = Scheduler(clock)
    tickets = [s.ticket(_fleet(), 60) for _ in range(10)]
    granted = [t for t in tickets if s._poll(t) is None]
    assert len(granted) == 8  # every slot of the four servers, no more
    assert {k: lane.in_flight for k, lane in s.lanes.items()} == {
        ("http://a", "m"): 4, ("http://b", "m"): 2, ("http://c", "m"): 1, ("http://d", "m"): 1}
    waiting = [t for t in tickets if t.lane is None]
    assert waiting == tickets[8:] and [t.seq for t in s.queue] == [t.seq for t in waiting]
    s.release(tickets[5])  # a slot on b frees: the oldest waiter gets it
    assert tickets[8].lane is not None and tickets[8].lane.service == "http://b" and tickets[9].lane is None


def test_least_expected_completion_uses_measured_latency() -> None:
    clock = Clock()
    s = Scheduler(clock)
    fleet = [Choice("http://fast", "m", 1), Choice("http://slow", "m", 1)]
    for service, seconds in (("http://fast", 0.1), ("http://slow", 1.0)):
        t = s.ticket([c for c in fleet if c.service == service], 60)
        assert s._poll(t) is None
        clock.now += seconds
        s.release(t)
    t = s.ticket(list(reversed(fleet)), 60)  # plan order would say slow first
    assert s._poll(t) is None and t.lane is not None and t.lane.service == "http://fast"


def test_usable_servers_first_and_loaded_copies_before_cold_ones() -> None:
    s = Scheduler(Clock())
    t = s.ticket([Choice("http://down", "m", 8, usable=False), Choice("http://cold", "m", 1, loaded=False),
                  Choice("http://warm", "m", 1)], 60)
    assert s._poll(t) is None and t.lane is not None and t.lane.service == "http://warm"
    s.exclude(t)
    assert s._poll(t) is None and t.lane.service == "http://cold"
    s.exclude(t)
    assert s._poll(t) is None and t.lane.service == "http://down"  # the last resort
    s.exclude(t)
    assert not s.has_choices(t)


def test_busy_server_is_held_off_until_retry_after_then_used_again() -> None:
    clock = Clock()
    s = Scheduler(clock)
    one = [Choice("http://a", "m", 2)]
    t = s.ticket(one, 60)
    assert s._poll(t) is None
    s.busy(t, retry_after=1.0)
    wait = s._poll(t)
    assert wait == pytest.approx(1.0) and t.lane is None  # not before the stated delay
    clock.now += 1.0
    assert s._poll(t) is None and t.lane is not None
    lane = s.lanes[("http://a", "m")]
    assert lane.busy_replies == 1 and lane.in_flight == 1


def test_deadline_expires_in_the_queue() -> None:
    clock = Clock()
    s = Scheduler(clock)
    holder = s.ticket([Choice("http://a", "m", 1)], 60)
    assert s._poll(holder) is None
    waiter = s.ticket([Choice("http://a", "m", 1)], 5)
    assert s._poll(waiter) == pytest.approx(5.0)
    clock.now += 5
    with pytest.raises(Expired):
        s._poll(waiter)
    assert not s.queue and s.lanes[("http://a", "m")].waiting == 0


def test_affinity_waits_for_its_server_unless_saturated() -> None:
    s = Scheduler(Clock())
    both = [Choice("http://a", "m", 1), Choice("http://b", "m", 1)]
    first = s.ticket(both, 60)
    assert s._poll(first) is None and first.lane.service == "http://a"
    sticky = s.ticket(both, 60, prefer=("http://a", "m"))
    assert s._poll(sticky) is not None  # waits for a although b is free
    s.release(first)
    assert sticky.lane is not None and sticky.lane.service == "http://a"
    # saturated: a's backlog far above b's, so the affinity gives way
    crowd = [s.ticket(both, 60, prefer=("http://a", "m")) for _ in range(4)]
    for t in crowd:
        s._poll(t)
    assert any(t.lane is not None and t.lane.service == "http://b" for t in crowd)


def test_threads_wait_and_are_woken_in_order() -> None:
    s = Scheduler()
    holder = s.ticket([Choice("http://a", "m", 1)], 60)
    s.acquire(holder)
    order: list[int] = []
    tickets = [s.ticket([Choice("http://a", "m", 1)], 60) for _ in range(3)]

    def run(t):  # type: ignore[no-untyped-def]
        s.acquire(t)
        order.append(t.seq)
        s.release(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in tickets]
    for th in threads:
        th.start()
    for _ in range(200):  # hang guard: every waiter queued
        if len(s.queue) == 3:
            break
        threading.Event().wait(0.01)
    s.release(holder)
    for th in threads:
        th.join(10)
    assert order == [t.seq for t in tickets]


def test_async_waiters_and_cancellation_give_the_slot_back() -> None:
    async def main() -> None:
        s = Scheduler()
        holder = s.ticket([Choice("http://a", "m", 1)], 60)
        await s.aacquire(holder)
        gone = s.ticket([Choice("http://a", "m", 1)], 60)
        task = asyncio.create_task(s.aacquire(gone))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        nxt = s.ticket([Choice("http://a", "m", 1)], 60)
        waiter = asyncio.create_task(s.aacquire(nxt))
        await asyncio.sleep(0)
        s.release(holder)
        lane = await asyncio.wait_for(waiter, 10)
        assert lane.in_flight == 1 and not s.queue

    asyncio.run(main())

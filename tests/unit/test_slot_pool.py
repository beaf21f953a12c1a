"""SlotPool: N at once, FIFO queue, refusal past the queue limit, cancellation, counters."""

from __future__ import annotations

import asyncio

import pytest

from patinox_core.fakes.slots import RequestRecord, SlotPool


def _record(key: str) -> RequestRecord:
    return RequestRecord("/v1/chat/completions", key, 0.0)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_slots_then_fifo_queue_then_refusal() -> None:
    pool = SlotPool(2, queue_limit=2)
    got: dict[str, int | None] = {}

    async def ask(key: str) -> None:
        got[key] = await pool.acquire(_record(key))

    tasks = [asyncio.create_task(ask(k)) for k in "abcdef"]
    await _settle()
    assert (got["a"], got["b"]) == (0, 1)  # two slots taken at once
    assert "c" not in got and "d" not in got  # two waiting
    assert (got["e"], got["f"]) == (None, None)  # refused: slots + queue_limit reached
    assert (pool.processing, pool.queued, pool.refused) == (2, 2, 2)

    pool.release(1, pool.records[1])  # b's slot goes to the oldest waiter, c
    await _settle()
    assert got["c"] == 1 and "d" not in got
    pool.release(0, pool.records[0])
    await _settle()
    assert got["d"] == 0
    await asyncio.gather(*tasks)

    for slot, rec in ((1, pool.records[2]), (0, pool.records[3])):
        pool.release(slot, rec)
    stats = pool.stats(records=True)
    assert {k: stats[k] for k in ("served", "refused", "max_concurrency", "max_queued", "processing", "queued")} == {
        "served": 4, "refused": 2, "max_concurrency": 2, "max_queued": 2, "processing": 0, "queued": 0}
    assert [r["key"] for r in stats["records"] if r["refused"]] == ["e", "f"]
    started = [r for r in stats["records"] if not r["refused"]]
    assert [r["key"] for r in sorted(started, key=lambda r: r["started"])] == ["a", "b", "c", "d"]


async def test_no_queue_limit_queues_everything() -> None:
    pool = SlotPool(1)
    first = await pool.acquire(_record("a"))
    waiters = [asyncio.create_task(pool.acquire(_record(k))) for k in "bcd"]
    await _settle()
    assert (first, pool.queued, pool.refused) == (0, 3, 0)
    for i in range(3):
        pool.release(0, pool.records[i])
        await _settle()
    assert [w.result() for w in waiters] == [0, 0, 0]
    assert pool.max_queued == 3 and pool.max_concurrency == 1


async def test_a_cancelled_waiter_leaves_the_queue_and_loses_no_slot() -> None:
    pool = SlotPool(1, queue_limit=1)
    await pool.acquire(_record("a"))
    waiter = asyncio.create_task(pool.acquire(_record("b")))
    await _settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.queued == 0
    pool.release(0, pool.records[0])
    assert pool.processing == 0  # the slot came back, nobody holds it
    assert await pool.acquire(_record("c")) == 0


async def test_a_slot_handed_to_a_waiter_cancelled_in_between_goes_to_the_next() -> None:
    pool = SlotPool(1)
    await pool.acquire(_record("a"))
    b = asyncio.create_task(pool.acquire(_record("b")))
    c = asyncio.create_task(pool.acquire(_record("c")))
    await _settle()
    pool.release(0, pool.records[0])  # handed to b ...
    b.cancel()  # ... which is cancelled before it resumes
    await _settle()
    assert b.cancelled() and c.result() == 0
    assert pool.processing == 1 and pool.queued == 0


def test_reset_keeps_slots_in_use() -> None:
    async def run() -> SlotPool:
        pool = SlotPool(2)
        await pool.acquire(_record("a"))
        pool.reset()
        return pool

    pool = asyncio.run(run())
    assert (pool.served, pool.records, pool.processing) == (0, [], 1)


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SlotPool(0)

"""Timing machinery: the fake-server process, bracketed blocks, rounds and their statistics.

Every client's timed block sits between two blocks of the section's floor (raw httpx), so slow
drift in machine load cancels out of the ratio. Rounds repeat the whole sequence; the client
order rotates each round so no client always follows the same neighbour.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .child import ChildProcess


class ServerProcess(ChildProcess):
    """``benchmarks.server`` in a child process; ``urls[i]`` is port i's base URL."""

    def __init__(self, ports: int = 1, **options: float) -> None:
        args = ["--ports", str(ports)]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        super().__init__("benchmarks.server", args, "benchmark server")
        self.ports: list[int] = self.ready["ports"]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]

    def kill_port(self, index: int) -> None:
        """Stop listening on port ``index`` and reset its connections (a crashed server)."""
        self._control(f"kill {index}")

    def start_port(self, index: int) -> None:
        self._control(f"start {index}")

    def stats(self) -> dict[str, Any]:
        """Requests per path and per port, embedding batch sizes, since the last ``reset()``."""
        return json.loads(self._control("stats"))


@dataclass
class Result:
    """One row of one section: seconds per op for each round, and the bracketing floor's."""

    name: str
    per_op: list[float] = field(default_factory=list)
    floor_per_op: list[float] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratios(self) -> list[float]:
        """Per-round time ratio: this row ÷ the mean of the two floor blocks around it."""
        return [c / f for c, f in zip(self.per_op, self.floor_per_op, strict=True)]

    @property
    def median(self) -> float:
        return statistics.median(self.per_op)

    @property
    def best(self) -> float:
        return min(self.per_op)


@dataclass
class Case:
    """A row to measure: ``build()`` makes the client (untimed) and returns one operation."""

    name: str
    build: Callable[[], Any]
    note: str = ""
    scale: float = 1.0  # fraction of the section's ops per block (for very slow clients)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text[:160]


def _block(op: Callable[[], Any], n: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        op()
    return (time.perf_counter() - t0) / n


async def _ablock(op: Callable[[], Awaitable[Any]], n: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - t0) / n


def _build_all(cases: list[Case], log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Result]]:
    ops: dict[str, Any] = {}
    results: dict[str, Result] = {}
    for case in cases:
        results[case.name] = Result(case.name, note=case.note)
        try:
            ops[case.name] = case.build()
        except Exception as exc:
            results[case.name].error = _describe(exc)
            log(f"  skip {case.name}: {results[case.name].error}")
    return ops, results


def bracketed(floor: Case, cases: list[Case], *, n: int, rounds: int, warmup: int,
              log: Callable[[str], None] = print) -> tuple[Result, dict[str, Result]]:
    """Sync section: floor, case 1, floor, case 2, floor, ... repeated ``rounds`` times."""
    ops, results = _build_all([floor, *cases], log)
    floor_op = ops.pop(floor.name)
    floor_res = results.pop(floor.name)
    for name, op in list(ops.items()):
        try:
            for _ in range(warmup):
                op()
        except Exception as exc:
            results[name].error = _describe(exc)
            log(f"  failed {name}: {results[name].error}")
            traceback.print_exc(limit=3)
            del ops[name]
    for _ in range(warmup):
        floor_op()
    names = list(ops)
    sizes = {c.name: max(1, round(n * c.scale)) for c in cases}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)] if names else []
        before = _block(floor_op, n)
        floor_res.per_op.append(before)
        for name in order:
            t = _block(ops[name], sizes[name])
            after = _block(floor_op, n)
            floor_res.per_op.append(after)
            results[name].per_op.append(t)
            results[name].floor_per_op.append((before + after) / 2)
            before = after
        log(f"  round {r + 1}/{rounds} done")
    return floor_res, results


async def abracketed(floor: Case, cases: list[Case], *, n: int, rounds: int, warmup: int,
                     log: Callable[[str], None] = print) -> tuple[Result, dict[str, Result]]:
    """Async twin of ``bracketed``: ``build()`` may be a coroutine; ops are coroutine functions."""
    ops: dict[str, Any] = {}
    results: dict[str, Result] = {}
    for case in [floor, *cases]:
        results[case.name] = Result(case.name, note=case.note)
        try:
            built = case.build()
            ops[case.name] = await built if asyncio.iscoroutine(built) else built
            for _ in range(warmup):
                await ops[case.name]()
        except Exception as exc:
            ops.pop(case.name, None)
            results[case.name].error = _describe(exc)
            log(f"  skip {case.name}: {results[case.name].error}")
    floor_op = ops.pop(floor.name)
    floor_res = results.pop(floor.name)
    names = list(ops)
    sizes = {c.name: max(1, round(n * c.scale)) for c in cases}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)] if names else []
        before = await _ablock(floor_op, n)
        floor_res.per_op.append(before)
        for name in order:
            t = await _ablock(ops[name], sizes[name])
            after = await _ablock(floor_op, n)
            floor_res.per_op.append(after)
            results[name].per_op.append(t)
            results[name].floor_per_op.append((before + after) / 2)
            before = after
        log(f"  round {r + 1}/{rounds} done")
    return floor_res, results


def relative(a: Result, b: Result) -> list[float]:
    """Per-round ratio of two rows measured in the same rounds (each against its own brackets)."""
    return [x / y for x, y in zip(a.ratios, b.ratios, strict=False)]


def timed_reps(fn: Callable[[], Any], reps: int) -> list[float]:
    """Seconds for each of ``reps`` calls of ``fn``."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out

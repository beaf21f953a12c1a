"""What one client did on one variant of ``benchmarks.scale_out`` (``Run``), and the two figures
read from it beyond its makespan: latency percentiles and prompt-cache affinity."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Run:
    """One client on one variant: client-side times and errors, server-side counters."""

    client: str
    makespan: float = 0.0
    cpu_s: float = 0.0  # the client process's CPU time during the run (the servers run elsewhere)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stats: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False
    failed: str | None = None
    about: str = ""
    cooldowns: int | None = None  # times the client put a server in cooldown during the run

    @property
    def served(self) -> list[int]:
        return [s["served"] for s in self.stats]

    @property
    def refused(self) -> int:
        return sum(s["refused"] for s in self.stats)



def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (1..99) of ``values``, or None with fewer than two."""
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def affinity(run: Run) -> tuple[int, int]:
    """(later turns served by their conversation's turn-1 server, later turns served)."""
    visits: dict[str, list[tuple[float, int]]] = {}
    for index, server in enumerate(run.stats):
        for record in server.get("records", ()):
            if not record["refused"] and record["key"].startswith("conversation "):
                visits.setdefault(record["key"], []).append((record["arrived"], index))
    stay = later = 0
    for turns in visits.values():
        turns.sort()
        first = turns[0][1]
        later += len(turns) - 1
        stay += sum(1 for _, index in turns[1:] if index == first)
    return stay, later


__all__ = ["Run", "affinity", "percentile"]

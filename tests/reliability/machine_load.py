"""How much slower than a quiet machine timing-sensitive tests should expect right now."""

from __future__ import annotations

import os


def slowdown(cap: float = 3.0) -> float:
    """The 1-minute load average per usable CPU, at least 1 (a quiet machine), at most ``cap``.

    Short timeouts and time budgets are multiplied by it: on a machine running several test
    workers at once a thread may wait seconds for a CPU, yet the budgets stay far below the hangs
    they guard against."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): assume a quiet machine
        return 1.0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cap, max(1.0, load / cpus))

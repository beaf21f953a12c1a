"""Profile one benchmark row: ``python -m benchmarks.profile SECTION ROW [--cprofile] [-n N]``.

SECTION is ``invoke``, ``stream`` or ``async``; ROW is a (case-insensitive) substring of a row name,
e.g. ``python -m benchmarks.profile invoke LocalProvider``. Uses pyinstrument when installed (and
``--cprofile`` is not given), else cProfile sorted by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from collections.abc import Callable
from typing import Any

from . import rows
from .harness import Case, ServerProcess


def _pick(cases: list[Case], floor: Case, needle: str) -> Case:
    found = [c for c in [floor, *cases] if needle.lower() in c.name.lower()]
    if not found:
        raise SystemExit(f"no row matches {needle!r}; rows: {', '.join(c.name for c in [floor, *cases])}")
    return found[0]


def _run_profiled(fn: Callable[[], Any], use_cprofile: bool) -> None:
    if not use_cprofile:
        try:
            from pyinstrument import Profiler
        except ImportError:
            use_cprofile = True
    if use_cprofile:
        prof = cProfile.Profile()
        prof.runcall(fn)
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(35)
        return
    profiler = Profiler(interval=0.0001, async_mode="enabled")
    profiler.start()
    fn()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    p.add_argument("section", choices=("invoke", "stream", "async"))
    p.add_argument("row")
    p.add_argument("-n", type=int, default=0, help="operations to profile (default: 2000 / 20 / 5)")
    p.add_argument("--cprofile", action="store_true")
    args = p.parse_args(argv)
    with ServerProcess() as server:
        base = server.urls[0]
        if args.section == "async":
            floor, cases = rows.async_cases(base)
            case = _pick(cases, floor, args.row)
            n = args.n or 5

            async def go() -> None:
                built = case.build()
                op = await built if asyncio.iscoroutine(built) else built
                await op()  # warm-up
                if args.cprofile:
                    prof = cProfile.Profile()
                    prof.enable()
                    for _ in range(n):
                        await op()
                    prof.disable()
                    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(35)
                    return
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0001, async_mode="enabled")
                profiler.start()
                for _ in range(n):
                    await op()
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False))

            asyncio.run(go())
            return
        floor, cases = rows.invoke_cases(base) if args.section == "invoke" else rows.stream_cases(base)
        case = _pick(cases, floor, args.row)
        op = case.build()
        for _ in range(20):
            op()
        n = args.n or (2000 if args.section == "invoke" else 20)

        def many() -> None:
            for _ in range(n):
                op()

        print(f"# {args.section}: {case.name}, {n} operations")
        _run_profiled(many, args.cprofile)


if __name__ == "__main__":
    main()

"""One command for every benchmark: ``python -m benchmarks.run [--quick] [--smoke] [--only ...]``.

Starts the fake server (``benchmarks/server.py``) in its own process, measures each section,
prints the markdown report and writes it to ``benchmarks/RESULTS.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from . import floors, harness, rows, special
from .report import Run, Section, render

SECTIONS = ("invoke", "stream", "async", "embed", "discovery", "import")

MODES: dict[str, dict[str, Any]] = {
    "full": {"invoke_n": 200, "invoke_rounds": 7, "stream_n": 4, "stream_rounds": 7, "async_n": 2,
             "async_rounds": 5, "concurrency": 200, "texts": 10_000, "slow_texts": 1_000, "embed_rounds": 3,
             "discovery_reps": 20, "import_reps": 7, "warmup": 20},
    "quick": {"invoke_n": 100, "invoke_rounds": 3, "stream_n": 2, "stream_rounds": 3, "async_n": 1,
              "async_rounds": 3, "concurrency": 200, "texts": 10_000, "slow_texts": 500, "embed_rounds": 1,
              "discovery_reps": 10, "import_reps": 3, "warmup": 10},
    "smoke": {"invoke_n": 3, "invoke_rounds": 1, "stream_n": 1, "stream_rounds": 1, "async_n": 1,
              "async_rounds": 1, "concurrency": 10, "texts": 100, "slow_texts": 20, "embed_rounds": 1,
              "discovery_reps": 2, "import_reps": 1, "warmup": 1},
}
SMOKE_IMPORTS = ("httpx", special.IMPORT_LC_FLOOR, special.IMPORT_PATINOX_LC)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sync_section(run: Run, key: str, title: str, cases: tuple[harness.Case, list[harness.Case]], n: int,
                  rounds: int, warmup: int) -> None:
    log(f"[{key}] {title}")
    floor, results = harness.bracketed(cases[0], cases[1], n=n, rounds=rounds, warmup=warmup, log=log)
    run.sections[key] = Section(title, floor, results)


def measure(cfg: dict[str, Any], sections: tuple[str, ...], mode: str) -> Run:
    shown = {k: v for k, v in cfg.items() if k != "warmup"}
    run = Run(mode=mode, settings=shown)
    with harness.ServerProcess(ports=2) as server:
        base = server.urls[0]
        warm = cfg["warmup"]
        if "invoke" in sections:
            _sync_section(run, "invoke", "invoke", rows.invoke_cases(base), cfg["invoke_n"], cfg["invoke_rounds"],
                          warm)
        if "stream" in sections:
            _sync_section(run, "stream", "stream", rows.stream_cases(base), cfg["stream_n"], cfg["stream_rounds"],
                          max(1, warm // 10))
        if "async" in sections:
            log(f"[async] {cfg['concurrency']} concurrent calls")
            floor_case, cases = rows.async_cases(base, cfg["concurrency"])

            async def section() -> tuple[harness.Result, dict[str, harness.Result]]:
                try:
                    return await harness.abracketed(floor_case, cases, n=cfg["async_n"], rounds=cfg["async_rounds"],
                                                    warmup=1, log=log)
                finally:
                    await floors.aclose_all()

            floor, results = asyncio.run(section())
            run.sections["async"] = Section("async", floor, results)
        if "embed" in sections:
            log(f"[embed] {cfg['texts']:,} texts")
            floor, results = special.run_embeddings(server, special.make_texts(cfg["texts"]), cfg["slow_texts"],
                                                    cfg["embed_rounds"], log=log)
            run.sections["embed"] = Section("embed", floor, results)
        if "discovery" in sections:
            log("[discovery]")
            run.discovery = special.run_discovery(server, cfg["discovery_reps"])
    if "import" in sections:
        log("[import]")
        names = SMOKE_IMPORTS if mode == "smoke" else None
        run.imports = special.run_imports(cfg["import_reps"], log=log, names=names)
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and ops (a few minutes)")
    p.add_argument("--smoke", action="store_true", help="a handful of iterations: checks the harness runs")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"), help="markdown output file")
    args = p.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    t0 = time.perf_counter()
    run = measure(MODES[mode], sections, mode)
    text = render(run) + f"\nTotal benchmark time: {time.perf_counter() - t0:,.0f} s.\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Scale-out benchmark (issue 17): one model on several slot-limited llama-server fakes, clients side by side.

0. Each client alone (one server with 256 slots, no service time): the calls per second and CPU
   per call the client itself costs, which bound what it can reach below.
1. Four servers with 4, 2, 1 and 1 slots, 50 ms per request (160 requests/s in all); 480 requests
   with 64 in flight. Each client's makespan against the ideal 480 / 160 = 3.0 s, the requests
   each server served, p50/p95 latency.
2. The same with ``queue_limit=4`` (503 + ``Retry-After: 1``) on the two 1-slot servers: 503s the
   servers sent, retries (attempts beyond one per request) and requests lost.
3. 40 four-turn conversations over two servers of 2 slots each: the share of turns 2-4 served by
   the server that served turn 1 (whose prompt cache holds the prefix), and the load split.

Clients (``benchmarks/scale_clients.py``): raw httpx round-robin, LiteLLM's ``Router`` with
``simple-shuffle``, ``least-busy`` and ``latency-based-routing``, and patinox's
``LocalProvider.achat``. The servers (``benchmarks/fleet.py``) run in a child process; each
client is warmed up (16 calls), the counters are reset and the heap so far is frozen out of the
garbage collector's scans (``gc.freeze``: clients share one process), then the workload runs once per round
(``--quick``: one round; default: three, the round with the median makespan is reported).
Every call is bounded by a timeout and every run by a time budget. The markdown section goes to
stdout and between the markers of ``--out`` (default ``benchmarks/SCALE_OUT.md``).

    python -m benchmarks.scale_out [--quick | --smoke] [--clients raw,patinox] [--variants 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.child import ROOT
from benchmarks.fleet import Fleet
from benchmarks.scale_acceptance import acceptance
from benchmarks.scale_clients import Client, Messages, client_makers
from benchmarks.scale_runs import Run, affinity, percentile

START, END = "<!-- scale_out:start -->", "<!-- scale_out:end -->"
SLOTS = [4, 2, 1, 1]  # the four servers of variants 1 and 2
DEFAULT_OUT = ROOT / "benchmarks" / "SCALE_OUT.md"


@dataclass(frozen=True)
class Scale:
    """Workload sizes; the defaults are issue 17's."""

    requests: int = 480
    in_flight: int = 64
    conversations: int = 40
    turns: int = 4
    service_s: float = 0.05
    rounds: int = 3
    warm_up: int = 16
    request_timeout: float = 30.0
    run_budget: float = 180.0


SCALES = {"full": Scale(), "quick": Scale(rounds=1),
          "smoke": Scale(requests=24, in_flight=8, conversations=4, service_s=0.005, rounds=1, warm_up=4,
                         request_timeout=10.0, run_budget=60.0)}


def fleet_spec(slots: list[int], scale: Scale, shed_slow: bool = False) -> list[dict[str, Any]]:
    """FakeLlamaServer arguments per server; ``shed_slow``: 1-slot servers refuse past 4 waiting."""
    shed = {"queue_limit": 4, "retry_after": 1}
    return [{"slots": n, "service_s": scale.service_s, **(shed if shed_slow and n == 1 else {})} for n in slots]


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


async def _bounded(tasks: list[asyncio.Task[None]], budget: float) -> bool:
    """Wait for ``tasks`` up to ``budget`` seconds; cancel the rest. True if any had to be cancelled."""
    _, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return bool(pending)


async def _call(client: Client, messages: Messages, run: Run, timeout: float) -> str | None:
    began = time.perf_counter()
    try:
        answer = await asyncio.wait_for(client.send(messages), timeout)
    except Exception as exc:  # every failure is counted; none stops the run
        run.errors[_kind(exc)] += 1
        return None
    if not answer or f"(re: {messages[-1]['content']})" not in answer:  # the fleet echoes what it answers
        run.errors["mixed"] += 1  # a reply meant for another request: counted as lost, never as served
        return None
    run.latencies.append(time.perf_counter() - began)
    return answer


async def load(client: Client, run: Run, scale: Scale) -> None:
    """``scale.requests`` single-turn calls, ``scale.in_flight`` at a time."""
    ids = iter(range(scale.requests))

    async def worker() -> None:
        for i in ids:
            await _call(client, [{"role": "user", "content": f"request {i}: say hello"}], run, scale.request_timeout)

    began, cpu = time.perf_counter(), time.process_time()
    run.timed_out = await _bounded([asyncio.create_task(worker()) for _ in range(scale.in_flight)], scale.run_budget)
    run.makespan, run.cpu_s = time.perf_counter() - began, time.process_time() - cpu


async def conversations(client: Client, run: Run, scale: Scale) -> None:
    """``scale.conversations`` conversations at once, ``scale.turns`` turns each, one after another."""

    async def talk(c: int) -> None:
        messages: Messages = []
        for turn in range(1, scale.turns + 1):
            messages.append({"role": "user", "content": f"conversation {c}: turn 1" if turn == 1 else f"turn {turn}"})
            answer = await _call(client, list(messages), run, scale.request_timeout)
            messages.append({"role": "assistant", "content": answer or "(no answer)"})

    began, cpu = time.perf_counter(), time.process_time()
    run.timed_out = await _bounded([asyncio.create_task(talk(c)) for c in range(scale.conversations)],
                                   scale.run_budget)
    run.makespan, run.cpu_s = time.perf_counter() - began, time.process_time() - cpu


Workload = Callable[[Client, Run, Scale], Coroutine[Any, Any, None]]


async def measure(make: Callable[[], Client], fleet: Fleet, workload: Workload, scale: Scale) -> Run:
    """Build, warm up and run one client; the fleet's counters cover the timed part only."""
    client = make()
    run = Run(client.name)
    try:
        await asyncio.wait_for(client.start(fleet.urls), 60)
        warm = Run(client.name)
        warm_ids = iter(range(scale.warm_up))

        async def warm_worker() -> None:
            for i in warm_ids:
                await _call(client, [{"role": "user", "content": f"warm-up {i}"}], warm, scale.request_timeout)

        await _bounded([asyncio.create_task(warm_worker()) for _ in range(8)], scale.run_budget)
        fleet.reset()
        cooled = client.cooldowns()
        gc.collect()
        gc.freeze()  # the heap left by earlier clients (LiteLLM's is large) is not rescanned on this one's time
        try:
            await workload(client, run, scale)
        finally:
            gc.unfreeze()
        run.stats = fleet.stats()
        after = client.cooldowns()
        run.cooldowns = None if after is None or cooled is None else after - cooled
        run.about = client.describe()
    except Exception as exc:  # a client that cannot run is reported as n/a, the others still run
        run.failed = f"{_kind(exc)}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    finally:
        try:
            await asyncio.wait_for(client.close(), 10)
        except Exception:  # closing a failed client must not hide its result
            pass
    return run


async def variant(spec: list[dict[str, Any]], workload: Workload, scale: Scale,
                  makers: list[Callable[[], Client]]) -> list[Run]:
    """Every client on one fleet, ``scale.rounds`` times each; per client the median-makespan round."""
    runs: list[Run] = []
    with Fleet(spec) as fleet:
        for make in makers:
            rounds = [await measure(make, fleet, workload, scale) for _ in range(scale.rounds)]
            ok = sorted((r for r in rounds if r.failed is None), key=lambda r: r.makespan)
            runs.append(ok[len(ok) // 2] if ok else rounds[0])
    return runs


# --------------------------------------------------------------------------- analysis and report


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f}"


def _split(run: Run) -> str:
    return " / ".join(str(n) for n in run.served)


def _eff(ideal: float, run: Run, calls: int) -> str:
    """ideal / makespan, only for a run that lost no call (dropping work is not efficiency)."""
    if len(run.latencies) < calls:
        return "n/a (calls lost)"
    return f"{ideal / run.makespan:.2f}" if run.makespan > 0 else "n/a"


def _failed(run: Run, columns: int) -> str | None:
    if run.failed is None:
        return None
    return f"| {run.client} | n/a ({run.failed}) |" + " |" * (columns - 2)


def _settings(results: dict[str, list[Run]]) -> list[str]:
    """Each client's configuration, once (from the first variant where it ran)."""
    seen: dict[str, str] = {}
    for runs in results.values():
        for run in runs:
            if run.about and run.client not in seen:
                seen[run.client] = run.about
    return [f"- {client}: {about}" for client, about in seen.items()]


def _notes(runs: list[Run]) -> list[str]:
    out = []
    for run in runs:
        bits: list[str] = []
        if run.errors:
            bits.append("errors: " + ", ".join(f"{k} x{v}" for k, v in run.errors.most_common()))
        if run.timed_out:
            bits.append("stopped at the time budget")
        if bits:
            out.append(f"- {run.client}: " + "; ".join(bits))
    return out


def table_ceiling(runs: list[Run], scale: Scale) -> list[str]:
    lines = [f"| client | calls/s | client CPU per call (ms) | fastest possible {scale.requests} calls (s) |",
             "|---|---|---|---|"]
    for run in runs:
        failed = _failed(run, 5)
        if failed:
            lines.append(failed)
            continue
        done = len(run.latencies)
        rate = done / run.makespan if run.makespan > 0 else 0.0
        cpu = f"{1000 * run.cpu_s / done:.1f}" if done else "n/a"
        lines.append(f"| {run.client} | {rate:.0f} | {cpu} | {run.makespan:.2f} |")
    return lines


def table_load(runs: list[Run], scale: Scale, slots: list[int], shed: bool) -> list[str]:
    ideal = scale.requests * scale.service_s / sum(slots)
    share = [round(scale.requests * n / sum(slots)) for n in slots]
    little = scale.in_flight / (sum(slots) / scale.service_s)  # Little's law: in flight / throughput
    head = f"| client | makespan (s) | efficiency | requests per server ({' / '.join(map(str, slots))} slots) |"
    head += " 503s sent | retries | cooldowns | lost |" if shed else " lost |"
    head += " p50 (ms) | p95 (ms) |"
    cols = head.count("|") - 1
    lines = [head, "|" + "---|" * cols]
    extra = " 0 | 0 | 0 | 0 |" if shed else " 0 |"
    lines.append(f"| ideal (work-conserving, by capacity) | {ideal:.2f} | 1.00 | {' / '.join(map(str, share))} |"
                 f"{extra} {_ms(little)} | {_ms(little)} |")
    for run in runs:
        failed = _failed(run, cols)
        if failed:
            lines.append(failed)
            continue
        lost = scale.requests - len(run.latencies)
        cooled = "n/a" if run.cooldowns is None else str(run.cooldowns)
        counts = f" {run.refused} | {sum(run.served) + run.refused - scale.requests} | {cooled} | {lost} |" \
            if shed else f" {lost} |"
        efficiency = _eff(ideal, run, scale.requests)
        lines.append(f"| {run.client} | {run.makespan:.2f} | {efficiency} | {_split(run)} |{counts} "
                     f"{_ms(percentile(run.latencies, 50))} | {_ms(percentile(run.latencies, 95))} |")
    return lines


def table_affinity(runs: list[Run], scale: Scale) -> list[str]:
    total = scale.conversations * scale.turns
    ideal = total * scale.service_s / 4
    lines = ["| client | turns 2-4 on turn 1's server | load split (requests per server) | makespan (s) | lost |",
             "|---|---|---|---|---|",
             f"| ideal | 100 % | {total // 2} / {total // 2} | {ideal:.2f} | 0 |"]
    for run in runs:
        failed = _failed(run, 6)
        if failed:
            lines.append(failed)
            continue
        stay, later = affinity(run)
        share = f"{100 * stay / later:.0f} % ({stay}/{later})" if later else "n/a"
        pct = " / ".join(f"{n} ({100 * n / max(1, sum(run.served)):.0f} %)" for n in run.served)
        lines.append(f"| {run.client} | {share} | {pct} | {run.makespan:.2f} | {total - len(run.latencies)} |")
    return lines


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def report(mode: str, scale: Scale, results: dict[str, list[Run]]) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rounds = "one round" if scale.rounds == 1 else f"{scale.rounds} rounds, the median-makespan round shown"
    out = [f"## Results: {mode} run, {when}", "",
           f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
           f"load average {_load()}; litellm {_version('litellm')}, httpx {_version('httpx')}; "
           f"patinox at {_revision()}. "
           f"{scale.service_s * 1000:.0f} ms per request, {rounds}.", "", "Clients:", "", *_settings(results), ""]
    if "0" in results:
        out += ["### 0. Each client alone: one server with 256 slots and no service time", "",
                f"What a client costs by itself ({scale.requests} calls, {scale.in_flight} in flight): a client "
                f"slower than {sum(SLOTS) / scale.service_s:.0f} calls/s cannot reach the ideal below, "
                "whatever it routes.", "", *table_ceiling(results["0"], scale), "", *_notes(results["0"]), ""]
    if "1" in results:
        out += [f"### 1. Four servers (4, 2, 1, 1 slots): {scale.requests} requests, {scale.in_flight} in flight",
                "", *table_load(results["1"], scale, SLOTS, shed=False), "", *_notes(results["1"]), ""]
    if "2" in results:
        out += ["### 2. The same, the two 1-slot servers refusing past 4 waiting (503, Retry-After: 1)", "",
                *table_load(results["2"], scale, SLOTS, shed=True), "",
                "503s sent: refusals counted by the servers; retries: attempts beyond one per request "
                "(served + refused - requests); cooldowns: times the client put a server in cooldown "
                "(n/a: it has none); lost: requests that ended in an error.", "",
                *_notes(results["2"]), ""]
    if "3" in results:
        out += [f"### 3. {scale.conversations} conversations of {scale.turns} turns over two servers (2 slots each)",
                "", *table_affinity(results["3"], scale), "", *_notes(results["3"]), ""]
    if any(v in results for v in ("1", "2", "3")):
        ideal = scale.requests * scale.service_s / sum(SLOTS)
        out += ["### Acceptance", "", f"Issue 17's targets, judged on this run ({rounds}).", "",
                *acceptance(results, ideal, scale.requests, scale.conversations * scale.turns), ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip() + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the text between the markers of ``path`` (create the file with a title if needed)."""
    block = f"{START}\n{section}{END}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Scale-out benchmark\n\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


async def run_all(scale: Scale, variants: list[str], names: list[str] | None) -> dict[str, list[Run]]:
    """The chosen variants with the chosen clients (all by default), one fleet per variant."""
    makers = [make for name, make in client_makers() if names is None or any(n in name.lower() for n in names)]
    plans: dict[str, tuple[list[dict[str, Any]], Workload]] = {
        "0": ([{"slots": 256, "service_s": 0.0}], load),
        "1": (fleet_spec(SLOTS, scale), load),
        "2": (fleet_spec(SLOTS, scale, shed_slow=True), load),
        "3": (fleet_spec([2, 2], scale), conversations)}
    return {v: await variant(*plans[v], scale, makers) for v in variants if v in plans}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one round per client")
    mode.add_argument("--smoke", action="store_true", help="a tiny workload (does the harness work?)")
    parser.add_argument("--clients", help="comma-separated name fragments, e.g. raw,least-busy,patinox")
    parser.add_argument("--variants", default="0,1,2,3", help="0: each client alone; 1-3: see above")
    parser.add_argument("--out", type=Path, default=None, help=f"markdown file (default {DEFAULT_OUT}; "
                        "--smoke writes nothing unless given)")
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    scale = SCALES[name]
    names = [n.strip().lower() for n in args.clients.split(",")] if args.clients else None
    results = asyncio.run(run_all(scale, args.variants.split(","), names))
    section = report(name, scale, results)
    sys.stdout.write(section)
    out = args.out if args.out is not None or name == "smoke" else DEFAULT_OUT
    if out is not None:
        write_section(out, section)


if __name__ == "__main__":
    main()

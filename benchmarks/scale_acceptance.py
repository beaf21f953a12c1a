"""Issue 17's acceptance targets, checked on one run of ``benchmarks.scale_out``: a table of each
target, what was measured and whether it is met. Only what the run measured is judged; a
variant or client left out of the run shows as not measured."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.scale_runs import Run, affinity

PATINOX = "patinox LocalProvider.achat"
OVERSTATED = "patinox LocalProvider.achat, max_concurrency=8 (overstated)"


def _find(runs: Sequence[Run], name: str) -> Run | None:
    return next((r for r in runs if r.client == name and r.failed is None), None)


def _lost(run: Run, calls: int) -> int:
    return calls - len(run.latencies)


def _efficiency(run: Run, ideal: float, calls: int) -> float | None:
    """ideal / makespan for a run that lost nothing (dropping work is not efficiency)."""
    return ideal / run.makespan if run.makespan > 0 and _lost(run, calls) == 0 else None


def _row(check: str, target: str, measured: str, met: bool | None) -> str:
    verdict = "not measured" if met is None else "met" if met else "**missed**"
    return f"| {check} | {target} | {measured} | {verdict} |"


def _load_rows(runs: Sequence[Run], ideal: float, calls: int) -> list[str]:
    mine = _find(runs, PATINOX)
    if mine is None:
        return [_row("four servers: patinox efficiency", "≥ 0.90", "n/a", None)]
    eff = _efficiency(mine, ideal, calls)
    rows = [_row("four servers: patinox efficiency (ideal / makespan)", "≥ 0.90",
                 "n/a (calls lost)" if eff is None else f"{eff:.2f} ({mine.makespan:.2f} s)",
                 None if eff is None else eff >= 0.90),
            _row("four servers: requests lost or mixed (a reply naming another request)", "0",
                 f"{_lost(mine, calls)} ({mine.errors['mixed']} mixed)", _lost(mine, calls) == 0)]
    litellm = [r for r in runs if r.client.startswith("LiteLLM Router") and r.failed is None and r.makespan > 0]
    if not litellm:
        return [*rows, _row("four servers: against the best LiteLLM strategy", "≥ 1.1x", "LiteLLM not run", None)]
    best = min(litellm, key=lambda r: r.makespan)
    ratio = best.makespan / mine.makespan if mine.makespan > 0 else 0.0
    name = best.client.removeprefix("LiteLLM Router ")
    return [*rows, _row("four servers: against the best LiteLLM strategy (its makespan / patinox's)", "≥ 1.1x",
                        f"{ratio:.2f}x ({name}, {best.makespan:.2f} s, efficiency {ideal / best.makespan:.2f})",
                        ratio >= 1.1)]


def _shed_rows(runs: Sequence[Run], ideal: float, calls: int) -> list[str]:
    rows: list[str] = []
    for name, label in ((PATINOX, "503 variant"), (OVERSTATED, "503 variant, slots overstated")):
        run = _find(runs, name)
        if run is None:
            rows.append(_row(f"{label}: every request succeeds", "0 lost", "n/a", None))
            continue
        eff = _efficiency(run, ideal, calls)
        rows += [_row(f"{label}: every request succeeds ({run.refused} 503s sent)", "0 lost",
                      f"{_lost(run, calls)} lost", _lost(run, calls) == 0),
                 _row(f"{label}: no server cooled down for being busy", "0 cooldowns",
                      "n/a" if run.cooldowns is None else str(run.cooldowns), run.cooldowns == 0)]
        if name == PATINOX:
            rows.append(_row(f"{label}: efficiency", "≥ 0.85", "n/a (calls lost)" if eff is None else f"{eff:.2f}",
                             None if eff is None else eff >= 0.85))
    return rows


def _affinity_rows(runs: Sequence[Run], turns: int) -> list[str]:
    mine = _find(runs, PATINOX)
    if mine is None:
        return [_row("conversations: later turns on turn 1's server", "≥ 95 %", "n/a", None)]
    stay, later = affinity(mine)
    share = stay / later if later else 0.0
    total = max(1, sum(mine.served))
    split = [n / total for n in mine.served]
    return [_row("conversations: later turns on turn 1's server", "≥ 95 %", f"{100 * share:.0f} % ({stay}/{later})",
                 later > 0 and share >= 0.95),
            _row("conversations: load split", "each server 35-65 %", " / ".join(f"{100 * x:.0f} %" for x in split),
                 len(split) == 2 and all(0.35 <= x <= 0.65 for x in split)),
            _row("conversations: turns lost", "0", str(turns - len(mine.latencies)), len(mine.latencies) == turns)]


def acceptance(results: dict[str, list[Run]], ideal: float, calls: int, turns: int) -> list[str]:
    """The acceptance table: ``ideal`` makespan and ``calls`` of variants 1-2, ``turns`` of variant 3."""
    lines = ["| target (issue 17) | required | measured | |", "|---|---|---|---|"]
    lines += _load_rows(results.get("1", []), ideal, calls)
    lines += _shed_rows(results.get("2", []), ideal, calls)
    lines += _affinity_rows(results.get("3", []), turns)
    return lines


__all__ = ["OVERSTATED", "PATINOX", "acceptance"]

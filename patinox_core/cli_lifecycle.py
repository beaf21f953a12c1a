"""``patinox pull | load | unload``: get a model onto a server, load it, unload it.

    patinox pull NAME [--server URL]                       download (Ollama, else LM Studio) with a progress bar
    patinox load NAME [--context N] [--keep-alive D] [--server URL]   load now, kept for D (``5m``, ``-1``: always)
    patinox unload NAME [--server URL]                     unload wherever it is loaded

The bar and step lines go to stderr; the result line to stdout. Ctrl-C stops a pull: the last line
says what was left on the server, and the exit code is 130.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .provisioning.bar import ProgressBar
from .provisioning.events import human_bytes
from .router import LocalProvider
from .safe_text import server_text


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pull = sub.add_parser("pull", help="download a model onto a server (progress bar)")
    pull.add_argument("name", help="model name (Ollama: `llama3.2:3b`; LM Studio: a catalog id or a Hugging Face URL)")
    pull.add_argument("--server", help="the server's URL (default: the first Ollama, then LM Studio)")
    load = sub.add_parser("load", help="load a model now (and keep it loaded)")
    load.add_argument("name", help="model name (a unique prefix works)")
    load.add_argument("--context", type=int, help="context tokens to allocate")
    load.add_argument("--keep-alive", help="how long to keep it: '5m', '1h', seconds, '-1' (until unloaded)")
    load.add_argument("--server", help="the server's URL (default: where the catalogue has it first)")
    unload = sub.add_parser("unload", help="unload a model")
    unload.add_argument("name", help="model name (a unique prefix works)")
    unload.add_argument("--server", help="only on this server (default: everywhere it is loaded)")


def _keep_alive(text: str | None) -> str | int | None:
    if text is None:
        return None
    stripped = text.strip()
    return int(stripped) if stripped.lstrip("-").isdigit() else stripped


def cmd_pull(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    done = provider.pull(args.name, service=args.server, progress=ProgressBar(sys.stderr))
    size = f" ({human_bytes(done.total)})" if done.total else ""
    print(f"pulled {server_text(args.name, 200)} onto {done.service}{size}", file=out)
    return 0


def cmd_load(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    info = provider.load(args.name, service=args.server, keep_alive=_keep_alive(args.keep_alive),
                         context=args.context, progress=ProgressBar(sys.stderr))
    context = f", context {info.loaded_context_length}" if info.loaded_context_length else ""
    print(f"loaded {info.name} on {info.service}{context}", file=out)
    return 0


def cmd_unload(provider: LocalProvider, args: argparse.Namespace, out: TextIO) -> int:
    gone = provider.unload(args.name, service=args.server)
    if not gone:
        print(f"{server_text(args.name, 200)} is not loaded anywhere", file=out)
    for info in gone:
        print(f"unloaded {info.name} from {info.service}", file=out)
    return 0


COMMANDS = {"pull": cmd_pull, "load": cmd_load, "unload": cmd_unload}

__all__ = ["COMMANDS", "add_parsers", "cmd_load", "cmd_pull", "cmd_unload"]

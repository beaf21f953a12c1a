"""A fleet of slot-limited llama-server fakes in a child process, for ``benchmarks.scale_out``.

The servers run in their own process so a busy client (LiteLLM's Router costs milliseconds of CPU
per call) cannot slow the servers' clocks. ``--spec`` is a JSON list of ``FakeLlamaServer`` keyword
arguments, one per server. Once listening, the process prints ``{"urls": [...]}``; then it answers
control lines on stdin: ``stats`` (one JSON line: each server's counters and request records),
``reset`` and ``quit`` (each answered ``ok``).

    python -m benchmarks.fleet --spec '[{"slots": 4}, {"slots": 1, "queue_limit": 4}]'
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from patinox_core.testing import FakeLlamaServer

from .child import ChildProcess

MODEL = "gemma-3-4b-it"


class Fleet(ChildProcess):
    """The child process seen from the benchmark: ``urls``, ``stats()``, ``reset()``, ``close()``."""

    def __init__(self, spec: list[dict[str, Any]]) -> None:
        self.spec = spec
        super().__init__("benchmarks.fleet", ["--spec", json.dumps(spec)], "fleet")
        self.urls: list[str] = self.ready["urls"]

    def stats(self) -> list[dict[str, Any]]:
        """Per server: served, refused, max_concurrency, max_queued and ``records``."""
        result: list[dict[str, Any]] = json.loads(self._control("stats"))
        return result


def echo(messages: list[dict[str, Any]]) -> str:
    """The reply names the request it answers (the benchmark checks no reply reaches another caller).

    >>> echo([{"role": "user", "content": "request 7: say hello"}])
    'Hello (re: request 7: say hello)'
    """
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"Hello (re: {last})"


def serve(spec: list[dict[str, Any]]) -> None:
    """Run the servers of ``spec`` until ``quit`` or the end of stdin."""
    servers = [FakeLlamaServer(MODEL, reply=echo, **kwargs).start() for kwargs in spec]
    try:
        print(json.dumps({"urls": [s.url for s in servers]}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps([s.stats(records=True) for s in servers]), flush=True)
                continue
            if command == "reset":
                for s in servers:
                    s.reset_stats()
            print("ok", flush=True)
            if command == "quit":
                break
    finally:
        for s in servers:
            s.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--spec", required=True, help="JSON list of FakeLlamaServer keyword arguments")
    serve(json.loads(parser.parse_args(argv).spec))


if __name__ == "__main__":
    main()

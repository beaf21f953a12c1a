"""A benchmark's fake servers in a child process, driven by control lines on its stdin.

The child prints one JSON line once it listens, then answers each control line (``stats``,
``reset``, ``quit``, ...) with one line. Servers in their own process keep the clients' CPU cost
off the servers' clocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ChildProcess:
    """``python -m <module> <args>``; ``ready`` is the JSON line it printed once listening."""

    def __init__(self, module: str, args: list[str], what: str) -> None:
        self.what = what
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout is not None else ""
        if not line:
            self.close()
            raise RuntimeError(f"the {what} did not start")
        self.ready: dict[str, Any] = json.loads(line)

    def _control(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the {self.what} did not answer {command!r}")
        return answer

    def reset(self) -> None:
        self._control("reset")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._control("quit")
                self.proc.wait(10)
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

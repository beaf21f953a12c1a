"""Progress for long set-up steps: what runs, for how long, so a 4-minute build never looks hung."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

_NINJA = re.compile(rb"\[(\d+)/(\d+)\]")


def ninja_step(log: Path) -> str | None:
    """The last ``[n/m]`` build step in a log (cmake/ninja), e.g. ``'45/193'``; read from the tail only.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.log"; _ = p.write_bytes(b"[1/9] cc a.c\\n[2/9] cc b.c\\n")
    >>> ninja_step(p)
    '2/9'
    """
    try:
        with log.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 8192))
            found = _NINJA.findall(fh.read())
    except OSError:
        return None
    return f"{int(found[-1][0])}/{int(found[-1][1])}" if found else None


class Progress:
    """Prints ``patinox: <step> … <elapsed>`` lines to ``out`` (stderr by default); ``quiet`` prints nothing."""

    def __init__(self, out: TextIO | None = None, *, quiet: bool = False, every_s: float = 15.0) -> None:
        self.out = out or sys.stderr
        self.quiet = quiet
        self.every_s = every_s
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"patinox: {text}", file=self.out, flush=True)

    @contextmanager
    def step(self, what: str, *, expect: str = "", detail: Callable[[], str | None] | None = None,
             label: str | None = None) -> Iterator[None]:
        """Announce ``what``; while it runs, a heartbeat line every ``every_s`` with the elapsed time."""
        t0 = time.monotonic()
        self.say(f"{what}{f' ({expect})' if expect else ''} …")
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.every_s):
                extra = detail() if detail else None
                self.say(f"  … {label or what}: {time.monotonic() - t0:.0f} s{f', step {extra}' if extra else ''}")

        thread = None if self.quiet else threading.Thread(target=beat, daemon=True, name="patinox-progress")
        if thread:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread:
                thread.join(1.0)
        self.say(f"  done: {label or what} in {time.monotonic() - t0:.1f} s")


__all__ = ["Progress", "ninja_step"]

"""``patinox status --watch``: the status tables redrawn every few seconds until Ctrl-C.

On a terminal each frame replaces the last (cursor home, clear screen: the only control sequences
patinox writes besides the tables' colours); piped, frames follow one another. Every server-supplied
string reaches the screen through the tables of ``cli_output`` (controls escaped), so a model name
or an error text cannot drive the terminal. Ctrl-C ends the loop cleanly (exit 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from .cli_output import is_terminal

#: cursor home + clear screen: how a terminal frame replaces the previous one
CLEAR = "\x1b[H\x1b[2J"


def watch(render: Callable[[], str], out: TextIO, *, interval: float, count: int | None = None,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Print ``render()`` every ``interval`` seconds (``count`` frames, or until Ctrl-C); returns 0."""
    terminal = is_terminal(out)
    shown = 0
    try:
        while count is None or shown < count:
            body = render()
            stamp = time.strftime("%H:%M:%S")
            head = f"patinox status  {stamp}  (every {interval:g} s; Ctrl-C to stop)"
            out.write(f"{CLEAR if terminal else ''}{head}\n\n{body}\n")
            out.flush()
            shown += 1
            if count is None or shown < count:
                sleep(interval)
    except KeyboardInterrupt:
        out.write("\n")
        out.flush()
    return 0


__all__ = ["CLEAR", "watch"]

"""The CLI's output layer: tables and model output that a server cannot use to drive the terminal.

Servers choose model names, versions and error texts; printed raw, ``ESC``/``BEL``/``CR`` could clear
the screen, set the window title, write the clipboard (OSC 52) or forge a table row (``\\n``). Every
server-supplied string passes ``cell()`` (secrets redacted, controls shown escaped) before it reaches
a table, and tables are laid out by rich (``rich.table.Table``): it measures cells by their
terminal width (CJK, emoji), truncates long names with an ellipsis, colours health only when the
output is a terminal (honouring ``NO_COLOR``) and never interprets the text as markup. Streamed model
output keeps newlines and tabs but has every other control character escaped when stdout is a
terminal (``TerminalText``); piped output is left exact.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from typing import TextIO

from .redaction import redact
from .safe_text import escape_controls

#: widest a table cell may be (characters); longer values end with an ellipsis
MAX_CELL = 60
#: model output on a terminal: every control character except newline and tab
_OUTPUT_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_STYLES = {"ok": "green", "down": "red", "yes": "green"}


def cell(value: object) -> str:
    """A server-supplied value fit for a table cell: one line, controls escaped, secrets hidden.

    >>> cell("llama\\nFAKE  ROW\\x1b[2J")
    'llama\\\\nFAKE  ROW\\\\x1b[2J'
    """
    return escape_controls(redact(str(value)))


def is_terminal(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ", *,
          color: bool = False, width: int | None = None) -> str:
    """Left-aligned columns, two spaces apart, every cell neutralised and at most ``MAX_CELL`` wide.

    >>> print(table(["A", "BB"], [["xyz", "1"]]))
      A    BB
      xyz  1
    >>> print(table(["NAME"], [["m\\n  forged row"], ["x" * 70]]))
      NAME
      m\\n  forged row
      xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…
    """
    from rich.console import Console  # imported on first use: ~100 ms the other commands do not need
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0), show_header=True,
                 header_style="bold" if color else None)
    for header in headers:
        grid.add_column(header, max_width=MAX_CELL, overflow="ellipsis", no_wrap=True)
    for row in rows:
        grid.add_row(*(Text(cell(c), style=_STYLES.get(str(c), "") if color else "") for c in row))
    console = Console(file=io.StringIO(), width=width or 10_000, color_system="standard" if color else None,
                      force_terminal=color, markup=False, emoji=False, highlight=False, legacy_windows=False)
    console.print(grid)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(indent + line.rstrip() for line in text.splitlines() if line.strip())


def table_for(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """``table`` styled for ``out``: colour on a terminal (unless ``NO_COLOR``), plain otherwise. Columns
    are never squeezed to the terminal's width (a URL cut short is useless); cells stop at ``MAX_CELL``."""
    return table(headers, rows, color=is_terminal(out) and "NO_COLOR" not in os.environ)


class TerminalText:
    """Writes streamed model output to ``out``; on a terminal, control characters other than newline
    and tab are shown escaped (a model, or a server, cannot clear the screen or write the clipboard).

    >>> import io; buf = io.StringIO(); TerminalText(buf, force=True).write("hi\\x1b]52;c;x\\x07\\n"); buf.getvalue()
    'hi\\\\x1b]52;c;x\\\\x07\\n'
    """

    def __init__(self, out: TextIO, *, force: bool | None = None) -> None:
        self.out = out
        self.neutralise = is_terminal(out) if force is None else force

    def write(self, text: str) -> None:
        if self.neutralise and _OUTPUT_CONTROL.search(text):
            text = _OUTPUT_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
        self.out.write(text)
        self.out.flush()


__all__ = ["MAX_CELL", "TerminalText", "cell", "is_terminal", "table", "table_for"]

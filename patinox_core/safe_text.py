"""Text from a server, made safe to show: control characters escaped, length capped, secrets hidden.

A server (or whatever listens on its port) chooses its error messages, model names and versions.
Raw, they could drive a terminal (ESC sequences: clear the screen, set the window title, write the
clipboard with OSC 52), forge lines in a log or a table (``\\n``, ``\\r``), reorder text (bidi
overrides) or bloat every log record (a 100 KB message). ``server_text`` is applied to every error
message patinox builds (``errors.py``); the CLI's output layer does the same for tables.
"""

from __future__ import annotations

import re
from typing import Any

from .redaction import redact

#: C0 and C1 controls, DEL, and the Unicode bidi / zero-width controls that reorder or hide text.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
MESSAGE_LIMIT = 1000  # characters of server text in one message


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str) -> str:
    """Every control character as a visible escape.

    >>> escape_controls("a\\x1b]52;c;SGVsbG8=\\x07b\\nc")
    'a\\\\x1b]52;c;SGVsbG8=\\\\x07b\\\\nc'
    """
    return CONTROL.sub(_escape, text) if CONTROL.search(text) else text


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how many were dropped.

    >>> cap("abcdef", 3), cap("abc", 3)
    ('abc… (3 more characters)', 'abc')
    """
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def server_text(value: Any, limit: int = MESSAGE_LIMIT) -> str:
    """``value`` as one safe line: secrets redacted, controls escaped, at most ``limit`` characters.

    >>> server_text("model \\x1b[2Jgone\\r\\nFAKE ROW" + "x" * 50, limit=30)
    'model \\\\x1b[2Jgone\\\\r\\\\nFAKE ROWx… (44 more characters)'
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # escape and redact only what can show
        return f"{escape_controls(redact(text[:4 * limit]))[:limit]}… ({len(text) - limit} more characters)"
    shown = escape_controls(redact(text))
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(text) - limit} more characters)"


__all__ = ["CONTROL", "MESSAGE_LIMIT", "cap", "escape_controls", "server_text"]

"""Secrets never leave patinox in text: ``user:pass@`` in URLs and every secret value the settings
hold (API keys, URL passwords, the Basic tokens made from them) are replaced by ``***`` in any
message, log record or table patinox produces. ``LocalSettings`` registers its secrets here."""

from __future__ import annotations

import base64
import re
import threading

_URL_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s]+@")  # to the last @: a password may hold one
_MIN_SECRET = 6  # shorter values would redact ordinary words
_MAX_SECRETS = 256
_secrets: dict[str, None] = {}  # insertion-ordered set of known secret values
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact ``value`` (and, for ``user:pass``, the password and the Basic token) from now on.

    >>> register_secret("sk-doctest-123456"); redact("key sk-doctest-123456 shown")
    'key *** shown'
    """
    if not value:
        return
    values = [value.strip()]
    if ":" in value:
        values.append(value.partition(":")[2])
        values.append(base64.b64encode(value.encode()).decode())
    with _lock:
        for v in values:
            if len(v) >= _MIN_SECRET and v not in _secrets:
                if len(_secrets) >= _MAX_SECRETS:
                    _secrets.pop(next(iter(_secrets)))
                _secrets[v] = None


def redact(text: str) -> str:
    """Hide ``user:pass@`` in any URL inside ``text``, and every registered secret.

    >>> redact("failed: http://bob:s3cret@box.lan:11434/api"), redact("http://bob:p@ss@box.lan")
    ('failed: http://***@box.lan:11434/api', 'http://***@box.lan')
    """
    text = _URL_USERINFO.sub(r"\1***@", text)
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "***")
    return text


__all__ = ["redact", "register_secret"]

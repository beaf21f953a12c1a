"""The vocabulary of reasoning values a model allows: ``"off"``, ``"on"`` and effort levels (LM
Studio's words; ``True``/``False`` in ``reasoning=``). A leaf module: facts parsers and
``capabilities`` read it without importing the request types."""

from __future__ import annotations

from collections.abc import Sequence

LEVELS = ("low", "medium", "high", "max")
OPTIONS = ("off", "on", *LEVELS)


def options_from_wire(values: object) -> tuple[str, ...] | None:
    """Allowed values as a server lists them (booleans, LM Studio's words, level names) in the
    options vocabulary, known ones only, in order; None when nothing usable is listed.

    >>> options_from_wire(["off", "on"]), options_from_wire([True, False]), options_from_wire(["low", "High", 3])
    (('off', 'on'), ('on', 'off'), ('low', 'high'))
    >>> options_from_wire([]), options_from_wire("on")
    (None, None)
    """
    if not isinstance(values, (list, tuple)):
        return None
    out: list[str] = []
    for value in values:
        option = ("on" if value else "off") if isinstance(value, bool) else value.lower() if isinstance(
            value, str) else None
        if option in OPTIONS and option not in out:
            out.append(option)
    return tuple(out) or None


def _spelled(option: str) -> str:
    return {"on": "True", "off": "False"}.get(option, repr(option))


def allowed_text(options: Sequence[str]) -> str:
    """The allowed values as a user writes them for ``reasoning=``.

    >>> allowed_text(("off", "on")), allowed_text(("low", "medium", "high"))
    ('True, False', "'low', 'medium', 'high'")
    """
    ordered = sorted(options, key=("on", "off", *LEVELS).index)
    return ", ".join(_spelled(o) for o in ordered)


__all__ = ["LEVELS", "OPTIONS", "allowed_text", "options_from_wire"]

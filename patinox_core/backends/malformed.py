"""``MalformedReply``: what a pure wire converter raises when a reply decodes but has the wrong shape,
and the small readers that check a field's type before it is used.

The funnel (``funnel.py``) maps ``MalformedReply`` to ``InvalidResponseError``; it maps no other
exception a converter raises, so a ``KeyError`` or ``AttributeError`` inside patinox's own code
surfaces as the bug it is instead of reading as "the server sent junk". Converters therefore
check what they read with these helpers rather than relying on the funnel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..json_codec import loads


class MalformedReply(ValueError):
    """A decodable reply of the wrong shape: a missing key, a field of the wrong type, text that is not JSON."""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else ``MalformedReply`` naming ``what``.

    >>> as_mapping({"a": 1}, "the reply")
    {'a': 1}
    >>> as_mapping([1], "the reply")
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: the reply is list, not a JSON object
    """
    if type(value) is not dict and not isinstance(value, Mapping):  # decoded JSON: a dict (skip the ABC check)
        raise MalformedReply(f"{what} is {_kind(value)}, not a JSON object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` when it is a JSON array, else ``MalformedReply`` naming ``what``.

    >>> as_list([1], "models")
    [1]
    >>> as_list(None, "models")
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: models is null, not a JSON array
    """
    if not isinstance(value, list):
        raise MalformedReply(f"{what} is {_kind(value)}, not a JSON array")
    return value


def field(data: Any, key: str, what: str) -> Any:
    """``data[key]`` of a JSON object; ``MalformedReply`` when ``data`` is no object or lacks ``key``.

    >>> field({"model": "m"}, "model", "the reply")
    'm'
    >>> field({}, "version", "the reply")
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: the reply has no 'version'
    """
    obj = as_mapping(data, what)
    if key not in obj:
        raise MalformedReply(f"{what} has no {key!r}")
    return obj[key]


def optional_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """A JSON object that may be absent (null or missing: empty).

    >>> optional_mapping(None, "details"), optional_mapping({"a": 1}, "details")
    ({}, {'a': 1})
    """
    return {} if value is None else as_mapping(value, what)


def optional_list(value: Any, what: str) -> list[Any]:
    """A JSON array that may be absent (null or missing: empty).

    >>> optional_list(None, "tool_calls"), optional_list([1], "tool_calls")
    ([], [1])
    """
    return [] if value is None else as_list(value, what)


def optional_text(value: Any, what: str) -> str:
    """A string field that may be absent (null: ``""``).

    >>> optional_text(None, "content"), optional_text("hi", "content")
    ('', 'hi')
    >>> optional_text(3, "content")
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: content is int, not a string
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReply(f"{what} is {_kind(value)}, not a string")
    return value


def text_or_none(value: Any) -> str | None:
    """A string field read leniently: anything but a non-empty string is "not said".

    >>> text_or_none("llama3.2"), text_or_none(""), text_or_none({"x": 1})
    ('llama3.2', None, None)
    """
    return value if isinstance(value, str) and value else None


def number_or_none(value: Any) -> float | None:
    """A numeric field read leniently: anything but a JSON number is "not said".

    >>> number_or_none(3), number_or_none(0.5), number_or_none(True), number_or_none("3")
    (3, 0.5, None, None)
    """
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def count_or_none(value: Any) -> int | None:
    """A positive count read leniently (a JSON integer, or a float with no fraction), else None.

    >>> count_or_none(4096), count_or_none(4096.0), count_or_none(0), count_or_none(True), count_or_none("4096")
    (4096, 4096, None, None, None)
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def decode(text: str | bytes | bytearray, what: str) -> Any:
    """JSON text decoded, or ``MalformedReply`` quoting the start of what came.

    >>> decode('{"a": 1}', "a stream line")
    {'a': 1}
    >>> decode("<html>", "a stream line")
    Traceback (most recent call last):
    patinox_core.backends.malformed.MalformedReply: a stream line is not JSON: '<html>'
    """
    try:
        return loads(text)
    except ValueError:
        shown = text[:80] if isinstance(text, str) else bytes(text[:80]).decode("utf-8", "replace")
        raise MalformedReply(f"{what} is not JSON: {shown!r}") from None


__all__ = ["MalformedReply", "as_list", "as_mapping", "count_or_none", "decode", "field", "number_or_none",
           "optional_list", "optional_mapping", "optional_text", "text_or_none"]

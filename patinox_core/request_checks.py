"""Checks on what a caller asks for, before anything is sent: tool specs that are not JSON Schema
objects, numbers that JSON cannot carry (``NaN`` would be sent as ``null``, the server's default).

Each failure is a ``ConfigurationError`` naming the argument and the fix, never a stray
``KeyError``/``TypeError`` from deep inside a converter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigurationError

_TOOL_FIX = 'pass {"type": "function", "function": {"name": ..., "parameters": {"type": "object", ...}}}'


def _json_problem(value: Any, path: str, depth: int = 0) -> str | None:
    """Where ``value`` holds something JSON cannot carry (a set, bytes, an object, NaN), else None.

    >>> _json_problem({"a": [1, {"b": {1, 2}}]}, "schema"), _json_problem({"a": [1.5, None]}, "schema")
    ('schema.a[1].b is a set', None)
    """
    if depth > 64:
        return f"{path} is nested more than 64 levels deep"
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value}"
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path} has a key that is not a string ({k!r})"
            if problem := _json_problem(v, f"{path}.{k}", depth + 1):
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if problem := _json_problem(v, f"{path}[{i}]", depth + 1):
                return problem
        return None
    return f"{path} is a {type(value).__name__}"


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Headers patinox sets itself (or the HTTP client does): an affinity header may not replace them.
_OWN_HEADERS = {"authorization", "content-type", "content-length", "host", "connection", "transfer-encoding",
                "accept", "accept-encoding", "user-agent", "cookie"}


def check_header_name(value: Any) -> str:
    """A header name to send (an affinity header, a request's extra header): an HTTP token
    (``""``: none), not a header patinox sets itself.

    >>> check_header_name(" X-SMG-Routing-Key ")
    'X-SMG-Routing-Key'
    >>> check_header_name("x session")
    Traceback (most recent call last):
    ValueError: 'x session' is not an HTTP header name (letters, digits and !#$%&'*+.^_`|~- only)
    """
    if not isinstance(value, str):
        raise ValueError(f"a header name must be a string, not {type(value).__name__}")
    name = value.strip()
    if name and not _TOKEN.fullmatch(name):
        raise ValueError(f"{value!r} is not an HTTP header name (letters, digits and !#$%&'*+.^_`|~- only)")
    if name.lower() in _OWN_HEADERS:
        raise ValueError(f"{name!r} is a header patinox or its HTTP client sets itself: use another name")
    return name


_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def check_headers(headers: Mapping[str, str] | None) -> None:
    """A request's extra headers: valid names (``check_header_name``), values of visible ASCII.

    >>> check_headers({"x-session-id": "user-42"})
    >>> check_headers({"x-session-id": "a\\r\\nX-Evil: 1"})
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: header 'x-session-id' has a value that cannot be sent in HTTP...
    """
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"headers must be a dict of str to str, not {type(headers).__name__}",
                                 hint='pass {"x-session-id": "..."}')
    for name, value in headers.items():
        try:
            if not check_header_name(name):
                raise ValueError("a header name is empty")
        except ValueError as exc:
            raise ConfigurationError(f"headers: {exc}", hint="use a plain header name such as x-session-id") from None
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ConfigurationError(f"header {name!r} has a value that cannot be sent in HTTP",
                                     hint="use visible ASCII characters and spaces only (no line breaks)")


def check_tools(tools: Sequence[Any] | None) -> None:
    """Every tool is an OpenAI function spec with a name and a JSON Schema object for its parameters.

    >>> check_tools([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    >>> check_tools([{"type": "function", "function": {"parameters": {}}}])
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: tool 0 has no name. pass {"type": "function", ...
    """
    if tools is None:
        return
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ConfigurationError(f"tools must be a list of tool specs, not {type(tools).__name__}", hint=_TOOL_FIX)
    for i, tool in enumerate(tools):
        fn = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping):
            raise ConfigurationError(f"tool {i} is a {type(tool).__name__}, not a function spec", hint=_TOOL_FIX)
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"tool {i} has no name", hint=_TOOL_FIX)
        params = fn.get("parameters")
        if params is not None and not isinstance(params, Mapping):
            raise ConfigurationError(
                f"tool {name!r}: parameters is a {type(params).__name__}, not a JSON Schema object",
                hint='pass parameters={"type": "object", "properties": {...}} (or leave it out)')
        if problem := _json_problem(dict(tool), f"tool {name!r}"):
            raise ConfigurationError(f"{problem}, which JSON cannot carry",
                                     hint="use lists instead of sets and only str, int, float, bool, None, "
                                          "lists and dicts in a tool schema")


def check_number(name: str, value: Any) -> None:
    """A sampling parameter must be a finite number (JSON has no NaN; it would be sent as null).

    >>> check_number("temperature", 0.7); check_number("temperature", None)
    >>> check_number("temperature", float("nan"))
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: temperature=nan is not a finite number. pass a number such as 0.7
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name}={value!r} is not a finite number", hint="pass a number such as 0.7")


__all__ = ["check_header_name", "check_headers", "check_number", "check_tools"]

"""The fake Ollama's text helpers: its token count, schema-shaped JSON, deterministic vectors."""

from __future__ import annotations

import hashlib
import math
import random
import re
from typing import Any

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

_WORD = re.compile(r"\S+\s*|\s+")


def count_tokens(text: str) -> int:
    """The fake's token count: words (with their trailing whitespace).

    >>> count_tokens("The sky is blue."), count_tokens("")
    (4, 0)
    """
    return len(_WORD.findall(text))


def schema_instance(schema: dict[str, Any]) -> Any:
    """A minimal JSON value matching ``schema`` (first alternative, first enum value), as a
    constrained decoder would produce.

    >>> schema_instance({"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}})
    {'city': 'text', 'n': 1}
    """
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0])
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {k: schema_instance(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [schema_instance(schema["items"])] if isinstance(schema.get("items"), dict) else []
    return {"string": "text", "integer": 1, "number": 1.0, "boolean": True}.get(kind)


def vector(text: str, dim: int) -> list[float]:
    rng = random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
    return [rng.uniform(-1.0, 1.0) for _ in range(dim)]


def normalise(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm else vec


__all__ = ["count_tokens", "normalise", "schema_instance", "vector"]

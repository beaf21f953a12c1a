"""``Requirements``: what a caller needs from a model, as typed data (``requires=``) or as text.

``Requirements(tools=True, min_context=32768)``, a dict of the same keys, or the short grammar of
``patinox models --explain`` (``parse_requirements``): comma-separated terms

    tools  vision  thinking  embeddings  structured    the model must be known to do it
    ctx>=32k                                        context of at least 32768 tokens (k = 1024)
    size<=8GB                                       weights of at most 8e9 bytes (KB/MB/GB/TB decimal,
                                                    KiB/MiB/GiB/TiB binary)
    prefer=loaded | prefer=fastest | prefer=best    how to rank the models that qualify
    server=URL                                      only models on this server (repeatable)
    remote                                          cloud models may be chosen (allow_remote)

Bad input (an unknown key or term, a bad number) is a ``ConfigurationError`` naming the nearest
valid spelling. Choosing among the catalogue's models is ``routing/selection.py``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError

Prefer = Literal["loaded", "fastest", "best"]
#: capability flags, as ``Capabilities`` names them
FLAGS = ("tools", "vision", "thinking", "embeddings", "structured_output")


class Requirements(BaseModel):
    """What the chosen model must do. Flags left False are not required (False never means "must
    lack"). ``min_context``: tokens, checked against the allocated context of a loaded model, else
    the trained maximum. ``max_size_bytes``: the weights' size on disk. ``prefer``: ``"loaded"``
    (default: a resident model first), ``"fastest"`` (speed tier and measured tokens/s first) or
    ``"best"`` (quality tier first). ``servers``: base URLs (or kinds such as ``"ollama"``) to
    choose from. ``allow_remote``: cloud models (Ollama ``:cloud``) may be chosen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: bool = False
    vision: bool = False
    thinking: bool = False
    embeddings: bool = False
    structured_output: bool = False
    min_context: int | None = Field(default=None, gt=0)
    max_size_bytes: int | None = Field(default=None, gt=0)
    prefer: Prefer = "loaded"
    servers: tuple[str, ...] = ()
    allow_remote: bool = False

    def __init__(self, **values: Any) -> None:
        for key in values:
            if key not in type(self).model_fields:
                raise unknown_key(key)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "requirements"
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            raise ConfigurationError(f"requirement {where} is invalid: {msg}",
                                     hint=f"e.g. {_EXAMPLES.get(where, 'Requirements(tools=True)')}") from None

    @field_validator("servers", mode="before")
    @classmethod
    def _servers(cls, v: Any) -> Any:
        items = [v] if isinstance(v, str) else list(v or ())
        return tuple(str(s).strip().rstrip("/") for s in items if str(s).strip())

    def describe(self) -> str:
        """The requirements in the ``--explain`` grammar (what error messages quote).

        >>> Requirements(tools=True, min_context=32768, prefer="fastest").describe()
        'tools, ctx>=32k, prefer=fastest'
        >>> Requirements().describe()
        'any model'
        """
        terms = [_TERM_OF.get(f, f) for f in FLAGS if getattr(self, f)]
        if self.min_context:
            ctx = self.min_context
            terms.append(f"ctx>={ctx // 1024}k" if ctx % 1024 == 0 else f"ctx>={ctx}")
        if self.max_size_bytes:
            size = self.max_size_bytes
            unit, scale = next(((u, scale) for u, scale in _EXACT if size % scale == 0), ("B", 1))
            terms.append(f"size<={size // scale}{unit}")
        if self.prefer != "loaded":
            terms.append(f"prefer={self.prefer}")
        terms += [f"server={s}" for s in self.servers]
        if self.allow_remote:
            terms.append("remote")
        return ", ".join(terms) or "any model"


_EXAMPLES = {"min_context": "min_context=32768", "max_size_bytes": "max_size_bytes=8_000_000_000",
             "prefer": "prefer='loaded' (or 'fastest', 'best')", "servers": "servers=['http://127.0.0.1:11434']"}
_TERM_OF = {"structured_output": "structured"}
_EXACT = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
#: bare terms of the grammar -> the key they set
_TERMS = {"tools": "tools", "vision": "vision", "thinking": "thinking", "embeddings": "embeddings",
          "structured": "structured_output", "remote": "allow_remote"}
_TERM_ALIASES = {"tool": "tools", "images": "vision", "think": "thinking", "reasoning": "thinking",
                 "embedding": "embeddings", "embed": "embeddings", "json": "structured",
                 "structured_output": "structured", "cloud": "remote"}
_COMPARE = re.compile(r"^(?P<key>[a-z_]+)\s*(?P<op>>=|<=|=)\s*(?P<value>.+)$")
_NUMBER = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)$", re.IGNORECASE)
_CONTEXT_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20,
               "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
GRAMMAR = "tools, vision, thinking, embeddings, structured, ctx>=32k, size<=8GB, prefer=fastest, server=URL, remote"


def unknown_key(key: str) -> ConfigurationError:
    """An unknown requirement key, naming the nearest valid one.

    >>> print(unknown_key("min_ctx").hint)
    did you mean 'min_context'? Valid keys: tools, vision, thinking, embeddings, structured_output, \
min_context, max_size_bytes, prefer, servers, allow_remote
    """
    valid = list(Requirements.model_fields)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = (f"did you mean {close[0]!r}? " if close else "") + f"Valid keys: {', '.join(valid)}"
    return ConfigurationError(f"unknown requirement {key!r}", hint=hint)


def format_bytes(n: int) -> str:
    """A byte count the way ``size<=`` reads it back (decimal units).

    >>> format_bytes(8_000_000_000), format_bytes(2_019_393_189), format_bytes(512)
    ('8GB', '2.02GB', '512B')
    """
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{n / scale:.2f}".rstrip("0").rstrip(".") + unit
    return f"{n}B"


def _bad(term: str, why: str, example: str) -> ConfigurationError:
    return ConfigurationError(f"cannot read requirement {term!r}: {why}", hint=f"write it like {example!r}; "
                              f"the terms are: {GRAMMAR}")


def _amount(term: str, text: str, units: Mapping[str, int], example: str) -> int:
    m = _NUMBER.match(text.strip())
    unit = m.group("unit").lower() if m else ""
    if m is None or unit not in units:
        raise _bad(term, f"{text.strip()!r} is not an amount", example)
    value = round(float(m.group("n")) * units[unit])
    if value <= 0:
        raise _bad(term, "the amount must be above zero", example)
    return value


def _term(term: str, values: dict[str, Any]) -> None:
    """Add one term of the grammar to ``values`` (the keyword arguments of ``Requirements``)."""
    low = term.lower()
    bare = _TERM_ALIASES.get(low, low)
    if bare in _TERMS:
        values[_TERMS[bare]] = True
        return
    m = _COMPARE.match(term.strip()) if "=" in term else None
    key = m.group("key").lower() if m else ""
    if m and key in ("ctx", "context") and m.group("op") == ">=":
        values["min_context"] = _amount(term, m.group("value"), _CONTEXT_UNITS, "ctx>=32k")
    elif m and key == "size" and m.group("op") == "<=":
        values["max_size_bytes"] = _amount(term, m.group("value"), _SIZE_UNITS, "size<=8GB")
    elif m and key == "prefer" and m.group("op") == "=":
        prefer = m.group("value").strip().lower()
        if prefer not in ("loaded", "fastest", "best"):
            raise _bad(term, f"prefer is one of loaded, fastest, best, not {prefer!r}", "prefer=fastest")
        values["prefer"] = prefer
    elif m and key in ("server", "servers") and m.group("op") == "=":
        values["servers"] = (*values.get("servers", ()), m.group("value").strip())
    elif m and key in ("ctx", "context", "size", "prefer", "server"):
        example = {"ctx": "ctx>=32k", "context": "ctx>=32k", "size": "size<=8GB"}.get(key, f"{key}=...")
        raise _bad(term, "that comparison does not apply", example)
    else:
        words = [*_TERMS, "ctx>=", "size<=", "prefer=", "server="]
        close = difflib.get_close_matches(low.split(">")[0].split("<")[0].split("=")[0], words, n=1, cutoff=0.5)
        raise ConfigurationError(f"unknown requirement {term!r}", hint=(f"did you mean {close[0]!r}? " if close
                                 else "") + f"the terms are: {GRAMMAR}")


def parse_requirements(text: str) -> Requirements:
    """``Requirements`` from the short grammar (comma-separated terms; empty: any model).

    >>> parse_requirements("tools, ctx>=32k, size<=8GB")
    Requirements(tools=True, vision=False, thinking=False, embeddings=False, structured_output=False, \
min_context=32768, max_size_bytes=8000000000, prefer='loaded', servers=(), allow_remote=False)
    >>> parse_requirements("toosl")
    Traceback (most recent call last):
    ...
    patinox_core.errors.ConfigurationError: unknown requirement 'toosl'. did you mean 'tools'? the terms are: \
tools, vision, thinking, embeddings, structured, ctx>=32k, size<=8GB, prefer=fastest, server=URL, remote
    """
    values: dict[str, Any] = {}
    for term in (t.strip() for t in text.split(",")):
        if term:
            _term(term, values)
    return Requirements(**values)


def as_requirements(value: Requirements | Mapping[str, Any] | str | None) -> Requirements | None:
    """What ``requires=`` accepts: ``Requirements``, a dict of its keys, the grammar's text, or None."""
    if value is None or isinstance(value, Requirements):
        return value
    if isinstance(value, str):
        return parse_requirements(value)
    if isinstance(value, Mapping):
        return Requirements(**{str(k): v for k, v in value.items()})
    raise ConfigurationError(f"requires= takes Requirements, a dict or a string, not {type(value).__name__}",
                             hint="e.g. requires={'tools': True, 'min_context': 32768}")


__all__ = ["FLAGS", "GRAMMAR", "Prefer", "Requirements", "as_requirements", "format_bytes", "parse_requirements",
           "unknown_key"]

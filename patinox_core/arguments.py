"""Bad constructor and call arguments of the adapters, as one clear error naming the argument.

``ArgumentError`` is a ``ConfigurationError`` (``.recovery`` is ``FIX_CONFIG``) and a ``ValueError``,
which is what LangChain and LlamaIndex callers expect from a bad argument. Unknown names suggest the
nearest valid one, including the spellings other libraries use (``num_predict`` is ``max_tokens``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from .errors import ConfigurationError

#: names other clients use for a patinox argument
ALIASES = {
    "num_predict": "max_tokens", "max_new_tokens": "max_tokens", "n_predict": "max_tokens",
    "max_completion_tokens": "max_tokens", "max_output_tokens": "max_tokens",
    "request_timeout": "timeout", "base_uri": "base_url", "host": "base_url", "endpoint": "base_url",
}


class ArgumentError(ConfigurationError, ValueError):
    """A bad argument to an adapter's constructor or call (also a ``ValueError``)."""


def suggest(name: str, valid: Iterable[str]) -> str:
    """The hint for an unknown ``name``.

    >>> suggest("temprature", ["temperature", "top_p"]), suggest("num_predict", ["max_tokens"])
    ("did you mean 'temperature'?", "did you mean 'max_tokens'? (num_predict is what other clients call it)")
    """
    valid = sorted(set(valid))
    alias = ALIASES.get(name)
    if alias in valid:
        return f"did you mean {alias!r}? ({name} is what other clients call it)"
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(valid)}"


def unknown_argument(name: str, valid: Iterable[str], owner: str) -> ArgumentError:
    return ArgumentError(f"{owner} got an unknown argument {name!r}", hint=suggest(name, valid))


def check_arguments(values: Mapping[str, Any], valid: Iterable[str], owner: str) -> None:
    """Raise ``ArgumentError`` for the first key of ``values`` that is not in ``valid``."""
    valid = set(valid)
    for name in values:
        if name not in valid:
            raise unknown_argument(name, valid, owner)


def field_names(model_cls: Any) -> set[str]:
    """Every name a pydantic model accepts: field names, aliases and validation-alias choices."""
    names: set[str] = set()
    for name, info in model_cls.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif alias is not None:
            names.update(c for c in getattr(alias, "choices", ()) if isinstance(c, str))
    return names


def from_validation_error(exc: ValidationError, owner: str, valid: Iterable[str]) -> ArgumentError:
    """pydantic's error for an adapter's constructor, as an ``ArgumentError`` (the value is not
    echoed: it may be a key)."""
    first = exc.errors()[0]
    loc = first.get("loc") or ("?",)
    name = str(loc[0])
    if first.get("type") == "extra_forbidden":
        return unknown_argument(name, valid, owner)
    where = ".".join(str(p) for p in loc)
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return ArgumentError(f"{owner}({where}=...) is invalid: {msg}", hint=f"pass a valid {name}")


def construct(init: Any, model_cls: Any, **values: Any) -> None:
    """Run a pydantic ``__init__`` after refusing unknown names (LlamaIndex models accept extras
    silently) and with pydantic's error turned into an ``ArgumentError``."""
    owner = model_cls.__name__
    valid = field_names(model_cls)
    check_arguments(values, valid, owner)
    try:
        init(**values)
    except ValidationError as exc:
        raise from_validation_error(exc, owner, valid) from None


__all__ = ["ALIASES", "ArgumentError", "check_arguments", "construct", "field_names", "from_validation_error",
           "suggest", "unknown_argument"]

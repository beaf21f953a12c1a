"""The server kinds, in one ordered list, and the questions the rest of patinox asks about them.

Order matters where rules overlap: discovery tries every spec's strong ``/v1/models`` rule in
this order, then the weak ones (SGLang lists ``max_model_len`` like vLLM, so it comes first).
A new OpenAI-compatible kind is one module in this package plus its line in ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import Any

from ..errors import ConfigurationError
from . import (
    litellm,
    llama_cpp_python,
    llama_server,
    lmstudio,
    ollama,
    ollama_v1,
    openai_compatible,
    sglang,
    tgi,
    vllm,
)
from .spec import KindSpec, Listing, ProviderKind, Quirks

#: The flavor of the server ``patinox serve`` runs (``embedded/``): llama-cpp-python's.
EMBEDDED_FLAVOR: str | None = llama_cpp_python.SPEC.flavor

KINDS: tuple[KindSpec, ...] = (
    ollama.SPEC,
    lmstudio.SPEC,
    litellm.SPEC,
    llama_server.SPEC,
    sglang.SPEC,  # before vLLM: its entries carry max_model_len too
    vllm.SPEC,
    llama_cpp_python.SPEC,
    ollama_v1.SPEC,
    tgi.SPEC,  # known by GET /info when no listing rule matched
    openai_compatible.SPEC,
)

_BY_FLAVOR = {s.flavor: s for s in KINDS}
#: A family's own spec: the one whose flavor is the family's name (``None`` for OpenAI-compatible).
_BY_FAMILY = {s.family: s for s in KINDS if s.flavor in (s.family.value, None)}
_ALIASES: dict[str, ProviderKind] = {"local": ProviderKind.LOCAL, "auto": ProviderKind.LOCAL}
_ALIASES.update((alias, s.family) for s in KINDS for alias in s.aliases)


def _key(flavor: str | None) -> str | None:
    return None if flavor is None else flavor.strip().lower().replace("-", "_")


def find_spec(flavor: str | None) -> KindSpec | None:
    """The spec of a ``Service.flavor`` (``-`` and ``_`` alike), or None when no kind has it.

    >>> find_spec("llama-server").title, find_spec(None).title, find_spec("mlx")
    ("llama.cpp's llama-server", 'an OpenAI-compatible server', None)
    """
    return _BY_FLAVOR.get(_key(flavor))


def spec_for(flavor: str | None) -> KindSpec:
    """The spec of a flavor; an unknown one is a ``ConfigurationError`` listing the known ones.

    >>> spec_for("vllm").family.value
    'openai_compatible'
    >>> spec_for("mlx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: unknown server flavor 'mlx'. use one of ollama, lmstudio, ...
    """
    spec = find_spec(flavor)
    if spec is None:
        raise ConfigurationError(f"unknown server flavor {flavor!r}", hint=f"use one of {', '.join(flavors())} or None")
    return spec


def spec_for_kind(kind: ProviderKind) -> KindSpec:
    """A family's own spec (``LOCAL``: the OpenAI-compatible one, the least assuming).

    >>> spec_for_kind(ProviderKind.OLLAMA).default_port, spec_for_kind(ProviderKind.LOCAL).flavor
    (11434, None)
    """
    return _BY_FAMILY.get(kind, _BY_FAMILY[ProviderKind.OPENAI_COMPATIBLE])


def flavors() -> tuple[str, ...]:
    """Every named flavor, in registry order."""
    return tuple(s.flavor for s in KINDS if s.flavor is not None)


def openai_flavors() -> tuple[str, ...]:
    """The flavors an OpenAI-compatible backend adapts to (every kind spoken to through ``/v1``)."""
    return tuple(s.flavor for s in KINDS if s.flavor is not None and s.openai_flavor in (None, s.flavor))


def parse_kind(value: str | ProviderKind) -> ProviderKind:
    """``"lm-studio"`` -> ``ProviderKind.LMSTUDIO``; unknown names raise ``ConfigurationError``.

    >>> parse_kind("vllm"), parse_kind(" Auto ")
    (<ProviderKind.OPENAI_COMPATIBLE: 'openai_compatible'>, <ProviderKind.LOCAL: 'local'>)
    """
    if isinstance(value, ProviderKind):
        return value
    kind = _ALIASES.get(str(value).strip().lower())
    if kind is None:
        raise ConfigurationError(
            f"unknown provider kind {value!r}", hint=f"use one of {', '.join(k.value for k in ProviderKind)}"
        )
    return kind


def quirks_for(flavor: str | None) -> Quirks:
    """The quirks of a fingerprinted flavor (``None``: a plain OpenAI-compatible server).

    >>> quirks_for("llama_cpp_python").schema_as_json_object, quirks_for("lmstudio").json_mode_as_schema
    (True, True)
    >>> quirks_for(None) == Quirks()
    True
    """
    return spec_for(flavor).quirks


def fingerprint_openai(models_json: Any, headers: Mapping[str, str] | None = None) -> str | None:
    """Which OpenAI-compatible server answered ``GET /v1/models``: the first spec whose strong rule
    matches, else the first whose weak rule does (registry order), else None.

    >>> fingerprint_openai({"data": [{"id": "g", "owned_by": "me", "permissions": []}]}, {"server": "uvicorn"})
    'llama_cpp_python'
    >>> fingerprint_openai({"data": [{"id": "q", "owned_by": "organization_owner"}]}, {"X-Powered-By": "Express"})
    'lmstudio'
    >>> fingerprint_openai({"models": [], "data": [{"id": "g", "owned_by": "llamacpp"}]}, {})
    'llama_server'
    >>> fingerprint_openai({"data": [{"id": "m", "owned_by": "vllm", "max_model_len": 4096}]}, {})
    'vllm'
    >>> fingerprint_openai({"data": [{"id": "llama3.2:latest", "owned_by": "library", "created": 1}]}, {})
    'ollama_v1'
    >>> fingerprint_openai({"data": []}, {"x-litellm-version": "1.93.0"}), fingerprint_openai({"data": []}, {})
    ('litellm', None)
    """
    listing = Listing.of(models_json, headers)
    for spec in KINDS:
        if spec.listing_rule is not None and spec.listing_rule(listing):
            return spec.flavor
    for spec in KINDS:
        if spec.weak_listing_rule is not None and spec.weak_listing_rule(listing):
            return spec.flavor
    return None


def root_match(status: int, text: str, headers: Mapping[str, str]) -> KindSpec | None:
    """The kind whose ``GET /`` rule recognises this reply, if any."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return next((s for s in KINDS if s.root_rule is not None and s.root_rule(status, text, lowered)), None)


def default_targets() -> tuple[tuple[str, ProviderKind], ...]:
    """The loopback URLs probed without configuration, with their kind."""
    return tuple((s.default_url, s.family) for s in KINDS if s.default_url)


def port_kind(port: int | None) -> ProviderKind:
    """The kind a default port suggests before any probe (OpenAI-compatible for any other port)."""
    return next((s.family for s in KINDS if s.default_url and s.default_port == port), ProviderKind.OPENAI_COMPATIBLE)


def served_flavor(kind: ProviderKind, flavor: str | None) -> str | None:
    """The flavor a service of ``kind`` carries once fingerprinted as ``flavor``: a family's own
    ``/v1`` (Ollama's ``ollama_v1``) is that family's flavor when the service is of that family.

    >>> served_flavor(ProviderKind.OLLAMA, "ollama_v1"), served_flavor(ProviderKind.OPENAI_COMPATIBLE, "ollama_v1")
    ('ollama', 'ollama_v1')
    """
    own = spec_for_kind(kind)
    return own.flavor if own.openai_flavor is not None and own.openai_flavor == flavor else flavor


def backend_for(kind: ProviderKind, flavor: str | None) -> tuple[type[Any], dict[str, Any]]:
    """The backend class for a service and the keyword arguments it takes beyond
    ``(base_url, transport, settings)``: a family's native backend takes none; an OpenAI-compatible
    service gets its flavor's backend (when of that family) and ``flavor=`` for its quirks.

    >>> cls, kw = backend_for(ProviderKind.OPENAI_COMPATIBLE, "ollama")
    >>> cls.__name__, kw
    ('OpenAICompatBackend', {'flavor': 'ollama_v1'})
    >>> backend_for(ProviderKind.OLLAMA, "ollama")[0].__name__
    'OllamaBackend'
    """
    own = spec_for_kind(kind)
    if own.family is not ProviderKind.OPENAI_COMPATIBLE:
        return _load(own.backend), {}
    spec = find_spec(flavor)
    if spec is None:
        return _load(own.backend), {"flavor": None}
    path = spec.backend if spec.family is ProviderKind.OPENAI_COMPATIBLE else own.backend
    return _load(path), {"flavor": spec.openai_flavor or spec.flavor}


def _load(path: str) -> type[Any]:
    module, _, name = path.partition(":")
    cls: type[Any] = getattr(import_module(module), name)
    return cls


def names_by_flavor() -> dict[str, str]:
    """How each named flavor is called to a user."""
    return {s.flavor: s.title for s in KINDS if s.flavor is not None}


def found_by_default() -> list[KindSpec]:
    """The kinds discovery finds without configuration (their loopback default), in order."""
    return [s for s in KINDS if s.default_url]


def pull_hints(kinds: Iterable[ProviderKind], name: str) -> list[str]:
    """How to install ``name`` on each of these kinds of server (those that can say).

    >>> pull_hints([ProviderKind.OLLAMA, ProviderKind.OPENAI_COMPATIBLE, ProviderKind.LMSTUDIO], "qwen3")
    ['`ollama pull qwen3`', '`lms get qwen3`']
    """
    specs = (spec_for_kind(k) for k in dict.fromkeys(kinds))
    return [s.pull_hint.format(name=name) for s in specs if s.pull_hint]


def install_example(name: str) -> str:
    """How to install ``name`` on the first kind of server found without configuration.

    >>> install_example("qwen3")
    '`ollama pull qwen3`'
    """
    return pull_hints([s.family for s in found_by_default()], name)[0]


def install_examples() -> str:
    """One example install per kind found without configuration.

    >>> install_examples()
    '`ollama pull llama3.2` or `lms get qwen3-8b`'
    """
    return " or ".join(s.pull_hint.format(name=s.example_model) for s in found_by_default()
                       if s.pull_hint and s.example_model)


def no_server_hint() -> str:
    """What to do when no server answers at all."""
    starts = " or ".join(f"{s.title} with `{s.start_command}`" for s in found_by_default() if s.start_command)
    first, generic = found_by_default()[0], openai_compatible.SPEC
    return (f"start {starts}, or point patinox at a running server ({first.env_var}={first.env_example}, "
            f"{generic.env_var}={generic.env_example}); with nothing installed, `patinox serve` runs a small real "
            "model here")


__all__ = [
    "EMBEDDED_FLAVOR",
    "KINDS",
    "backend_for",
    "default_targets",
    "find_spec",
    "fingerprint_openai",
    "flavors",
    "found_by_default",
    "install_example",
    "install_examples",
    "names_by_flavor",
    "no_server_hint",
    "openai_flavors",
    "parse_kind",
    "port_kind",
    "pull_hints",
    "quirks_for",
    "root_match",
    "served_flavor",
    "spec_for",
    "spec_for_kind",
]

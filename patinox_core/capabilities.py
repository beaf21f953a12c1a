"""What each model can do, as data: ``ModelInfo``, ``Capabilities``, tiers, and how facts are merged.

Facts come in layers, later layers win per key: ``Source.DEFAULT`` < name heuristics
(``Source.HEURISTIC``, the tables of ``name_heuristics.py``) < what the server said (``Source.SERVER``:
Ollama ``/api/show``/``/api/ps``, LM Studio model metadata) < the user's ``LocalSettings.overrides``
(``Source.OVERRIDE``). ``ModelInfo.source`` records where every fact came from. Nothing here does
network I/O; ``model_info(...)`` turns one backend's ``ServerFacts`` into a ``ModelInfo``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum
from typing import Any

from .errors import ConfigurationError
from .facts import ServerFacts
from .kinds import ProviderKind, spec_for_kind
from .name_heuristics import (
    EMBEDDING_FACTS,
    EMBEDDING_NAMES,
    THINKING_NAMES,
    TOOL_NAMES,
    VISION_NAMES,
    heuristic_facts,
    normalize_name,
    parameter_count_from_name,
    parse_parameter_size,
    quantization_bits,
    quantization_from_name,
)
from .reasoning_options import OPTIONS, options_from_wire


class Source(IntEnum):
    """Where a fact came from; a higher source wins."""

    DEFAULT = 0
    HEURISTIC = 1
    SERVER = 2
    OVERRIDE = 3


class QualityTier(IntEnum):
    """Rough answer quality, from parameter count (and very low-bit quantization)."""

    UNKNOWN = 0
    TINY = 1  # < 1.5B
    SMALL = 2  # < 5B
    MEDIUM = 3  # < 20B
    LARGE = 4  # < 50B
    XLARGE = 5


class SpeedTier(IntEnum):
    """Rough generation speed: measured tokens/s once seen, else the weights' memory footprint."""

    UNKNOWN = 0
    SLOW = 1
    MEDIUM = 2
    FAST = 3
    VERY_FAST = 4


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model accepts. ``chat``: chat turns; ``completion``: raw prompts; the rest as named."""

    chat: bool = True
    completion: bool = True
    embeddings: bool = False
    tools: bool = False
    vision: bool = False
    thinking: bool = False
    structured_output: bool = False

    def names(self) -> list[str]:
        """The enabled flags, e.g. ``['chat', 'completion', 'tools']``."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


CAPABILITY_KEYS = tuple(f.name for f in fields(Capabilities))


@dataclass(slots=True)
class ModelInfo:
    """One model on one server, with every fact's source in ``source`` (fact name -> ``Source``).

    ``context_length`` is the trained maximum (or an override's configured length);
    ``effective_context_length`` what a request gets now: the allocated context when loaded, else the
    Modelfile ``num_ctx`` (``default_context_length``), else the server's default allocation
    (``server_context_length``), never above ``context_length``. Where the server cannot tell the
    allocated window (llama.cpp's servers, vLLM without ``max_model_len``), ``context_length`` is the
    effective one, so ``overrides={"m": {"context_length": 2048}}`` turns the context guard on.
    ``parallel_slots`` is how many requests its server runs at once, where the server says
    (``ServerFacts.parallel_slots``; an override may set it); None when unknown. ``remote``: the
    server forwards the model to a cloud host (Ollama ``:cloud`` / ``-cloud`` models, ``remote_host``
    in its listing); ``requires=`` and the default pick never choose one unless allowed. ``instance_count``:
    how many copies are loaded, where the server says (LM Studio); None when unknown.
    ``reasoning_options`` are the reasoning values the model allows (``"off"``, ``"on"``, levels;
    ``patinox_core.reasoning``), None when unknown; ``reasoning_default`` what it does unasked.
    """

    name: str
    service: str
    kind: ProviderKind
    family: str | None = None
    parameter_size: str | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    size_bytes: int | None = None
    context_length: int | None = None
    loaded: bool = False
    loaded_context_length: int | None = None
    default_context_length: int | None = None
    server_context_length: int | None = None
    parallel_slots: int | None = None
    remote: bool = False
    instance_count: int | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    quality_tier: QualityTier = QualityTier.UNKNOWN
    speed_tier: SpeedTier = SpeedTier.UNKNOWN
    tokens_per_second: float | None = None
    reasoning_options: tuple[str, ...] | None = None
    reasoning_default: str | None = None
    source: dict[str, Source] = field(default_factory=dict)

    @property
    def effective_context_length(self) -> int | None:
        if self.loaded and self.loaded_context_length:
            allocated: int | None = self.loaded_context_length
        else:
            allocated = self.default_context_length or self.server_context_length
        if allocated and self.context_length:
            return min(allocated, self.context_length)
        if not allocated and not spec_for_kind(self.kind).reports_allocation:  # no way to ask the allocation
            return self.context_length or None
        return allocated or None

    def can(self, capability: str) -> bool:
        return bool(getattr(self.capabilities, capability))

    def supports(self, capability: str) -> bool:
        """What both framework adapters report (LangChain ``profile``, LlamaIndex ``metadata``): True
        unless the model is known to lack ``capability``. An unknown is not a "no", the same rule by
        which the router refuses a request; ``overrides`` make a fact definite."""
        return not self.known_lacks(capability)

    def known_lacks(self, capability: str) -> bool:
        """True when the model cannot do ``capability`` and someone (a heuristic, the server or
        the user) said so; a mere default never blocks a request."""
        return not self.can(capability) and self.source.get(capability, Source.DEFAULT) > Source.DEFAULT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (used by ``patinox models --json``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("capabilities", "source")}
        out["kind"] = self.kind.value
        out["quality_tier"] = self.quality_tier.name.lower()
        out["speed_tier"] = self.speed_tier.name.lower()
        out["effective_context_length"] = self.effective_context_length
        out["capabilities"] = self.capabilities.names()
        out["source"] = {k: v.name.lower() for k, v in sorted(self.source.items())}
        return out


# --------------------------------------------------------------------------- merging


def resolve(*layers: tuple[Source, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Source]]:
    """Merge fact layers; a later layer wins per key, ``None`` means "no opinion".

    >>> resolve((Source.DEFAULT, {"tools": False, "vision": False}),
    ...         (Source.HEURISTIC, {"tools": True}), (Source.SERVER, {"tools": None, "vision": True}))
    ({'tools': True, 'vision': True}, {'tools': <Source.HEURISTIC: 1>, 'vision': <Source.SERVER: 2>})
    """
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for source, facts in layers:
        for key, value in facts.items():
            if value is not None:
                values[key], sources[key] = value, source
    return values, sources


# --------------------------------------------------------------------------- tiers


def quality_tier_for(parameter_count: int | None, bits: int | None = None) -> QualityTier:
    """Tier from size; 3-bit or lower quantization costs one tier.

    >>> quality_tier_for(270_000_000), quality_tier_for(8_000_000_000), quality_tier_for(8_000_000_000, 2)
    (<QualityTier.TINY: 1>, <QualityTier.MEDIUM: 3>, <QualityTier.SMALL: 2>)
    """
    if not parameter_count:
        return QualityTier.UNKNOWN
    limits = ((1.5e9, QualityTier.TINY), (5e9, QualityTier.SMALL), (20e9, QualityTier.MEDIUM),
              (50e9, QualityTier.LARGE))
    tier = next((t for limit, t in limits if parameter_count < limit), QualityTier.XLARGE)
    if bits is not None and bits <= 3 and tier > QualityTier.TINY:
        tier = QualityTier(tier - 1)
    return tier


#: Measured tokens/s from which each tier starts (below the last: SLOW).
_TPS_LIMITS = ((60.0, SpeedTier.VERY_FAST), (25.0, SpeedTier.FAST), (8.0, SpeedTier.MEDIUM))


def speed_band(tier: SpeedTier) -> tuple[float, float]:
    """The measured tokens/s that keep ``tier`` (``speed_tier_for``); empty for UNKNOWN.

    >>> speed_band(SpeedTier.FAST), speed_band(SpeedTier.SLOW), speed_band(SpeedTier.UNKNOWN)
    ((25.0, 60.0), (0.0, 8.0), (0.0, 0.0))
    """
    upper = math.inf
    for limit, t in _TPS_LIMITS:
        if t is tier:
            return (limit, upper)
        upper = limit
    return (0.0, upper) if tier is SpeedTier.SLOW else (0.0, 0.0)


def speed_tier_for(parameter_count: int | None = None, bits: int | None = None, size_bytes: int | None = None,
                   tokens_per_second: float | None = None) -> SpeedTier:
    """Measured tokens/s when known, else the weights' footprint (unknown quantization: 4-bit).

    >>> speed_tier_for(tokens_per_second=40.0), speed_tier_for(8_000_000_000, 4), speed_tier_for(size_bytes=40e9)
    (<SpeedTier.FAST: 3>, <SpeedTier.FAST: 3>, <SpeedTier.SLOW: 1>)
    """
    if tokens_per_second:
        return next((t for limit, t in _TPS_LIMITS if tokens_per_second >= limit), SpeedTier.SLOW)
    footprint = size_bytes or (parameter_count * (bits or 4) / 8 if parameter_count else None)
    if not footprint:
        return SpeedTier.UNKNOWN
    limits_b = ((1.5e9, SpeedTier.VERY_FAST), (6e9, SpeedTier.FAST), (20e9, SpeedTier.MEDIUM))
    return next((t for limit, t in limits_b if footprint <= limit), SpeedTier.SLOW)


def server_context_default(kind: ProviderKind, version: str | None = None) -> int | None:
    """What a server allocates when nothing else says (its ``KindSpec.context_default``): Ollama 2048
    before 0.7, else 4096; LM Studio 4096; others unknown.

    >>> server_context_default(ProviderKind.OLLAMA, "0.6.8"), server_context_default(ProviderKind.OLLAMA, "0.12.3")
    (2048, 4096)
    """
    default = spec_for_kind(kind).context_default
    return None if default is None else default(version)


# --------------------------------------------------------------------------- building ModelInfo

_FACT_KEYS = ("family", "parameter_size", "parameter_count", "quantization", "size_bytes", "context_length",
              "loaded", "loaded_context_length", "default_context_length", "parallel_slots", "remote", "instance_count",
              *CAPABILITY_KEYS, "quality_tier", "speed_tier", "reasoning_options", "reasoning_default")
_ALIASES = {"embedding": "embeddings", "tool_use": "tools", "reasoning": "thinking",
            "num_ctx": "default_context_length", "context_window": "default_context_length",
            "max_context_length": "context_length"}
_TYPE_FACTS = {
    "embedding": EMBEDDING_FACTS, "embeddings": EMBEDDING_FACTS,
    "vlm": {"vision": True, "chat": True, "embeddings": False},
    "llm": {"chat": True, "embeddings": False},
}


def server_layer(facts: ServerFacts) -> dict[str, Any]:
    """Flatten one backend's ``ServerFacts`` into fact keys (capability flags at top level)."""
    out: dict[str, Any] = {k: v for k, v in facts.items() if k in _FACT_KEYS}
    out.update(_TYPE_FACTS.get(str(facts.get("model_type", "")).lower(), {}))
    for key, value in (facts.get("capabilities") or {}).items():
        out[_ALIASES.get(key, key)] = bool(value)
    if out.get("embeddings") and "chat" not in out:  # an embedding-only model (Ollama ["embedding"])
        out.update({k: False for k in ("chat", "completion", "structured_output") if k not in out})
    elif out.get("completion") and "chat" not in out:  # Ollama's "completion" covers /api/chat too
        out["chat"] = True
    if out.get("parameter_count") is None:
        out["parameter_count"] = parse_parameter_size(facts.get("parameter_size"))
    return out


def _coerce(model: str, key: str, value: Any) -> Any:
    try:
        if key in ("quality_tier", "speed_tier"):
            enum = QualityTier if key == "quality_tier" else SpeedTier
            return enum[value.upper()] if isinstance(value, str) else enum(value)
        if key in CAPABILITY_KEYS or key in ("loaded", "remote"):
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if key.endswith(("_length", "_count", "_bytes", "_slots")):
            return int(value)
        if key == "reasoning_options":
            options = options_from_wire(list(value) if isinstance(value, (list, tuple)) else value)
            if options is None:
                raise ValueError(f"expected a list among {', '.join(OPTIONS)}")
            return options
        return str(value)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"overrides[{model!r}].{key}={value!r} is not valid: {exc}",
                                 hint="fix the override in your settings") from None


def override_layer(name: str, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """User facts for ``name``: an entry for the bare name (``qwen3``) applies to every tag, an
    exact entry (``qwen3:4b``, or ``qwen3`` for ``qwen3:latest``) wins over it."""
    base = name.split(":", 1)[0]
    exact = {name, name.lower()} | ({base, base.lower()} if name.endswith(":latest") else set())
    layers = [v for k, v in overrides.items() if k not in exact and k.lower() == base.lower()]
    layers += [v for k, v in overrides.items() if k in exact]
    out: dict[str, Any] = {}
    for layer in layers:
        flat = dict(layer)
        caps = flat.pop("capabilities", None) or {}
        flat.update(dict.fromkeys(caps, True) if isinstance(caps, (list, tuple)) else caps)
        for key, value in flat.items():
            key = _ALIASES.get(key, key)
            if key not in _FACT_KEYS:
                raise ConfigurationError(f"overrides[{name!r}] has unknown key {key!r}",
                                         hint=f"use one of {', '.join(_FACT_KEYS)}")
            out[key] = None if value is None else _coerce(name, key, value)
    return out


def model_info(facts: ServerFacts, *, service: str, kind: ProviderKind, version: str | None = None,
               overrides: Mapping[str, Mapping[str, Any]] | None = None,
               tokens_per_second: float | None = None) -> ModelInfo:
    """Build a ``ModelInfo`` from a backend's facts: defaults < heuristics < server < overrides."""
    name = facts["name"]
    server = server_layer(facts)
    default = {f: getattr(Capabilities(), f) for f in CAPABILITY_KEYS} | {"loaded": False}
    default["structured_output"] = spec_for_kind(kind).structured_output_default
    user = override_layer(name, overrides or {})
    size_hint = user.get("parameter_count") or server.get("parameter_count")
    values, sources = resolve((Source.DEFAULT, default), (Source.HEURISTIC, heuristic_facts(name, size_hint)),
                              (Source.SERVER, server), (Source.OVERRIDE, user))
    if not values["chat"] and sources["structured_output"] is Source.DEFAULT:  # no chat, no JSON replies
        values["structured_output"], sources["structured_output"] = False, sources["chat"]
    count, bits = values.get("parameter_count"), quantization_bits(values.get("quantization"))
    size_source = max(sources.get("parameter_count", Source.DEFAULT), sources.get("quantization", Source.DEFAULT))
    if "quality_tier" not in values:
        values["quality_tier"], sources["quality_tier"] = quality_tier_for(count, bits), size_source
    if "speed_tier" not in values:
        values["speed_tier"] = speed_tier_for(count, bits, values.get("size_bytes"), tokens_per_second)
        sources["speed_tier"] = Source.SERVER if tokens_per_second else size_source
    caps = Capabilities(**{k: bool(values[k]) for k in CAPABILITY_KEYS})
    kwargs = {k: values[k] for k in _FACT_KEYS if k in values and k not in CAPABILITY_KEYS}
    return ModelInfo(name=name, service=service, kind=kind, capabilities=caps,
                     server_context_length=server_context_default(kind, version),
                     tokens_per_second=tokens_per_second, source=sources, **kwargs)


def fold_speed(old: float | None, measured: float, weight: float = 0.3) -> float:
    """The moving average of tokens/s that ``record_speed`` keeps; a first measurement stands alone.

    >>> fold_speed(None, 90.0), round(fold_speed(90.0, 10.0), 6)
    (90.0, 66.0)
    """
    return measured if old is None else (1 - weight) * old + weight * measured


def record_speed(info: ModelInfo, tokens_per_second: float, *, weight: float = 0.3) -> ModelInfo:
    """A copy of ``info`` with a measured speed folded in (moving average) and its speed tier
    recomputed, unless the user pinned the tier."""
    if tokens_per_second <= 0:
        return info
    tps = fold_speed(info.tokens_per_second, tokens_per_second, weight)
    if info.source.get("speed_tier") is Source.OVERRIDE:
        return replace(info, tokens_per_second=tps)
    source = {**info.source, "speed_tier": Source.SERVER}
    return replace(info, tokens_per_second=tps, speed_tier=speed_tier_for(tokens_per_second=tps), source=source)


__all__ = [
    "CAPABILITY_KEYS",
    "Capabilities",
    "EMBEDDING_NAMES",
    "ModelInfo",
    "QualityTier",
    "Source",
    "SpeedTier",
    "THINKING_NAMES",
    "TOOL_NAMES",
    "VISION_NAMES",
    "fold_speed",
    "heuristic_facts",
    "model_info",
    "normalize_name",
    "parameter_count_from_name",
    "parse_parameter_size",
    "quality_tier_for",
    "quantization_bits",
    "quantization_from_name",
    "record_speed",
    "resolve",
    "server_context_default",
    "speed_tier_for",
]

"""Choosing a model by requirement, pure given the catalogue's entries: ``evaluate`` says of every
model whether it meets a ``Requirements`` and why not; ``select`` picks the first of the ranking or
raises, naming the requirement that excluded the last candidates.

Checks, in this order (a model's reason is its first failed check): ``servers``, ``allow_remote``
(cloud models), chat vs ``embeddings``, ``tools``, ``vision``, ``thinking``, ``structured_output``,
``min_context``, ``max_size_bytes``. A capability counts only when known (from the server, a name
heuristic or ``overrides``). The models that pass are ranked by ``prefer``, then by fixed
tie-breaks, so the choice never depends on the order servers list their models:

    prefer="loaded"   loaded, quality tier, speed tier, measured tokens/s
    prefer="best"     quality tier, loaded, speed tier, measured tokens/s
    prefer="fastest"  speed tier, measured tokens/s, loaded, quality tier
    then              larger context, smaller size, name (A-Z), server URL (A-Z)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..capabilities import ModelInfo
from ..errors import ModelNotFoundError, RecoveryStrategy
from ..kinds import install_example
from ..requirements import Requirements, format_bytes

_CAPABILITY_WORDS = {"tools": "tool calling", "vision": "images", "thinking": "thinking",
                     "structured_output": "structured output", "embeddings": "embeddings", "chat": "chat"}
_INSTALL = {"tools": "qwen3", "vision": "gemma3", "thinking": "qwen3", "embeddings": "nomic-embed-text",
            "structured_output": "llama3.2", "chat": "llama3.2"}


def usable_context(info: ModelInfo) -> tuple[int | None, str]:
    """The context ``min_context`` is checked against, and which figure it is: the allocated window
    of a loaded model where the server reports it, else the trained maximum, else the effective one."""
    if info.loaded and info.loaded_context_length:
        return info.loaded_context_length, "allocated"
    if info.context_length:
        return info.context_length, "trained"
    return info.effective_context_length, "effective"


def _capability(name: str) -> Callable[[ModelInfo, Requirements], str | None]:
    def check(info: ModelInfo, req: Requirements) -> str | None:
        if name != "chat" and not getattr(req, name):
            return None
        if info.can(name):
            return None
        what = _CAPABILITY_WORDS[name]
        if info.known_lacks(name):
            return f"no {what} (per {info.source[name].name.lower()} facts)"
        return f"not known to do {what} (overrides can mark it)"
    return check


def _servers(info: ModelInfo, req: Requirements) -> str | None:
    if not req.servers or info.service.rstrip("/") in req.servers or info.kind.value in req.servers:
        return None
    return f"on {info.service}, not one of servers={list(req.servers)}"


def _remote(info: ModelInfo, req: Requirements) -> str | None:
    return "a cloud model (allow_remote=True allows it)" if info.remote and not req.allow_remote else None


def _kind(info: ModelInfo, req: Requirements) -> str | None:
    return _capability("embeddings")(info, req) if req.embeddings else _capability("chat")(info, req)


def _context(info: ModelInfo, req: Requirements) -> str | None:
    if not req.min_context:
        return None
    context, which = usable_context(info)
    if context is None:
        return "context length unknown"
    return None if context >= req.min_context else f"context {context} ({which}) < {req.min_context}"


def _size(info: ModelInfo, req: Requirements) -> str | None:
    if not req.max_size_bytes:
        return None
    if not info.size_bytes:
        return "size unknown"
    if info.size_bytes <= req.max_size_bytes:
        return None
    return f"size {format_bytes(info.size_bytes)} > {format_bytes(req.max_size_bytes)}"


#: (requirement as the error names it, check) in check order
CHECKS: tuple[tuple[str, Callable[[ModelInfo, Requirements], str | None]], ...] = (
    ("servers", _servers), ("allow_remote", _remote), ("kind", _kind), ("tools", _capability("tools")),
    ("vision", _capability("vision")), ("thinking", _capability("thinking")),
    ("structured_output", _capability("structured_output")), ("min_context", _context),
    ("max_size_bytes", _size),
)


@dataclass(frozen=True)
class Rejection:
    """A model that does not meet the requirements: which check failed, and why (one line)."""

    info: ModelInfo
    requirement: str
    reason: str


@dataclass(frozen=True)
class Selection:
    """The chosen model (``model``), the others that qualify in rank order (``ranked``, chosen
    first) and every other model with its reason (``rejected``)."""

    requirements: Requirements
    ranked: tuple[ModelInfo, ...]
    rejected: tuple[Rejection, ...]

    @property
    def model(self) -> ModelInfo:
        return self.ranked[0]

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def explanation(self) -> str:
        """Why ``model`` was chosen, in one line."""
        first = self.model
        lead = f"{first.name} on {first.service}: {describe(first)}"
        if len(self.ranked) == 1:
            return f"{lead}; the only model that meets {self.requirements.describe()}"
        return f"{lead}; ahead of {self.ranked[1].name} ({why_ahead(first, self.ranked[1], self.requirements)})"

    def why_not(self) -> list[tuple[ModelInfo, str]]:
        """Every model but the chosen one, with why it was not picked (ranked ones first)."""
        out = [(info, f"qualifies, ranks #{n + 2}: {why_ahead(self.model, info, self.requirements)}")
               for n, info in enumerate(self.ranked[1:])]
        return out + [(r.info, r.reason) for r in self.rejected]


def describe(info: ModelInfo) -> str:
    """The facts ranking reads, e.g. ``loaded, quality medium, speed fast, context 40960 (trained)``."""
    context, which = usable_context(info)
    parts = ["loaded" if info.loaded else "not loaded", f"quality {info.quality_tier.name.lower()}",
             f"speed {info.speed_tier.name.lower()}"]
    if context:
        parts.append(f"context {context} ({which})")
    if info.remote:
        parts.append("cloud")
    return ", ".join(parts)


def _keys(info: ModelInfo, prefer: str) -> list[tuple[str, float]]:
    """(what, value) in rank order; a larger value ranks higher (unknown size: last)."""
    loaded = ("loaded", info.loaded)
    quality = ("quality", int(info.quality_tier))
    speed = ("speed", int(info.speed_tier))
    tps = ("measured speed", info.tokens_per_second or 0.0)
    head = {"loaded": [loaded, quality, speed, tps], "best": [quality, loaded, speed, tps],
            "fastest": [speed, tps, loaded, quality]}[prefer]
    return [*head, ("context", usable_context(info)[0] or 0), ("size", -(info.size_bytes or math.inf))]


def rank_key(info: ModelInfo, prefer: str) -> tuple[object, ...]:
    """Sort key (ascending = better) for ``prefer``; deterministic to the last tie."""
    return (*(-v for _, v in _keys(info, prefer)), info.name, info.service)


def _size_text(info: ModelInfo) -> str:
    return format_bytes(info.size_bytes) if info.size_bytes else "unknown"


def why_ahead(first: ModelInfo, other: ModelInfo, req: Requirements) -> str:
    """The first ranking key on which ``first`` beats ``other``, in words about ``other``."""
    for (what, a), (_, b) in zip(_keys(first, req.prefer), _keys(other, req.prefer), strict=True):
        if a == b:
            continue
        if what == "loaded":
            return "not loaded"
        if what in ("quality", "speed"):
            tier = "quality_tier" if what == "quality" else "speed_tier"
            return f"{what} {getattr(other, tier).name.lower()} < {getattr(first, tier).name.lower()}"
        if what == "measured speed":
            return f"measured {b:.0f} < {a:.0f} tokens/s"
        if what == "context":
            return f"context {b:.0f} < {a:.0f}"
        return f"larger ({_size_text(other)} vs {_size_text(first)})"
    return "a tie, broken by name" if first.name != other.name else "same model, later server URL"


def evaluate(infos: Sequence[ModelInfo], req: Requirements) -> Selection:
    """Every model checked against ``req``; ``ranked`` may be empty (``select`` raises then)."""
    ranked: list[ModelInfo] = []
    rejected: list[Rejection] = []
    for info in infos:
        failed = next(((name, why) for name, check in CHECKS if (why := check(info, req)) is not None), None)
        if failed is None:
            ranked.append(info)
        else:
            rejected.append(Rejection(info, *failed))
    ranked.sort(key=lambda i: rank_key(i, req.prefer))
    order = [name for name, _ in CHECKS]
    rejected.sort(key=lambda r: (-order.index(r.requirement), r.info.name, r.info.service))  # near misses first
    return Selection(req, tuple(ranked), tuple(rejected))


def _requirement_text(requirement: str, req: Requirements) -> str:
    if requirement == "kind":
        return "embeddings=True" if req.embeddings else "a chat model"
    value = getattr(req, requirement)
    return f"{requirement}={list(value) if isinstance(value, tuple) else value}"


def no_match(selection: Selection) -> ModelNotFoundError:
    """Nothing meets the requirements: name the requirement that excluded the last candidates (the
    latest check in ``CHECKS`` order that removed any model) and what to do about it."""
    req = selection.requirements
    order = [name for name, _ in CHECKS]
    last = max((r.requirement for r in selection.rejected), key=order.index)
    victims = [r for r in selection.rejected if r.requirement == last]
    shown = "; ".join(f"{r.info.name}: {r.reason}" for r in victims[:4]) + ("; ..." if len(victims) > 4 else "")
    recovery = RecoveryStrategy.FIX_CONFIG
    if last in ("kind", "tools", "vision", "thinking", "structured_output"):
        need = "embeddings" if last == "kind" and req.embeddings else "chat" if last == "kind" else last
        hint = f"install one that does (e.g. {install_example(_INSTALL[need])}) or relax the requirement"
        recovery = RecoveryStrategy.PULL_MODEL
    elif last == "min_context":
        hint = "lower min_context, or load a model with a larger context (num_ctx / LM Studio context length)"
    elif last == "max_size_bytes":
        hint = "raise max_size_bytes or install a smaller model"
    elif last == "allow_remote":
        hint = "pass allow_remote=True (grammar: remote) to allow cloud models, or install a local model"
    else:
        hint = "check servers= (base URLs as `patinox status` shows them, or kinds such as 'ollama')"
    return ModelNotFoundError(f"no model meets the requirements ({req.describe()}): "
                              f"{_requirement_text(last, req)} excluded the last candidates ({shown})",
                              hint=hint, recovery=recovery)


def select(infos: Sequence[ModelInfo], req: Requirements) -> Selection:
    """The ``Selection`` for ``req`` over ``infos``; ``ModelNotFoundError`` when no model qualifies
    (``infos`` must not be empty: the caller says why a catalogue is empty)."""
    selection = evaluate(infos, req)
    if not selection.ranked:
        raise no_match(selection)
    return selection


__all__ = ["CHECKS", "Rejection", "Selection", "describe", "evaluate", "no_match", "rank_key", "select",
           "usable_context", "why_ahead"]

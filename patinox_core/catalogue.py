"""One model catalogue across services, and the routing policy as pure functions.

``Catalogue`` keeps each service's ``ModelInfo`` list (built by ``capabilities.model_info`` from
the backend's ``ServerFacts``) for ``settings.discovery_ttl``; it does no I/O. The policy the
router applies is here too, free of I/O so it is tested with plain lists: name resolution
(``match_names``), picking a default model (``pick_default``), candidate order
(``order_candidates``), capability checks (``check_capabilities``) and the context guard
(``estimate_prompt_tokens``, ``context_limit``, ``truncation_suspected``).
"""

from __future__ import annotations

import difflib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from .capabilities import ModelInfo, Source, fold_speed, model_info, record_speed, speed_tier_for
from .config import LocalSettings, ProviderKind
from .errors import CapabilityError, ConfigurationError, ModelNotFoundError
from .facts import ServerFacts
from .kinds import pull_hints
from .types import ChatRequest

if TYPE_CHECKING:
    from .discovery import Service

#: The context guard's estimate: about four characters per token (English prose and code; it
#: undercounts CJK text), plus a few tokens of chat-template overhead per message, plus a flat
#: allowance per image.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_TOKENS = 256

_WHAT = {"chat": "chat", "embeddings": "embeddings", "tools": "tool calling", "vision": "images",
         "thinking": "thinking"}
_EXAMPLE = {"chat": "llama3.2", "embeddings": "nomic-embed-text", "tools": "qwen3", "vision": "gemma3",
            "thinking": "qwen3"}


# --------------------------------------------------------------------------- names


def match_names(name: str, names: Iterable[str]) -> list[str]:
    """Catalogue names that ``name`` means, from the first rule that matches: exact, ``name:latest``,
    case-insensitive, the part after a namespace (``qwen3-8b`` for ``qwen/qwen3-8b``), then prefix.
    One result: resolved; several: ambiguous; none: unknown.

    >>> names = ["llama3.2:latest", "qwen3:4b", "qwen3:8b", "qwen/qwen3-8b"]
    >>> match_names("llama3.2", names), match_names("qwen3:4b", names), match_names("qwen3-8b", names)
    (['llama3.2:latest'], ['qwen3:4b'], ['qwen/qwen3-8b'])
    >>> match_names("qwen3", names), match_names("mistral", names)
    (['qwen3:4b', 'qwen3:8b'], [])
    """
    unique = list(dict.fromkeys(names))
    if name in unique:  # the common case, without the rule scan
        return [name]
    rules = (
        lambda n: n == name,
        lambda n: ":" not in name and n == f"{name}:latest",
        lambda n: n.lower() in (name.lower(), f"{name.lower()}:latest"),
        lambda n: "/" in n and n.rsplit("/", 1)[1].lower() in (name.lower(), f"{name.lower()}:latest"),
        lambda n: n.lower().startswith(name.lower()),
    )
    for rule in rules:
        hits = [n for n in unique if rule(n)]
        if hits:
            return hits
    return []


def not_found(name: str, infos: Sequence[ModelInfo], kinds: Iterable[ProviderKind]) -> ModelNotFoundError:
    """``ModelNotFoundError`` naming close matches and how to install the model."""
    installed = sorted({i.name for i in infos})
    close = difflib.get_close_matches(name, installed, n=3, cutoff=0.5)
    how = pull_hints(kinds, name)
    hint = f"install it: {' or '.join(how)}" if how else "install it on one of your servers"
    if close:
        hint += f"; did you mean {', '.join(close)}?"
    elif installed:
        hint += f"; installed: {', '.join(installed[:8])}{', ...' if len(installed) > 8 else ''}"
    return ModelNotFoundError(f"model {name!r} is not on any server patinox found", hint=hint, model=name)


def no_default(need: str, infos: Sequence[ModelInfo]) -> ModelNotFoundError:
    """No model is known to do ``need``: name the installed models nobody said anything about (the
    server may well serve one of them), how to mark one with ``overrides``, and ``patinox models``.

    >>> from patinox_core.capabilities import model_info
    >>> info = model_info({"name": "gemma3-270m"}, service="s", kind=ProviderKind.OPENAI_COMPATIBLE)
    >>> print(no_default("embeddings", [info]).hint)  # doctest: +NORMALIZE_WHITESPACE
    patinox does not know whether gemma3-270m can do embeddings: pass model=..., or mark it with
    overrides={'gemma3-270m': {'embeddings': True}} (PATINOX_OVERRIDES or patinox.toml); `patinox models` shows
    what patinox knows; or install one (e.g. `ollama pull nomic-embed-text`)
    """
    example = _EXAMPLE.get(need, "llama3.2")
    unknown = sorted({i.name for i in infos if not i.can(need) and not i.known_lacks(need)})
    hint = f"install one (e.g. `ollama pull {example}`) or pass model=..."
    if unknown:
        names = ", ".join(unknown[:4]) + (", ..." if len(unknown) > 4 else "")
        hint = (f"patinox does not know whether {names} can do {need}: pass model=..., or mark it with "
                f"overrides={{{unknown[0]!r}: {{{need!r}: True}}}} (PATINOX_OVERRIDES or patinox.toml); "
                f"`patinox models` shows what patinox knows; or install one (e.g. `ollama pull {example}`)")
    return ModelNotFoundError(f"no {need} model is installed on any server", hint=hint)


def resolve_name(name: str, infos: Sequence[ModelInfo], kinds: Iterable[ProviderKind] = ()) -> str:
    """The one catalogue name ``name`` means, or ``ModelNotFoundError`` / ``ConfigurationError``."""
    hits = match_names(name, [i.name for i in infos])
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise not_found(name, infos, kinds)
    raise ConfigurationError(f"model name {name!r} is ambiguous: {', '.join(hits)}",
                             hint="pass the full name of one of them", model=name)


# --------------------------------------------------------------------------- choosing


def _rank(info: ModelInfo) -> tuple[int, bool, int]:
    return (int(info.quality_tier), info.loaded, int(info.speed_tier))


def pick_default(infos: Sequence[ModelInfo], need: str = "chat", require: Iterable[str] = ()) -> ModelInfo | None:
    """The best model that can do ``need`` (by quality tier, then loaded, then speed; the first
    listed wins a tie), preferring ones that can also do everything in ``require``."""
    able = [i for i in infos if i.can(need)]
    wanted = list(require)
    preferred = [i for i in able if all(i.can(r) for r in wanted)] or able
    best: ModelInfo | None = None
    for info in preferred:
        if best is None or _rank(info) > _rank(best):
            best = info
    return best


def order_candidates(infos: Sequence[ModelInfo], *, health: Mapping[str, bool] | None = None,
                     cooldown_until: Mapping[str, float] | None = None, now: float | None = None,
                     ) -> list[ModelInfo]:
    """Try order for one model's copies: usable services first (healthy, not cooling down), the
    ones with the model loaded first among them; cooling or unhealthy ones last, as a last resort.
    Stable: equal candidates keep the catalogue order."""
    health = health or {}
    cooldown_until = cooldown_until or {}
    now = time.monotonic() if now is None else now

    def key(pair: tuple[int, ModelInfo]) -> tuple[bool, bool, bool, int]:
        index, info = pair
        cooling = cooldown_until.get(info.service, 0.0) > now
        return (cooling, not health.get(info.service, True), not info.loaded, index)

    return [info for _, info in sorted(enumerate(infos), key=key)]


def request_needs(request: ChatRequest) -> list[str]:
    """Capabilities a chat request uses besides chat itself."""
    needs = []
    if request.tools and request.tool_choice != "none":
        needs.append("tools")
    if request.has_images:
        needs.append("vision")
    if request.think not in (None, False):
        needs.append("thinking")
    return needs


def check_capabilities(info: ModelInfo, need: str, extra: Iterable[str], infos: Sequence[ModelInfo]) -> None:
    """Raise ``CapabilityError`` when ``info`` is known not to do ``need`` or one of ``extra``,
    naming the best model that can, if any. Only facts from a heuristic, the server or the user
    refuse; an unknown capability is left for the server to decide."""
    for capability in (need, *extra):
        if not info.known_lacks(capability):
            continue
        others = [i for i in infos if i.name != info.name]
        alt = pick_default(others, capability, [need] if capability != need else [])
        what = _WHAT.get(capability, capability)
        if alt is not None:
            hint = f"use a model that does, e.g. {alt.name!r} on {alt.service}"
        else:
            hint = f"install one, e.g. `ollama pull {_EXAMPLE.get(capability, 'qwen3')}`"
        hint += f"; if {info.name} does support it, set overrides={{{info.name!r}: {{{capability!r}: True}}}}"
        raise CapabilityError(f"{info.name} does not support {what} (per {info.source[capability].name.lower()} "
                              "facts)", hint=hint, model=info.name, service=info.service)


# --------------------------------------------------------------------------- context guard


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Rough prompt size in tokens: characters / 4 + per-message overhead + images + tool specs.

    >>> from patinox_core.types import Message
    >>> estimate_prompt_tokens(ChatRequest(model="m", messages=[Message(role="user", content="x" * 400)]))
    104
    """
    chars = 0
    images = 0
    for m in request.messages:
        chars += len(m.content) + len(m.thinking or "")
        chars += sum(len(tc.name) + len(json.dumps(tc.arguments)) for tc in m.tool_calls)
        images += len(m.images)
    if request.tools:
        chars += len(json.dumps(request.tools))
    return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * len(request.messages) + IMAGE_TOKENS * images


def context_limit(info: ModelInfo, request: ChatRequest) -> int | None:
    """Tokens the prompt may use: an explicit Ollama ``num_ctx`` (Ollama reallocates for it, up to
    the trained maximum), else the model's effective context."""
    if request.num_ctx and info.kind is ProviderKind.OLLAMA:
        return min(request.num_ctx, info.context_length) if info.context_length else request.num_ctx
    return info.effective_context_length


def overflow_message(info: ModelInfo, estimate: int, limit: int) -> str:
    fate = ("the server would drop the start of the prompt" if info.kind is ProviderKind.OLLAMA
            else "the server would reject the request (HTTP 400)")
    return (f"the prompt (about {estimate} tokens, estimated as characters/4) may not fit {info.name}'s "
            f"context of {limit} tokens on {info.service}; {fate}")


def overflow_hint(info: ModelInfo) -> str:
    if info.kind is ProviderKind.OLLAMA:
        top = f" (the model allows up to {info.context_length})" if info.context_length else ""
        return f"shorten the input or raise num_ctx{top}"
    return "shorten the input or load the model with a larger context length"


def truncation_suspected(estimate: int, limit: int | None, input_tokens: int | None,
                         cached_tokens: int | None = None) -> bool:
    """After an Ollama reply: did the server evaluate far fewer prompt tokens than were sent?
    True when the estimate is at least 256 tokens, exceeds the limit (when known) and the server
    counted under half of it (cached tokens included).

    >>> truncation_suspected(20_000, 4096, 4000), truncation_suspected(900, 4096, 850)
    (True, False)
    """
    if input_tokens is None or estimate < 256:
        return False
    seen = input_tokens + (cached_tokens or 0)
    return seen < estimate / 2 and (limit is None or estimate > limit)


# --------------------------------------------------------------------------- snapshots


class View(NamedTuple):
    """A snapshot of the catalogue for routing: entries, services, entries by name."""

    infos: list[ModelInfo]
    services: list[Service]
    by_name: dict[str, list[ModelInfo]]
    key: tuple[Any, ...]
    valid_until: float
    aliases: dict[str, str]  # name as asked -> catalogue name
    found: tuple[Any, ...] | None = None  # (provider setting, *discovery's answer) it was built from


def _make_renamer() -> Callable[[ChatRequest, str], ChatRequest]:
    """A shallow copier of ``ChatRequest`` with a new ``model``, written out field by field from the
    dataclass's fields (as ``dataclasses`` writes ``__init__``): about 10x faster than a loop of
    ``getattr``/``setattr``, and it runs on every chat call whose model name was resolved."""
    lines = [f"    clone.{f.name} = request.{f.name}" for f in fields(ChatRequest) if f.name != "model"]
    source = "def rename(request, name):\n    clone = new(cls)\n" + "\n".join(lines) + (
        "\n    clone.model = name\n    return clone\n")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": ChatRequest}
    exec(source, namespace)  # the source is built above from the dataclass's own field names
    return namespace["rename"]  # type: ignore[no-any-return]


_rename = _make_renamer()


def with_model(request: ChatRequest, name: str) -> ChatRequest:
    """``request`` for the resolved model name: the same object when the name already matches,
    else a shallow copy (no re-validation: only the name changes).

    >>> req = ChatRequest(model="llama3.2", messages=[], temperature=0.2)
    >>> renamed = with_model(req, "llama3.2:latest")
    >>> (renamed.model, renamed.temperature, renamed.messages is req.messages, req.model)
    ('llama3.2:latest', 0.2, True, 'llama3.2')
    """
    if request.model == name:
        return request
    return _rename(request, name)


# --------------------------------------------------------------------------- catalogue


class Catalogue:
    """``ModelInfo`` per service with fetch times; thread-safe; no I/O (the router fetches)."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._infos: dict[str, list[ModelInfo]] = {}
        self._fetched: dict[str, float] = {}
        self._speeds: dict[tuple[str, str], float] = {}  # measured tokens/s, kept across refreshes
        self._behind: set[tuple[str, str]] = set()  # entries whose tokens_per_second lags _speeds
        self._lock = threading.Lock()
        self.version = 0  # bumped on every change routing sees, so readers can cache views of the entries

    def stale(self, services: Iterable[str]) -> list[str]:
        """Services whose entries are missing or older than ``discovery_ttl``."""
        now, ttl = time.monotonic(), self.settings.discovery_ttl
        with self._lock:
            return [s for s in services if s not in self._fetched or now - self._fetched[s] >= ttl]

    def store(self, service: str, kind: ProviderKind, version: str | None, facts: Sequence[ServerFacts],
              ) -> list[ModelInfo]:
        infos = []
        for f in facts:
            if not f.get("name"):
                continue
            tps = self._speeds.get((service, f["name"]))
            infos.append(model_info(f, service=service, kind=kind, version=version,
                                    overrides=self.settings.overrides, tokens_per_second=tps))
        with self._lock:
            self._infos[service] = infos
            self._behind = {k for k in self._behind if k[0] != service}
            self._fetched[service] = time.monotonic()
            self.version += 1
        return infos

    def fresh_until(self, services: Iterable[str]) -> float:
        """``time.monotonic()`` deadline before which none of ``services`` is stale."""
        with self._lock:
            fetched = [self._fetched.get(s, -math.inf) for s in services]
        return min(fetched, default=math.inf) + self.settings.discovery_ttl

    def entries(self, services: Iterable[str]) -> list[ModelInfo]:
        """Every known model on ``services``, in service order then server order."""
        with self._lock:
            if self._behind:
                self._catch_up()
            return [i for s in services for i in self._infos.get(s, ())]

    def _catch_up(self) -> None:
        """Write the speeds ``record_speed`` deferred into their entries (lock held)."""
        for service, name in self._behind:
            infos = self._infos.get(service, [])
            for n, info in enumerate(infos):
                if info.name == name:
                    infos[n] = replace(info, tokens_per_second=self._speeds[(service, name)])
        self._behind.clear()

    def _update(self, service: str, name: str, fn: Callable[[ModelInfo], ModelInfo]) -> None:
        with self._lock:
            infos = self._infos.get(service, [])
            for n, info in enumerate(infos):
                if info.name == name:
                    new = infos[n] = fn(info)
                    # views cache routing decisions: only what routing reads invalidates them
                    if (new.loaded, new.speed_tier) != (info.loaded, info.speed_tier):
                        self.version += 1

    def record_speed(self, service: str, name: str, tokens_per_second: float) -> None:
        """Fold a measured speed into the model's entry (and keep it across refreshes).

        Runs after every reply, so the common case is cheap: when the speed tier stays what it was,
        only the moving average in ``_speeds`` changes and the entry is rewritten at the next
        ``entries()`` (readers see exactly what an immediate ``capabilities.record_speed`` gives).
        A new tier, a first measurement or a duplicate name takes the immediate path."""
        if tokens_per_second <= 0:
            return
        key = (service, name)
        with self._lock:
            matches = [(n, i) for n, i in enumerate(self._infos.get(service, ())) if i.name == name]
            if len(matches) == 1:
                n, info = matches[0]
                old = self._speeds[key] if key in self._behind else info.tokens_per_second
                tps = fold_speed(old, tokens_per_second)
                pinned = info.source.get("speed_tier") is Source.OVERRIDE
                if old is not None and (pinned or (info.source.get("speed_tier") is Source.SERVER
                                                   and speed_tier_for(tokens_per_second=tps) is info.speed_tier)):
                    self._speeds[key] = tps  # same tier: what routing reads is unchanged
                    self._behind.add(key)
                    return
                if key in self._behind:
                    info = replace(info, tokens_per_second=old)
                    self._behind.discard(key)
                new = self._infos[service][n] = record_speed(info, tokens_per_second)
                if new.speed_tier != info.speed_tier:
                    self.version += 1  # views cache routing decisions: a new tier invalidates them
                if new.tokens_per_second:
                    self._speeds[key] = new.tokens_per_second
                return
        self._update(service, name, lambda i: record_speed(i, tokens_per_second))
        with self._lock:
            for info in self._infos.get(service, ()):
                if info.name == name and info.tokens_per_second:
                    self._speeds[key] = info.tokens_per_second

    def mark_loaded(self, service: str, name: str) -> None:
        """The model just answered on ``service``, so it is resident there now."""
        self._update(service, name, lambda i: i if i.loaded else replace(i, loaded=True))

    def loaded_names(self, service: str) -> set[str] | None:
        """What the server said is loaded (``None`` when it does not report load state)."""
        with self._lock:
            infos = self._infos.get(service, [])
            if not any(i.source.get("loaded", Source.DEFAULT) > Source.DEFAULT for i in infos):
                return None
            return {i.name for i in infos if i.loaded}


__all__ = [
    "CHARS_PER_TOKEN",
    "Catalogue",
    "View",
    "check_capabilities",
    "context_limit",
    "estimate_prompt_tokens",
    "match_names",
    "no_default",
    "not_found",
    "order_candidates",
    "pick_default",
    "request_needs",
    "resolve_name",
    "truncation_suspected",
    "with_model",
]

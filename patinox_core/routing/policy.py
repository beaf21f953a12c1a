"""Routing policy, pure given a catalogue view: which model a request means and which copies of it
to try, in what order, planned once per request.

Names (``match_names``, ``resolve_name``), the default pick (``pick_default``), candidate order
(``order_candidates``: usable servers first, the model loaded first among them), capability checks
(``check_capabilities``) and ``plan``, which puts them together for one request. The context guard
is ``routing/context.py``; health and cooldown ``routing/health.py``.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..capabilities import ModelInfo
from ..config import LocalSettings, ProviderKind
from ..errors import CapabilityError, ConfigurationError, ModelNotFoundError, ServiceUnavailableError
from ..kind_mismatch import mismatch_error
from ..kinds import find_spec, install_example, install_examples, no_server_hint, pull_hints, spec_for_kind
from ..types import ChatRequest

if TYPE_CHECKING:
    from ..catalogue import View

NO_SERVER_HINT = no_server_hint()
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
    hint = f"install one (e.g. {install_example(example)}) or pass model=..."
    if unknown:
        names = ", ".join(unknown[:4]) + (", ..." if len(unknown) > 4 else "")
        hint = (f"patinox does not know whether {names} can do {need}: pass model=..., or mark it with "
                f"overrides={{{unknown[0]!r}: {{{need!r}: True}}}} (PATINOX_OVERRIDES or patinox.toml); "
                f"`patinox models` shows what patinox knows; or install one (e.g. {install_example(example)})")
    if cloud := sorted({i.name for i in infos if i.remote and i.can(need)}):
        hint += f"; cloud models ({cloud[0]}) are used only when named or with requires={{'allow_remote': True}}"
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
    listed wins a tie), preferring ones that can also do everything in ``require``. Cloud models
    (``ModelInfo.remote``) are never a default: a request names them, or ``requires=`` allows them."""
    able = [i for i in infos if i.can(need) and not i.remote]
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
    if len(infos) <= 1:
        return list(infos)
    health = health or {}
    cooldown_until = cooldown_until or {}
    now = time.monotonic() if now is None else now

    def key(pair: tuple[int, ModelInfo]) -> tuple[bool, bool, bool, int]:
        index, info = pair
        cooling = cooldown_until.get(info.service, 0.0) > now
        return (cooling, not health.get(info.service, True), not info.loaded, index)

    return [info for _, info in sorted(enumerate(infos), key=key)]


def capacity(info: ModelInfo, flavor: str | None, configured: int | None = None) -> int:
    """Requests ``info``'s server runs at once for it: the endpoint's ``max_concurrency``, else what
    the server reported (``parallel_slots``), else the kind's ``default_slots``.

    >>> from patinox_core.capabilities import model_info
    >>> info = model_info({"name": "m", "parallel_slots": 2}, service="s", kind=ProviderKind.OPENAI_COMPATIBLE)
    >>> capacity(info, "llama_server"), capacity(info, "llama_server", configured=8)
    (2, 8)
    >>> capacity(model_info({"name": "m"}, service="s", kind=ProviderKind.OPENAI_COMPATIBLE), "vllm")
    256
    """
    if configured:
        return configured
    if info.parallel_slots:
        return info.parallel_slots
    spec = find_spec(flavor) if flavor else None
    return (spec or spec_for_kind(info.kind)).default_slots


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
            hint = f"install one, e.g. {install_example(_EXAMPLE.get(capability, 'qwen3'))}"
        hint += f"; if {info.name} does support it, set overrides={{{info.name!r}: {{{capability!r}: True}}}}"
        raise CapabilityError(f"{info.name} does not support {what} (per {info.source[capability].name.lower()} "
                              "facts)", hint=hint, model=info.name, service=info.service)


# --------------------------------------------------------------------------- one request


def no_model(view: View, model: str | None, targets: Callable[[], list[str]]) -> Exception:
    """Why an empty catalogue has nothing for the request: no server reachable (or one of another
    kind than configured), the model missing, or no model installed at all."""
    services = view.services
    if not any(s.healthy for s in services):
        urls = [s.base_url for s in services] or targets()
        looked = ", ".join(urls) or "nothing: no URL is configured and discover_defaults is off"
        wrong_kind = mismatch_error([s.error for s in services])
        return wrong_kind or ServiceUnavailableError(f"no model server is reachable (looked at {looked})",
                                                     hint=NO_SERVER_HINT)
    if model is not None:
        return not_found(model, view.infos, [s.kind for s in services if s.healthy])
    return ModelNotFoundError("the servers patinox found have no models installed",
                              hint=f"install one, e.g. {install_examples()}")


def model_name(view: View, model: str | None, need: str, extra: Sequence[str], settings: LocalSettings) -> str:
    """The catalogue name a request for ``model`` means: the name resolved across servers, else the
    configured default for ``need``, else the best model that can do ``need`` (and ``extra``)."""
    if not model:
        model = settings.default_embedding_model if need == "embeddings" else settings.default_model
    if model is None:
        best = pick_default(view.infos, need, extra)
        if best is None:
            raise no_default(need, view.infos)
        return best.name
    if model in view.by_name:
        return model
    return view.aliases.get(model) or resolve_name(model, view.infos, [s.kind for s in view.services])


def plan(view: View, model: str | None, need: str, extra: Sequence[str] = (), *, settings: LocalSettings,
         order: Callable[[Sequence[ModelInfo]], list[ModelInfo]] = order_candidates,
         targets: Callable[[], list[str]] = list, check: bool = True) -> list[ModelInfo]:
    """The copies of the model a request means, in try order (``order``: ``order_candidates`` with
    the current health and cooldowns), the ones known to lack ``need`` or one of ``extra`` left out
    (``CapabilityError`` when none is left) unless ``check`` is off."""
    if not view.infos:
        raise no_model(view, model, targets)
    name = model_name(view, model, need, extra, settings)
    ordered = order(view.by_name[name])
    if not check:
        return ordered
    able = [i for i in ordered if not any(i.known_lacks(c) for c in (need, *extra))]
    if not able:
        check_capabilities(ordered[0], need, extra, view.infos)
    return able


__all__ = [
    "NO_SERVER_HINT",
    "capacity",
    "check_capabilities",
    "match_names",
    "model_name",
    "no_default",
    "no_model",
    "not_found",
    "order_candidates",
    "pick_default",
    "plan",
    "request_needs",
    "resolve_name",
]

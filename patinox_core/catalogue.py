"""The catalogue service: the one owner of every server's models, their load state and the views
routing reads.

``Catalogue`` keeps each service's ``ModelInfo`` list (built by ``capabilities.model_info`` from
the backend's ``ServerFacts``) for ``settings.discovery_ttl``; it does no I/O (``routing/fleet.py``
fetches). Load state lives here only: a listing says what is loaded, a reply marks its model loaded,
and a backend asks ``is_loaded`` (through the ``ServiceLoadState`` it is given) to choose the cold-load
read timeout. ``view`` builds the snapshot routing plans against and caches it until the catalogue
changes, a service goes stale or a cooldown ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from .capabilities import ModelInfo, Source, fold_speed, model_info, record_speed, speed_band, speed_tier_for
from .config import LocalSettings, ProviderKind
from .facts import ServerFacts

if TYPE_CHECKING:
    from .discovery import Service
    from .routing.health import Health


class View(NamedTuple):
    """A snapshot of the catalogue for routing: entries, services, entries by name."""

    infos: list[ModelInfo]
    services: list[Service]
    by_name: dict[str, list[ModelInfo]]
    key: tuple[Any, ...]
    valid_until: float
    aliases: dict[str, str]  # name as asked -> catalogue name
    found: tuple[Any, ...] | None = None  # (provider setting, *discovery's answer) it was built from


def _names(model: str) -> set[str]:
    """A model's names as servers spell them (``qwen3`` is ``qwen3:latest`` on Ollama)."""
    return {model, model.removesuffix(":latest") if model.endswith(":latest") else f"{model}:latest"}


class ServiceLoadState:
    """Load state on one service as a backend sees it (``backends.base.LoadState``)."""

    def __init__(self, catalogue: Catalogue, service: str) -> None:
        self.catalogue = catalogue
        self.service = service

    def is_loaded(self, model: str | None) -> bool | None:
        """True/False as the catalogue knows it; None when the server does not report load state."""
        return self.catalogue.is_loaded(self.service, model)

    def mark(self, model: str, loaded: bool, context: int | None = None) -> None:
        """The backend loaded (``context`` tokens allocated, when the server said) or unloaded ``model``."""
        self.catalogue.mark_loaded(self.service, model, loaded, context)


class Catalogue:
    """``ModelInfo`` per service with fetch times, load state and the cached routing view;
    thread-safe; no I/O."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._infos: dict[str, list[ModelInfo]] = {}
        self._fetched: dict[str, float] = {}
        self._speeds: dict[tuple[str, str], float] = {}  # measured tokens/s, kept across refreshes
        self._behind: set[tuple[str, str]] = set()  # entries whose tokens_per_second lags _speeds
        self._bands: dict[tuple[str, str], tuple[float, float]] = {}  # of _behind: speeds that keep the tier
        self._lock = threading.Lock()
        self.version = 0  # bumped on every change routing sees, so readers can cache views of the entries
        self._view: View | None = None
        self._residency: dict[tuple[str, str | None], tuple[int, bool | None]] = {}  # is_loaded per version

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

    def _update(self, service: str, names: Collection[str], fn: Callable[[ModelInfo], ModelInfo]) -> None:
        with self._lock:
            for name in names:
                self._bands.pop((service, name), None)
            infos = self._infos.get(service, [])
            for n, info in enumerate(infos):
                if info.name in names:
                    new = infos[n] = fn(info)
                    # views cache routing decisions: only what routing reads invalidates them
                    if (new.loaded, new.speed_tier, new.loaded_context_length) != (
                            info.loaded, info.speed_tier, info.loaded_context_length):
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
            band = self._bands.get(key) if key in self._behind else None
            if band is not None:  # the steady state: the average moves within its tier
                tps = fold_speed(self._speeds[key], tokens_per_second)
                if band[0] <= tps < band[1]:
                    self._speeds[key] = tps
                    return
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
                    self._bands[key] = (-math.inf, math.inf) if pinned else speed_band(info.speed_tier)
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
        self._update(service, {name}, lambda i: record_speed(i, tokens_per_second))
        with self._lock:
            for info in self._infos.get(service, ()):
                if info.name == name and info.tokens_per_second:
                    self._speeds[key] = info.tokens_per_second

    def mark_loaded(self, service: str, name: str, loaded: bool = True, context: int | None = None) -> None:
        """The model just answered on ``service`` (resident now), or was loaded / unloaded there; a
        load's reply may say the context it allocated (``context``), an unload clears it."""
        def change(info: ModelInfo) -> ModelInfo:
            allocated = context if loaded and context else info.loaded_context_length if loaded else None
            if info.loaded is loaded and info.loaded_context_length == allocated:
                return info
            return replace(info, loaded=loaded, loaded_context_length=allocated)
        self._update(service, _names(name), change)

    def loaded_names(self, service: str) -> set[str] | None:
        """What is loaded on ``service`` (``None`` when the server does not report load state)."""
        with self._lock:
            infos = self._infos.get(service, [])
            if not any(i.source.get("loaded", Source.DEFAULT) > Source.DEFAULT for i in infos):
                return None
            return {i.name for i in infos if i.loaded}

    def is_loaded(self, service: str, model: str | None) -> bool | None:
        """Whether ``model`` is resident on ``service`` (None: the server does not say). Asked before
        every request (it picks the timeout): answered from a memo while ``version`` stands, since
        every change of load state bumps it."""
        version, key = self.version, (service, model)
        memo = self._residency.get(key)
        if memo is not None and memo[0] == version:
            return memo[1]
        loaded = self.loaded_names(service)
        answer = (None if loaded is None else False) if loaded is None or not model else (
            not _names(model).isdisjoint(loaded))
        if len(self._residency) >= 4096:  # names asked for, per service: bounded all the same
            self._residency.clear()
        self._residency[key] = (version, answer)
        return answer

    def load_state(self, service: str) -> ServiceLoadState:
        return ServiceLoadState(self, service)

    # -- the routing view ------------------------------------------------------------------
    def cached_view(self, found: tuple[Any, ...], services: Sequence[Service] | None = None) -> View | None:
        """The cached view, when still valid for discovery's answer ``found`` (the common case
        within the TTL) or, once services are combined, for the same ``services`` and health."""
        view = self._view
        if view is None or view.key[0] != self.version or time.monotonic() >= view.valid_until:
            return None
        if found == view.found:
            return view
        if services is not None and view.key[1] == tuple((s.base_url, s.healthy) for s in services):
            return view
        return None

    def view(self, services: list[Service], found: tuple[Any, ...], health: Health) -> View:
        """A new view of ``services``' entries, valid until one goes stale or a cooldown ends."""
        version = self.version
        infos = self.entries(s.base_url for s in services)
        now = time.monotonic()
        usable = [s.base_url for s in services if s.healthy and not health.cooling(s.base_url, now)]
        by_name: dict[str, list[ModelInfo]] = {}
        for info in infos:
            by_name.setdefault(info.name, []).append(info)
        key = (version, tuple((s.base_url, s.healthy) for s in services))
        valid_until = min([self.fresh_until(usable), *health.cooldown_ends(now)])
        self._view = View(infos, services, by_name, key, valid_until, {}, found)
        return self._view


def known_loaded(service: str, kind: ProviderKind, names: Iterable[str]) -> ServiceLoadState:
    """Load state for a backend used without a provider (tests, benchmarks): ``names`` are
    resident on ``service``, every other model is not."""
    catalogue = Catalogue(LocalSettings(discover_defaults=False))
    catalogue.store(service, kind, None, [ServerFacts(name=n, loaded=True) for n in names])
    return catalogue.load_state(service)


__all__ = ["Catalogue", "ServiceLoadState", "View", "known_loaded"]

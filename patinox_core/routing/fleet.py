"""``Fleet``: the servers a provider uses, their backends, and the catalogue refresh.

It combines what discovery found with injected backends (``LocalProvider(backends=...)``), keeps one
backend per server URL (built by the factory it is given, ``router.make_backend``; each backend gets
its server's ``LoadState`` from the catalogue), and refreshes the catalogue from the backends whose
entries are stale, concurrently and once at a time. ``view(model)`` is the snapshot a request is
planned against; sync and async differ only in how the facts are fetched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..backends.base import Backend
from ..capabilities import ModelInfo
from ..catalogue import Catalogue, View
from ..config import LocalSettings, ProviderKind
from ..discovery import Service, ServiceDiscovery
from ..embedded.state import declared_facts, overlay
from ..errors import LocalProviderError, ServiceUnavailableError
from ..facts import ServerFacts
from ..kinds import EMBEDDED_FLAVOR
from ..loop_locks import LoopLocks
from .health import Health
from .policy import match_names

Facts = list[ServerFacts] | LocalProviderError
BackendFactory = Callable[[Service], Backend]


class Fleet:
    """Services, backends and catalogue refresh for one provider."""

    def __init__(self, settings: LocalSettings, discovery: ServiceDiscovery | None, catalogue: Catalogue,
                 health: Health, factory: BackendFactory, injected: Sequence[Backend] = ()) -> None:
        self.settings = settings
        self.discovery = discovery
        self.catalogue = catalogue
        self.health = health
        self._factory = factory
        self.injected: dict[str, Backend] = {b.base_url: b for b in injected}
        self._injected_services = [Service(kind=b.kind, base_url=url, healthy=True, configured=True,
                                           flavor=getattr(b, "flavor", None), gateway=getattr(b, "gateway", False))
                                   for url, b in self.injected.items()]
        self.backends: dict[str, Backend] = {}
        self.listing_errors: dict[str, LocalProviderError] = {}  # why a server's models could not be read
        self._known: dict[str, Service] = {}  # every service combined so far, by URL
        for backend in injected:
            self._adopt(backend)
        self._lock = threading.Lock()
        self._refresh = threading.Lock()
        self._alocks = LoopLocks()

    def _adopt(self, backend: Backend) -> Backend:
        backend.load_state = self.catalogue.load_state(backend.base_url)
        self.backends[backend.base_url] = backend
        return backend

    # -- services and backends -----------------------------------------------------------
    def combine(self, found: Sequence[Service]) -> list[Service]:
        """Injected servers, then the discovered ones, restricted to ``settings.provider``'s kind."""
        services = self._injected_services + [s for s in found if s.base_url not in self.injected]
        if self.settings.provider is not ProviderKind.LOCAL:
            services = [s for s in services if s.kind is self.settings.provider]
        self._known.update((s.base_url, s) for s in services)
        return services

    def services(self, refresh: bool = False) -> list[Service]:
        return self.combine(self.discovery.discover(refresh) if self.discovery else [])

    async def aservices(self, refresh: bool = False) -> list[Service]:
        return self.combine(await self.discovery.adiscover(refresh) if self.discovery else [])

    def backend(self, service: Service | ModelInfo) -> Backend:
        """The backend of a service or of a catalogue entry's service (built at first use: the
        entries of a busy embedded server come from its state file, not from its backend)."""
        url = service.base_url if isinstance(service, Service) else service.service
        backend = self.backends.get(url)
        if backend is not None:
            return backend
        if not isinstance(service, Service):
            if url not in self._known:
                raise ServiceUnavailableError(f"no backend for {url}", service=url)
            service = self._known[url]
        with self._lock:
            backend = self.backends.get(url)
            return backend if backend is not None else self._adopt(self._factory(service))

    def targets(self) -> list[str]:
        """The URLs discovery would probe (for the "nothing reachable" message)."""
        return [u for u, _, _ in self.discovery.targets()] if self.discovery is not None else []

    # -- catalogue refresh ---------------------------------------------------------------
    def _to_fetch(self, services: Sequence[Service], force: bool) -> list[Service]:
        usable = [s for s in services if s.healthy and not self.health.cooling(s.base_url)]
        if force:
            return usable
        stale = set(self.catalogue.stale(s.base_url for s in usable))
        return [s for s in usable if s.base_url in stale]

    def store(self, service: Service, result: Facts) -> None:
        """A listing into the catalogue; a failed one cools the server down (when the error calls for
        it) and is remembered, so a model missing because of it can say why (``listing_errors``)."""
        if isinstance(result, LocalProviderError):
            self.listing_errors[service.base_url] = result
            self.health.cool(service.base_url, result)
        else:
            self.listing_errors.pop(service.base_url, None)
            self.catalogue.store(service.base_url, service.kind, service.version, result)

    @staticmethod
    def _declared(service: Service) -> list[ServerFacts]:
        return declared_facts(service.base_url) if service.flavor == EMBEDDED_FLAVOR else []

    def facts(self, service: Service) -> Facts:
        """The server's model facts (an embedded server that is busy: what patinox wrote down); the
        replies discovery already has from it this round (``Service.probed``) are not asked again."""
        declared = self._declared(service)
        if service.busy and declared:
            return declared
        try:
            backend, probed = self.backend(service), service.probed
            listed = backend.list_model_facts(probed) if probed else backend.list_model_facts()
            return overlay(listed, declared)
        except LocalProviderError as err:
            return err

    async def afacts(self, service: Service) -> Facts:
        declared = self._declared(service)
        if service.busy and declared:
            return declared
        try:
            backend, probed = self.backend(service), service.probed
            listed = await (backend.alist_model_facts(probed) if probed else backend.alist_model_facts())
            return overlay(listed, declared)
        except LocalProviderError as err:
            return err

    def _start(self, found: Sequence[Service], refresh: bool) -> tuple[tuple[Any, ...], View | list[Service]]:
        """A cached view when one is still valid, else the services to build one from."""
        key = (self.settings.provider, *found)
        if not refresh and (view := self.catalogue.cached_view(key)) is not None:
            return key, view
        services = self.combine(found)
        self.health.seen(services)
        if not refresh and (view := self.catalogue.cached_view(key, services)) is not None:
            return key, view
        return key, services

    def models(self, refresh: bool = False) -> View:
        """The catalogue view, refreshing stale services first."""
        key, start = self._start(self.discovery.discover(refresh) if self.discovery else [], refresh)
        if isinstance(start, View):
            return start
        if self._to_fetch(start, refresh):
            with self._refresh:
                todo = self._to_fetch(start, refresh)
                for service, result in zip(todo, _map_threads(self.facts, todo), strict=True):
                    self.store(service, result)
        return self.catalogue.view(start, key, self.health)

    async def amodels(self, refresh: bool = False) -> View:
        key, start = self._start(await self.discovery.adiscover(refresh) if self.discovery else [], refresh)
        if isinstance(start, View):
            return start
        if self._to_fetch(start, refresh):
            async with self._alocks.get():
                todo = self._to_fetch(start, refresh)
                results = await asyncio.gather(*(self.afacts(s) for s in todo))
                for service, result in zip(todo, results, strict=True):
                    self.store(service, result)
        return self.catalogue.view(start, key, self.health)

    @staticmethod
    def misses(model: str | None, view: View) -> bool:
        """Is ``model`` unknown to ``view``? (A unique match is remembered as an alias.)"""
        if model is None or model in view.by_name or model in view.aliases:
            return False
        hits = match_names(model, list(view.by_name))
        if len(hits) == 1:
            view.aliases[model] = hits[0]  # resolved once per catalogue snapshot
        return not hits

    def view(self, model: str | None) -> View:
        """The catalogue for a request; refreshed once when ``model`` is not in it (pulled a moment ago?)."""
        view = self.models()
        return self.models(refresh=True) if self.misses(model, view) else view

    async def aview(self, model: str | None) -> View:
        view = await self.amodels()
        return await self.amodels(refresh=True) if self.misses(model, view) else view


def _map_threads(fn: Callable[[Service], Facts], items: Sequence[Service]) -> list[Facts]:
    """``fn`` over ``items``, one thread each (``fn`` returns errors, it does not raise them)."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(len(items), thread_name_prefix="patinox") as pool:
        return list(pool.map(fn, items))


__all__ = ["Fleet"]

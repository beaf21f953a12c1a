"""``LocalProvider``: every local model server behind one ``ModelProvider``.

It asks ``ServiceDiscovery`` which servers exist, builds one catalogue from their backends
(``catalogue.py``), resolves a model name across them, checks capabilities and the context
window before sending, and falls back: on an error whose recovery is RETRY or
FALLBACK before any output, the next server with the same model is tried and the failed one
cools down for ``settings.cooldown`` seconds. A stream commits to a server after its first
chunk. Sync and async paths share every decision; only the I/O differs.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from .backends.base import Backend
from .capabilities import ModelInfo
from .catalogue import (
    Catalogue,
    View,
    check_capabilities,
    context_limit,
    estimate_prompt_tokens,
    match_names,
    no_default,
    not_found,
    order_candidates,
    overflow_hint,
    overflow_message,
    pick_default,
    request_needs,
    resolve_name,
    truncation_suspected,
    with_model,
)
from .config import LocalSettings, ProviderKind
from .dimensions import checked_dimensions
from .discovery import Service, ServiceDiscovery
from .embedded.state import declared_facts, overlay
from .embedding import arun_job, plan_batches, run_job
from .errors import (
    ContextOverflowError,
    LocalProviderError,
    ModelNotFoundError,
    ServiceUnavailableError,
    most_actionable,
    should_cool_down,
    should_fall_back,
)
from .facts import ServerFacts
from .kind_mismatch import mismatch_error
from .kinds import backend_for, no_server_hint
from .transport import CONNECT_RETRIES, Transport
from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Metrics, Usage

log = logging.getLogger("patinox.router")
T = TypeVar("T")

_NO_SERVER_HINT = no_server_hint()


class ContextWindowWarning(UserWarning):
    """The prompt may not fit the model's context window, or the server truncated it."""


def make_backend(service: Service, transport: Transport, settings: LocalSettings) -> Backend:
    """The backend for a discovered service: its kind's, as the registry names it (imported lazily)."""
    factory, extra = backend_for(service.kind, service.flavor)
    backend: Backend = factory(service.base_url, transport, settings, **extra)
    return backend


def _map_threads(fn: Callable[[Any], T], items: Sequence[Any], workers: int) -> list[T]:
    if len(items) <= 1 or workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="patinox") as pool:
        futures = [pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


class LocalProvider:
    """One provider over every local server: catalogue, routing, fallback and cooldown.

    ``backends=`` injects ``Backend`` objects (tests, advanced users): they are used as the
    servers and discovery is skipped unless ``discovery=`` is given too. ``transport=`` takes a
    patinox ``Transport`` or an httpx transport (``httpx.MockTransport``).
    """

    def __init__(self, settings: LocalSettings | None = None, *, discovery: ServiceDiscovery | None = None,
                 transport: Any = None, backends: Sequence[Backend] | None = None) -> None:
        self.settings = settings or LocalSettings()
        self._owns_transport = not isinstance(transport, Transport)
        self._transport = transport if isinstance(transport, Transport) else Transport(self.settings, transport)
        self._injected: dict[str, Backend] = {b.base_url: b for b in backends or ()}
        self._injected_services = [Service(kind=b.kind, base_url=url, healthy=True, configured=True,
                                           flavor=getattr(b, "flavor", None)) for url, b in self._injected.items()]
        self._owns_discovery = discovery is None and not self._injected
        if self._owns_discovery:
            discovery = ServiceDiscovery(self.settings, transport=self._transport)
        self.discovery = discovery
        self._backends: dict[str, Backend] = dict(self._injected)
        self.catalogue = Catalogue(self.settings)
        self._cooldown: dict[str, float] = {}
        self._health: dict[str, bool] = {}
        self._view: View | None = None
        self._lock = threading.Lock()
        self._refresh = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"LocalProvider(provider={self.settings.provider.value}, backends={len(self._backends)})"

    # -- services and backends -----------------------------------------------------------
    def _combine(self, found: Sequence[Service]) -> list[Service]:
        services = self._injected_services + [s for s in found if s.base_url not in self._injected]
        if self.settings.provider is not ProviderKind.LOCAL:
            services = [s for s in services if s.kind is self.settings.provider]
        return services

    def _services(self, refresh: bool = False) -> list[Service]:
        return self._combine(self.discovery.discover(refresh) if self.discovery else [])

    async def _aservices(self, refresh: bool = False) -> list[Service]:
        return self._combine(await self.discovery.adiscover(refresh) if self.discovery else [])

    def _backend(self, service: Service | ModelInfo) -> Backend:
        url = service.base_url if isinstance(service, Service) else service.service
        backend = self._backends.get(url)
        if backend is None:
            if not isinstance(service, Service):
                raise ServiceUnavailableError(f"no backend for {url}", service=url)
            with self._lock:
                backend = self._backends.get(url)
                if backend is None:
                    backend = self._backends[url] = make_backend(service, self._transport, self.settings)
        return backend

    def _cool(self, service: str, err: LocalProviderError) -> None:
        if not should_cool_down(err):
            return
        now = time.monotonic()
        with self._lock:
            already = self._cooldown.get(service, 0.0) > now
            self._cooldown[service] = now + self.settings.cooldown
        # one warning when a server goes down, not one per request that finds it down
        log.log(logging.DEBUG if already else logging.WARNING, "cooling down %s for %ss after %s: %s",
                service, self.settings.cooldown, type(err).__name__, err)

    def _cooling(self, service: str, now: float) -> bool:
        return self._cooldown.get(service, 0.0) > now

    def _order(self, copies: Sequence[ModelInfo]) -> list[ModelInfo]:
        if len(copies) <= 1:
            return list(copies)
        with self._lock:
            cooldown, health = dict(self._cooldown), dict(self._health)
        return order_candidates(copies, health=health, cooldown_until=cooldown)

    def _fail_fast(self, order: Sequence[ModelInfo], n: int) -> contextvars.Token[int | None] | None:
        """While ``order[n]`` is tried and a later candidate is usable (healthy, not cooling down), a
        refused connection is not retried: the next server is tried at once. The last usable
        candidate keeps every retry. Returns the token to reset, or None."""
        if n + 1 >= len(order):
            return None
        now = time.monotonic()
        if not any(self._health.get(i.service, True) and not self._cooling(i.service, now) for i in order[n + 1:]):
            return None
        return CONNECT_RETRIES.set(0)

    # -- catalogue -----------------------------------------------------------------------
    def _to_fetch(self, services: Sequence[Service], force: bool) -> list[Service]:
        now = time.monotonic()
        usable = [s for s in services if s.healthy and not self._cooling(s.base_url, now)]
        if force:
            return usable
        stale = set(self.catalogue.stale(s.base_url for s in usable))
        return [s for s in usable if s.base_url in stale]

    def _store(self, service: Service, result: list[ServerFacts] | LocalProviderError) -> None:
        if isinstance(result, LocalProviderError):
            self._cool(service.base_url, result)
            return
        self.catalogue.store(service.base_url, service.kind, service.version, result)
        self._backend(service).loaded_models = self.catalogue.loaded_names(service.base_url)

    def _facts(self, service: Service) -> list[ServerFacts] | LocalProviderError:
        declared = declared_facts(service.base_url) if service.flavor == "llama_cpp_python" else []
        if service.busy and declared:  # the embedded server is generating: what patinox wrote is enough
            return declared
        try:
            return overlay(self._backend(service).list_model_facts(), declared)
        except LocalProviderError as err:
            return err

    async def _afacts(self, service: Service) -> list[ServerFacts] | LocalProviderError:
        declared = declared_facts(service.base_url) if service.flavor == "llama_cpp_python" else []
        if service.busy and declared:
            return declared
        try:
            return overlay(await self._backend(service).alist_model_facts(), declared)
        except LocalProviderError as err:
            return err

    def _seen(self, services: list[Service]) -> list[Service]:
        if any(self._health.get(s.base_url) is not s.healthy for s in services):
            with self._lock:
                self._health.update((s.base_url, s.healthy) for s in services)
        return services

    def _cached_view(self, services: list[Service], refresh: bool) -> View | None:
        view = self._view
        if refresh or view is None or time.monotonic() >= view.valid_until:
            return None
        key = (self.catalogue.version, tuple((s.base_url, s.healthy) for s in services))
        return view if view.key == key else None

    def _make_view(self, services: list[Service], found: tuple[Any, ...] | None = None) -> View:
        version = self.catalogue.version
        infos = self.catalogue.entries(s.base_url for s in services)
        now = time.monotonic()
        with self._lock:
            cooling = [t for t in self._cooldown.values() if t > now]
        usable = [s.base_url for s in services if s.healthy and not self._cooling(s.base_url, now)]
        by_name: dict[str, list[ModelInfo]] = {}
        for info in infos:
            by_name.setdefault(info.name, []).append(info)
        key = (version, tuple((s.base_url, s.healthy) for s in services))
        valid_until = min([self.catalogue.fresh_until(usable), *cooling])
        self._view = View(infos, services, by_name, key, valid_until, {}, found)
        return self._view

    def _reusable(self, found: tuple[Any, ...], refresh: bool) -> View | None:
        """The cached view when discovery answered with the very services it was built from, under
        the same ``provider`` setting (the common case within the TTL: combining the services and
        their health then give what they gave, so only the catalogue version and expiry matter)."""
        view = self._view
        if (refresh or view is None or view.key[0] != self.catalogue.version or found != view.found
                or time.monotonic() >= view.valid_until):
            return None
        return view

    def _models(self, refresh: bool = False) -> View:
        found = self.discovery.discover(refresh) if self.discovery else []
        if (view := self._reusable((self.settings.provider, *found), refresh)) is not None:
            return view
        services = self._seen(self._combine(found))
        if (view := self._cached_view(services, refresh)) is not None:
            return view
        if self._to_fetch(services, refresh):
            with self._refresh:
                todo = self._to_fetch(services, refresh)
                for service, result in zip(todo, _map_threads(self._facts, todo, len(todo)), strict=True):
                    self._store(service, result)
        return self._make_view(services, (self.settings.provider, *found))

    def _alock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._lock:
            lock = self._alocks.get(loop)
            if lock is None:
                lock = self._alocks[loop] = asyncio.Lock()
        return lock

    async def _amodels(self, refresh: bool = False) -> View:
        found = await self.discovery.adiscover(refresh) if self.discovery else []
        if (view := self._reusable((self.settings.provider, *found), refresh)) is not None:
            return view
        services = self._seen(self._combine(found))
        if (view := self._cached_view(services, refresh)) is not None:
            return view
        if self._to_fetch(services, refresh):
            async with self._alock():
                todo = self._to_fetch(services, refresh)
                results = await asyncio.gather(*(self._afacts(s) for s in todo))
                for service, result in zip(todo, results, strict=True):
                    self._store(service, result)
        return self._make_view(services, (self.settings.provider, *found))

    @staticmethod
    def _misses(model: str | None, view: View) -> bool:
        if model is None or model in view.by_name or model in view.aliases:
            return False
        hits = match_names(model, list(view.by_name))
        if len(hits) == 1:
            view.aliases[model] = hits[0]  # resolved once per catalogue snapshot
        return not hits

    def _lookup(self, model: str | None) -> View:
        """The catalogue; refreshed once when ``model`` is not in it (pulled a moment ago?)."""
        view = self._models()
        return self._models(refresh=True) if self._misses(model, view) else view

    async def _alookup(self, model: str | None) -> View:
        view = await self._amodels()
        return await self._amodels(refresh=True) if self._misses(model, view) else view

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every server (one entry per server that has it)."""
        return list(self._models(refresh).infos)

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return list((await self._amodels(refresh)).infos)

    # -- planning (pure given the catalogue) ---------------------------------------------
    def _plan(self, view: View, model: str | None, need: str, extra: Sequence[str] = (), *,
              check: bool = True) -> list[ModelInfo]:
        """Copies of the resolved model, in try order, capability-checked unless ``check`` is off."""
        infos, services = view.infos, view.services
        if not infos:
            if not any(s.healthy for s in services):
                urls = [s.base_url for s in services]
                if not urls and self.discovery is not None:
                    urls = [u for u, _, _ in self.discovery.targets()]
                looked = ", ".join(urls) or "nothing: no URL is configured and discover_defaults is off"
                if (wrong_kind := mismatch_error([s.error for s in services])) is not None:
                    raise wrong_kind
                raise ServiceUnavailableError(f"no model server is reachable (looked at {looked})",
                                              hint=_NO_SERVER_HINT)
            if model is not None:
                raise not_found(model, infos, [s.kind for s in services if s.healthy])
            raise ModelNotFoundError("the servers patinox found have no models installed",
                                     hint="install one, e.g. `ollama pull llama3.2` or `lms get qwen3-8b`")
        if not model:
            cfg = self.settings
            model = cfg.default_embedding_model if need == "embeddings" else cfg.default_model
        if model is None:
            best = pick_default(infos, need, extra)
            if best is None:
                raise no_default(need, infos)
            name = best.name
        else:
            name = model if model in view.by_name else view.aliases.get(model) or resolve_name(
                model, infos, [s.kind for s in services])
        ordered = self._order(view.by_name[name])
        if not check:
            return ordered
        if extra:
            able = [i for i in ordered if not any(i.known_lacks(c) for c in (need, *extra))]
        else:
            able = [i for i in ordered if not i.known_lacks(need)]
        if not able:
            check_capabilities(ordered[0], need, extra, infos)
        return able

    def _guard(self, info: ModelInfo, request: ChatRequest) -> int:
        estimate = estimate_prompt_tokens(request)
        limit = context_limit(info, request)
        if self.settings.context_guard != "off" and limit and estimate > limit:
            message = overflow_message(info, estimate, limit)
            if self.settings.context_guard == "raise":
                raise ContextOverflowError(message, hint=overflow_hint(info), model=info.name, service=info.service)
            warnings.warn(f"{message}. {overflow_hint(info)}", ContextWindowWarning, stacklevel=4)
            log.warning(message)
        return estimate

    def _prepare(self, request: ChatRequest, view: View) -> tuple[list[ModelInfo], int]:
        need = "completion" if request.completion else "chat"
        copies = self._plan(view, request.model, need, request_needs(request))
        return copies, self._guard(copies[0], request)

    def _after(self, info: ModelInfo, request: ChatRequest, usage: Usage | None, metrics: Metrics | None,
               estimate: int) -> None:
        """Learn from a reply: measured speed, load state, and Ollama's silent truncation."""
        if metrics is not None and metrics.tokens_per_second:
            self.catalogue.record_speed(info.service, info.name, metrics.tokens_per_second)
        if not info.loaded:
            self.catalogue.mark_loaded(info.service, info.name)
            loaded = self._backends[info.service].loaded_models
            if loaded is not None:
                loaded.add(info.name)
        if (info.kind is ProviderKind.OLLAMA and usage is not None and self.settings.context_guard != "off"
                and truncation_suspected(estimate, context_limit(info, request), usage.input_tokens,
                                         usage.cached_input_tokens)):
            message = (f"{info.name} on {info.service} evaluated only {usage.input_tokens} prompt tokens of "
                       f"about {estimate} sent: the server probably truncated the prompt")
            warnings.warn(f"{message}. {overflow_hint(info)}", ContextWindowWarning, stacklevel=3)
            log.warning(message)

    def get_model(self, name: str | None = None, *, capability: str | None = None) -> ModelInfo:
        """The catalogue entry a request for ``name`` would use first. ``name=None``: the default
        model for ``capability`` (``"chat"``, ``"embeddings"``, ...); with a capability given, a
        model known to lack it raises ``CapabilityError``."""
        check = capability is not None or name is None
        return self._plan(self._lookup(name), name, capability or "chat", check=check)[0]

    async def aget_model(self, name: str | None = None, *, capability: str | None = None) -> ModelInfo:
        check = capability is not None or name is None
        return self._plan(await self._alookup(name), name, capability or "chat", check=check)[0]

    # -- fallback loops ------------------------------------------------------------------
    def _attempt(self, copies: Sequence[ModelInfo], call: Callable[[Backend, ModelInfo], T]) -> tuple[T, ModelInfo]:
        attempts: list[LocalProviderError] = []
        order = self._order(copies)
        for n, info in enumerate(order):
            token = self._fail_fast(order, n)
            try:
                return call(self._backend(info), info), info
            except LocalProviderError as err:
                if not should_fall_back(err):
                    raise
                attempts.append(err)
                self._cool(info.service, err)
            finally:
                if token is not None:
                    CONNECT_RETRIES.reset(token)
        raise most_actionable(attempts)

    async def _aattempt(self, copies: Sequence[ModelInfo],
                        call: Callable[[Backend, ModelInfo], Awaitable[T]]) -> tuple[T, ModelInfo]:
        attempts: list[LocalProviderError] = []
        order = self._order(copies)
        for n, info in enumerate(order):
            token = self._fail_fast(order, n)
            try:
                return await call(self._backend(info), info), info
            except LocalProviderError as err:
                if not should_fall_back(err):
                    raise
                attempts.append(err)
                self._cool(info.service, err)
            finally:
                if token is not None:
                    CONNECT_RETRIES.reset(token)
        raise most_actionable(attempts)

    # -- chat ----------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        copies, estimate = self._prepare(request, self._lookup(request.model))
        result, info = self._attempt(copies, lambda b, i: b.chat(with_model(request, i.name)))
        self._after(info, request, result.usage, result.metrics, estimate)
        return result

    async def achat(self, request: ChatRequest) -> ChatResult:
        copies, estimate = self._prepare(request, await self._alookup(request.model))
        result, info = await self._aattempt(copies, lambda b, i: b.achat(with_model(request, i.name)))
        self._after(info, request, result.usage, result.metrics, estimate)
        return result

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Stream from the first server that yields a chunk; later failures reach the caller."""
        copies, estimate = self._prepare(request, self._lookup(request.model))
        return self._stream(copies, request, estimate)

    def _stream(self, copies: list[ModelInfo], request: ChatRequest, estimate: int) -> Iterator[ChatChunk]:
        attempts: list[LocalProviderError] = []
        order = self._order(copies)
        for n, info in enumerate(order):
            chunks: Iterator[ChatChunk] | None = None
            token = self._fail_fast(order, n)
            try:
                chunks = iter(self._backend(info).stream_chat(with_model(request, info.name)))
                first = next(chunks, None)
            except LocalProviderError as err:
                getattr(chunks, "close", lambda: None)()
                if not should_fall_back(err):
                    raise
                attempts.append(err)
                self._cool(info.service, err)
                continue
            finally:
                if token is not None:
                    CONNECT_RETRIES.reset(token)
            last = first
            try:
                if first is not None:
                    yield first
                for last in chunks:  # the final chunk carries usage and metrics
                    yield last
            finally:
                getattr(chunks, "close", lambda: None)()
            self._after(info, request, last.usage if last else None, last.metrics if last else None, estimate)
            return
        raise most_actionable(attempts)

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        copies, estimate = self._prepare(request, await self._alookup(request.model))
        attempts: list[LocalProviderError] = []
        order = self._order(copies)
        for n, info in enumerate(order):
            chunks: AsyncIterator[ChatChunk] | None = None
            token = self._fail_fast(order, n)
            try:
                chunks = aiter(self._backend(info).astream_chat(with_model(request, info.name)))
                first = await anext(chunks, None)
            except LocalProviderError as err:
                await _aclose(chunks)
                if not should_fall_back(err):
                    raise
                attempts.append(err)
                self._cool(info.service, err)
                continue
            finally:
                if token is not None:
                    CONNECT_RETRIES.reset(token)
            last = first
            try:
                if first is not None:
                    yield first
                async for last in chunks:
                    yield last
            finally:
                await _aclose(chunks)
            self._after(info, request, last.usage if last else None, last.metrics if last else None, estimate)
            return
        raise most_actionable(attempts)

    # -- embeddings ----------------------------------------------------------------------
    def _embed_job(self, texts: Sequence[str] | str, batch_size: int | None, max_concurrency: int | None,
                   **opts: Any) -> tuple[list[list[str]], int, dict[str, Any]]:
        size = self.settings.embed_batch_size if batch_size is None else batch_size
        batches, workers = plan_batches(texts, size, max_concurrency)
        return batches, workers, {k: v for k, v in opts.items() if v is not None}

    def embed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
              max_concurrency: int | None = None, dimensions: int | None = None, truncate: bool | None = None,
              keep_alive: str | int | None = None, progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        """Vectors in input order, all from one server. Each request carries at most ``batch_size``
        texts (default ``settings.embed_batch_size``); up to ``max_concurrency`` batches (default 4)
        run at once. When the server fails mid-job, the whole job runs again on the next server
        with the same model (vectors of two servers are never mixed). ``progress(n)``, if given,
        hears how many texts are embedded so far (from 0 again when the job moves server)."""
        batches, workers, opts = self._embed_job(texts, batch_size, max_concurrency, dimensions=dimensions,
                                                 truncate=truncate, keep_alive=keep_alive)
        copies = self._plan(self._lookup(model), model, "embeddings")

        def job(backend: Backend, info: ModelInfo) -> EmbeddingResult:
            return run_job(lambda batch: backend.embed(batch, info.name, **opts), batches, workers, info.name,
                           info.service, progress)

        return checked_dimensions(self._attempt(copies, job)[0], dimensions)

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
                     max_concurrency: int | None = None, dimensions: int | None = None,
                     truncate: bool | None = None, keep_alive: str | int | None = None,
                     progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        batches, workers, opts = self._embed_job(texts, batch_size, max_concurrency, dimensions=dimensions,
                                                 truncate=truncate, keep_alive=keep_alive)
        copies = self._plan(await self._alookup(model), model, "embeddings")

        def job(backend: Backend, info: ModelInfo) -> Awaitable[EmbeddingResult]:
            return arun_job(lambda batch: backend.aembed(batch, info.name, **opts), batches, workers, info.name,
                            info.service, progress)

        return checked_dimensions((await self._aattempt(copies, job))[0], dimensions)

    # -- health and lifecycle ------------------------------------------------------------
    def health(self) -> list[Service]:
        """Probe every server now (discovery refresh; injected backends list their models)."""
        services = self._services(refresh=True)
        return [self._checked(s, self._facts(s)) if s.base_url in self._injected else s for s in services]

    async def ahealth(self) -> list[Service]:
        services = await self._aservices(refresh=True)
        return [self._checked(s, await self._afacts(s)) if s.base_url in self._injected else s for s in services]

    def _checked(self, service: Service, result: list[ServerFacts] | LocalProviderError) -> Service:
        self._store(service, result)
        now = time.time()
        if isinstance(result, LocalProviderError):
            return replace(service, healthy=False, error=result.message, last_checked=now)
        return replace(service, healthy=True, last_checked=now)

    def close(self) -> None:
        if self.discovery is not None and self._owns_discovery:
            self.discovery.close()
        if self._owns_transport:
            self._transport.close()

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()
        self.close()

    def __enter__(self) -> LocalProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LocalProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _aclose(chunks: AsyncIterator[ChatChunk] | None) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


def create_default_provider(**overrides: Any) -> LocalProvider:
    """A ``LocalProvider`` from settings (explicit overrides > environment > config file).
    ``discovery=``, ``transport=`` and ``backends=`` are passed to ``LocalProvider``."""
    extra = {k: overrides.pop(k) for k in ("discovery", "transport", "backends") if k in overrides}
    return LocalProvider(LocalSettings(**overrides), **extra)


__all__ = ["ContextWindowWarning", "LocalProvider", "create_default_provider", "make_backend"]

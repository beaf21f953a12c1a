"""``LocalProvider``: every local model server behind one ``Provider``, composed of named parts.

- ``routing.fleet.Fleet``: the servers (discovery + injected backends), one backend each, and the
  catalogue refresh; ``catalogue.Catalogue``: models, load state and the routing view.
- ``routing.policy.plan`` / ``routing.context.guard``: a request planned once (name resolved,
  copies ordered, capabilities and context checked).
- ``routing.candidates.Candidates``: the plan cached per view, and the
  ``routing.fallback.FallbackProvider`` over one ``routing.server.ServerProvider`` per copy,
  each under ``routing.learning.Learning`` (what a reply teaches the catalogue) and the optional ``wrap_server``
  wrapper; ``routing.health.Health``: health and cooldown.

A request fails over to the next server with the same model on an error whose recovery is RETRY or
FALLBACK before any output, and the failed server cools down for ``settings.cooldown`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import instrumentation as _otel
from .backends.base import Backend
from .capabilities import ModelInfo
from .catalogue import Catalogue, View
from .config import LocalSettings
from .dimensions import checked_dimensions
from .discovery import Service, ServiceDiscovery
from .errors import LocalProviderError
from .facts import ServerFacts
from .kinds import backend_for
from .provider import Provider, WrapperProvider
from .provisioning.events import ProgressCallback, ProgressEvent
from .provisioning.operations import Lifecycle
from .requirements import Requirements, as_requirements
from .routing import policy, selection
from .routing.affinity import Affinity
from .routing.candidates import Candidates, ServerWrapper
from .routing.context import ContextWindowWarning
from .routing.fallback import aclose
from .routing.fleet import Fleet
from .routing.health import Health
from .routing.load import Scheduler
from .transport import Transport
from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult

if TYPE_CHECKING:
    from .telemetry.recorder import Telemetry


def make_backend(service: Service, transport: Transport, settings: LocalSettings) -> Backend:
    """The backend for a discovered service: its kind's, as the registry names it (imported lazily);
    an OpenAI-compatible one told when the service is a gateway."""
    factory, extra = backend_for(service.kind, service.flavor)
    if service.gateway and "flavor" in extra:
        extra["gateway"] = True
    backend: Backend = factory(service.base_url, transport, settings, **extra)
    return backend


class _Unobserved(WrapperProvider):
    """A ``LocalProvider``'s calls without the instrumentation hook: what ``OperationSpans`` wraps."""

    wrapped: LocalProvider

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.wrapped._chat(request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        return await self.wrapped._achat(request)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        return self.wrapped._stream_chat(request)

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.wrapped._astream_chat(request)

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        return self.wrapped._embed(texts, model, **opts)

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        return await self.wrapped._aembed(texts, model, **opts)


class LocalProvider:
    """One provider over every local server: catalogue, routing, fallback and cooldown.

    ``backends=`` injects ``Backend`` objects (tests, advanced users): they are used as the
    servers and discovery is skipped unless ``discovery=`` is given too. ``transport=`` takes a
    patinox ``Transport`` or an httpx transport (``httpx.MockTransport``). ``wrap_server=`` wraps
    each server a request tries (a ``WrapperProvider`` subclass: instrumentation of every attempt).
    """

    def __init__(self, settings: LocalSettings | None = None, *, discovery: ServiceDiscovery | None = None,
                 transport: Any = None, backends: Sequence[Backend] | None = None,
                 wrap_server: ServerWrapper | None = None) -> None:
        self.settings = settings or LocalSettings()
        self._owns_transport = not isinstance(transport, Transport)
        self._transport = transport if isinstance(transport, Transport) else Transport(self.settings, transport)
        self._owns_discovery = discovery is None and not backends
        if self._owns_discovery:
            discovery = ServiceDiscovery(self.settings, transport=self._transport)
        self.discovery = discovery
        self.catalogue = Catalogue(self.settings)
        self._health = Health(self.settings)
        self.scheduler = Scheduler()
        self.affinity = Affinity()
        self.fleet = Fleet(self.settings, discovery, self.catalogue, self._health,
                           lambda s: make_backend(s, self._transport, self.settings), backends or ())
        self._candidates = Candidates(self.settings, self.fleet, self.catalogue, self._health, self.scheduler,
                                      self.affinity, wrap_server)
        self._unobserved = _Unobserved(self)
        self._spans: tuple[Telemetry, Provider] | None = None  # the instrumentation set-up and its wrapper
        _otel.from_environment()
        self.lifecycle = Lifecycle(self.fleet, self._transport, self.get_model, self.aget_model)

    def _observed(self, telemetry: Telemetry) -> Provider:
        """This provider's calls with a span each (``OperationSpans``), made once per ``instrument()``."""
        spans = self._spans
        if spans is None or spans[0] is not telemetry:
            spans = self._spans = (telemetry, telemetry.operations(self._unobserved))
        return spans[1]

    @property
    def wrap_server(self) -> ServerWrapper | None:
        """What wraps each server a request tries (``None``: nothing)."""
        return self._candidates.wrap_server

    @wrap_server.setter
    def wrap_server(self, wrapper: ServerWrapper | None) -> None:
        self._candidates.wrap_server = wrapper

    def __repr__(self) -> str:
        return f"LocalProvider(provider={self.settings.provider.value}, backends={len(self.fleet.backends)})"

    # -- catalogue -----------------------------------------------------------------------
    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every model on every server (one entry per server that has it)."""
        return list(self.fleet.models(refresh).infos)

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return list((await self.fleet.amodels(refresh)).infos)

    def get_model(self, name: str | None = None, *, capability: str | None = None) -> ModelInfo:
        """The catalogue entry a request for ``name`` would use first. ``name=None``: the default
        model for ``capability`` (``"chat"``, ``"embeddings"``, ...); with a capability given, a
        model known to lack it raises ``CapabilityError``."""
        check = capability is not None or name is None
        return self._candidates.plan(self.fleet.view(name), name, capability or "chat", check=check)[0]

    async def aget_model(self, name: str | None = None, *, capability: str | None = None) -> ModelInfo:
        check = capability is not None or name is None
        return self._candidates.plan(await self.fleet.aview(name), name, capability or "chat", check=check)[0]

    # -- choosing by requirement ------------------------------------------------------------
    def select(self, requirements: Requirements | Mapping[str, Any] | str | None = None) -> selection.Selection:
        """The model ``requirements`` choose: ``.model`` (the ``ModelInfo``), ``.explanation``, and
        ``.why_not()`` for every other model (``routing/selection.py`` documents the order). With none
        given, the best loaded chat model. Nothing qualifies: ``ModelNotFoundError`` naming the
        requirement that excluded the last candidates."""
        return self._select(self.fleet.models(), requirements)

    async def aselect(self, requirements: Requirements | Mapping[str, Any] | str | None = None,
                      ) -> selection.Selection:
        return self._select(await self.fleet.amodels(), requirements)

    def _select(self, view: View, requirements: Requirements | Mapping[str, Any] | str | None) -> selection.Selection:
        req = as_requirements(requirements) or Requirements()
        if not view.infos:
            raise policy.no_model(view, None, self.fleet.targets)
        return selection.select(view.infos, req)

    # -- the public calls: each one operation (a span and its metrics when instrumented) ---------
    def chat(self, request: ChatRequest) -> ChatResult:
        if _otel.active is not None:
            return self._observed(_otel.active).chat(request)
        return self._candidates.chat(self.fleet.view(request.model), request).chat(request)  # = _chat

    def _chat(self, request: ChatRequest) -> ChatResult:
        return self._candidates.chat(self.fleet.view(request.model), request).chat(request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        if _otel.active is not None:
            return await self._observed(_otel.active).achat(request)
        return await self._achat(request)

    async def _achat(self, request: ChatRequest) -> ChatResult:
        return await self._candidates.chat(await self.fleet.aview(request.model), request).achat(request)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Stream from the first server that yields a chunk; later failures reach the caller."""
        if _otel.active is not None:
            return self._observed(_otel.active).stream_chat(request)
        return self._stream_chat(request)

    def _stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        return self._candidates.chat(self.fleet.view(request.model), request).stream_chat(request)

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if _otel.active is not None:
            return self._observed(_otel.active).astream_chat(request)
        return self._astream_chat(request)

    async def _astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chunks = aiter(self._candidates.chat(await self.fleet.aview(request.model), request).astream_chat(request))
        try:
            async for chunk in chunks:
                yield chunk
        finally:  # an async generator is not closed by its consumer's aclose(): close it now
            await aclose(chunks)

    def embed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
              max_concurrency: int | None = None, dimensions: int | None = None, truncate: bool | None = None,
              keep_alive: str | int | None = None, progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        """Vectors in input order, all from one server. Each request carries at most ``batch_size``
        texts (default ``settings.embed_batch_size``); up to ``max_concurrency`` batches (default 4)
        run at once. When the server fails mid-job, the whole job runs again on the next server
        with the same model (vectors of two servers are never mixed). ``progress(n)``, if given,
        hears how many texts are embedded so far (from 0 again when the job moves server)."""
        opts: dict[str, Any] = {"batch_size": batch_size, "max_concurrency": max_concurrency, "dimensions": dimensions,
                "truncate": truncate, "keep_alive": keep_alive, "progress": progress}
        if _otel.active is not None:
            return self._observed(_otel.active).embed(texts, model, **opts)
        return self._embed(texts, model, **opts)

    def _embed(self, texts: Sequence[str] | str, model: str | None, **opts: Any) -> EmbeddingResult:
        plan = self._candidates.fallback(self._candidates.plan(self.fleet.view(model), model, "embeddings"))
        return checked_dimensions(plan.embed(texts, model, **opts), opts.get("dimensions"))

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
                     max_concurrency: int | None = None, dimensions: int | None = None,
                     truncate: bool | None = None, keep_alive: str | int | None = None,
                     progress: Callable[[int], None] | None = None) -> EmbeddingResult:
        opts: dict[str, Any] = {"batch_size": batch_size, "max_concurrency": max_concurrency, "dimensions": dimensions,
                "truncate": truncate, "keep_alive": keep_alive, "progress": progress}
        if _otel.active is not None:
            return await self._observed(_otel.active).aembed(texts, model, **opts)
        return await self._aembed(texts, model, **opts)

    async def _aembed(self, texts: Sequence[str] | str, model: str | None, **opts: Any) -> EmbeddingResult:
        plan = self._candidates.fallback(self._candidates.plan(await self.fleet.aview(model), model, "embeddings"))
        return checked_dimensions(await plan.aembed(texts, model, **opts), opts.get("dimensions"))

    # -- load ----------------------------------------------------------------------------
    def _slots(self, info: ModelInfo) -> int:
        flavor = getattr(self.fleet.backend(info), "flavor", None)
        return policy.capacity(info, flavor, self.settings.max_concurrency_for(info.service))

    def load_status(self, models: Sequence[ModelInfo] | None = None) -> list[dict[str, Any]]:
        """Per model on each server (the catalogue's entries, or ``models``): ``capacity`` (slots),
        ``in_flight`` and ``queued`` requests now, ``latency_ms`` (recent average, None before the
        first reply), ``served``, ``busy_replies`` (503/429) and ``busy`` (holding off now). No I/O
        beyond a catalogue refresh when ``models`` is not given."""
        lanes = {(row["service"], row["model"]): row for row in self.scheduler.snapshot()}
        rows = []
        for info in self.list_models() if models is None else models:
            lane = lanes.get((info.service, info.name), {})
            rows.append({"service": info.service, "model": info.name, "capacity": self._slots(info),
                         "in_flight": lane.get("in_flight", 0), "queued": lane.get("queued", 0),
                         "latency_ms": lane.get("latency_ms"), "served": lane.get("served", 0),
                         "busy_replies": lane.get("busy_replies", 0), "busy": lane.get("busy", False)})
        return rows

    # -- pull, load, unload (provisioning/operations.py) ----------------------------------
    def pull(self, model: str, *, service: str | None = None, progress: ProgressCallback | None = None
             ) -> ProgressEvent:
        """Download ``model`` onto a server that can (Ollama, then LM Studio; or ``service``), calling
        ``progress(event)`` on each step (``ProgressBar()`` draws a bar). On failure or Ctrl-C the last
        event says what was left on the server; the error (or KeyboardInterrupt) goes on."""
        return self.lifecycle.pull(model, service=service, progress=progress)

    async def apull(self, model: str, *, service: str | None = None, progress: ProgressCallback | None = None
                    ) -> ProgressEvent:
        return await self.lifecycle.apull(model, service=service, progress=progress)

    def load(self, model: str, *, service: str | None = None, keep_alive: str | int | None = None,
             context: int | None = None, progress: ProgressCallback | None = None) -> ModelInfo:
        """Load ``model`` now (where the catalogue has it first, or on ``service``), kept for
        ``keep_alive`` (Ollama's meaning on every server: ``"5m"``, seconds, ``-1`` forever), with
        ``context`` tokens allocated; the catalogue entry, now loaded with its allocated context."""
        return self.lifecycle.load(model, service=service, keep_alive=keep_alive, context=context,
                                   progress=progress)

    async def aload(self, model: str, *, service: str | None = None, keep_alive: str | int | None = None,
                    context: int | None = None, progress: ProgressCallback | None = None) -> ModelInfo:
        return await self.lifecycle.aload(model, service=service, keep_alive=keep_alive, context=context,
                                          progress=progress)

    def unload(self, model: str, *, service: str | None = None) -> list[ModelInfo]:
        """Unload ``model`` from every server that has it loaded (or from ``service``)."""
        return self.lifecycle.unload(model, service=service)

    async def aunload(self, model: str, *, service: str | None = None) -> list[ModelInfo]:
        return await self.lifecycle.aunload(model, service=service)

    def ensure_model(self, model: str, *, pull: bool = False, load: bool = False, service: str | None = None,
                     keep_alive: str | int | None = None, context: int | None = None,
                     progress: ProgressCallback | None = None) -> ModelInfo:
        """``model``'s catalogue entry: pulled first when missing and ``pull`` (never by default), loaded
        first when ``load``."""
        return self.lifecycle.ensure(model, pull=pull, load=load, service=service, keep_alive=keep_alive,
                                     context=context, progress=progress)

    async def aensure_model(self, model: str, *, pull: bool = False, load: bool = False, service: str | None = None,
                            keep_alive: str | int | None = None, context: int | None = None,
                            progress: ProgressCallback | None = None) -> ModelInfo:
        return await self.lifecycle.aensure(model, pull=pull, load=load, service=service, keep_alive=keep_alive,
                                            context=context, progress=progress)

    def server_notes(self) -> dict[str, dict[str, Any]]:
        """Per server URL, what its backend learned beyond models (LM Studio: native API, JIT loading,
        idle TTL, API token) and why its models could not be listed (``listing_error``); servers
        with nothing to say are left out. No I/O."""
        notes: dict[str, dict[str, Any]] = {url: learned() for url, backend in self.fleet.backends.items()
                                            if callable(learned := getattr(backend, "server_notes", None))}
        for url, err in list(self.fleet.listing_errors.items()):
            notes.setdefault(url, {})["listing_error"] = str(err)
        return dict(sorted(notes.items()))

    # -- health and lifecycle ------------------------------------------------------------
    def health(self) -> list[Service]:
        """Probe every server now (discovery refresh; injected backends list their models)."""
        services = self.fleet.services(refresh=True)
        return [self._checked(s, self.fleet.facts(s)) if s.base_url in self.fleet.injected else s for s in services]

    async def ahealth(self) -> list[Service]:
        services = await self.fleet.aservices(refresh=True)
        return [self._checked(s, await self.fleet.afacts(s)) if s.base_url in self.fleet.injected else s
                for s in services]

    def _checked(self, service: Service, result: list[ServerFacts] | LocalProviderError) -> Service:
        self.fleet.store(service, result)
        if isinstance(result, LocalProviderError):
            return replace(service, healthy=False, error=result.message, last_checked=time.time())
        return replace(service, healthy=True, last_checked=time.time())

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


def create_default_provider(**overrides: Any) -> LocalProvider:
    """A ``LocalProvider`` from settings (explicit overrides > environment > config file).
    ``discovery=``, ``transport=`` and ``backends=`` are passed to ``LocalProvider``."""
    extra = {k: overrides.pop(k) for k in ("discovery", "transport", "backends") if k in overrides}
    return LocalProvider(LocalSettings(**overrides), **extra)


def ensure_model(model: str, *, pull: bool = False, load: bool = False, provider: LocalProvider | None = None,
                 service: str | None = None, keep_alive: str | int | None = None, context: int | None = None,
                 progress: ProgressCallback | None = None, **settings: Any) -> ModelInfo:
    """``model``'s catalogue entry, pulled first when missing and ``pull`` (never by default), loaded
    when ``load``; on ``provider``, else on a provider built from ``settings`` (closed afterwards).
    ``progress=ProgressBar()`` draws the bar."""
    own = provider is None
    used = provider if provider is not None else create_default_provider(**settings)
    try:
        return used.ensure_model(model, pull=pull, load=load, service=service, keep_alive=keep_alive,
                                 context=context, progress=progress)
    finally:
        if own:
            used.close()


__all__ = ["ContextWindowWarning", "LocalProvider", "create_default_provider", "ensure_model", "make_backend"]

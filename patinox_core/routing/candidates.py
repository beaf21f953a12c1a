"""``Candidates``: one request's copies of a model planned once (``policy.plan``, cached per
catalogue view and health generation) and the ``FallbackProvider`` over them, each copy's server
wrapped for the reasoning guard, learning, ``wrap_server`` and instrumentation."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .. import instrumentation as _otel
from ..backends.base import Backend
from ..capabilities import ModelInfo
from ..catalogue import Catalogue, View
from ..config import LocalSettings
from ..errors import ConfigurationError, LocalProviderError, ModelNotFoundError
from ..kinds import Quirks
from ..provider import Provider
from ..types import ChatRequest
from . import policy
from .affinity import Affinity, Session, affinity_key, header_value
from .context import guard
from .fallback import Candidate, FallbackProvider
from .fleet import Fleet
from .health import Health
from .learning import Learning
from .load import Scheduler
from .reasoning import ReasoningGuard, needs_guard
from .server import ServerProvider

ServerWrapper = Callable[[Provider], Provider]

#: Catalogue entries whose server parts ``LocalProvider`` keeps (all of them, in any real fleet).
SERVER_CACHE_SIZE = 4096


class _Server(NamedTuple):
    """One catalogue entry's server, as every request to it starts: the ``ServerProvider`` over its
    backend, the backend's flavor, its slots for the model, the model's build and its affinity header."""

    info: ModelInfo
    server: ServerProvider
    flavor: str | None
    slots: int
    build: tuple[object, ...]
    header: str | None  # the header the server gets a conversation's key in (a gateway's), if any
    # by (reasoning guarded, instrumentation set-up or None): the candidate over this server, built once
    chains: dict[tuple[bool, object], Candidate]


def _build(info: ModelInfo) -> tuple[object, ...]:
    """What makes two copies of a model the same build (an embedding job may span them)."""
    return (info.name, info.kind, info.family, info.parameter_size, info.quantization, info.size_bytes)


class Candidates:
    """The candidates of each request over one fleet (``LocalProvider``'s routing part)."""

    def __init__(self, settings: LocalSettings, fleet: Fleet, catalogue: Catalogue, health: Health,
                 scheduler: Scheduler, affinity: Affinity, wrap_server: ServerWrapper | None = None) -> None:
        self.settings, self.fleet, self.catalogue = settings, fleet, catalogue
        self.health, self.scheduler, self.affinity = health, scheduler, affinity
        self.wrap_server = wrap_server
        self._servers: dict[int, _Server] = {}  # id(entry) -> its _Server (checked by identity)
        # (model, need, *extra) -> (the view and health generation it was planned on, when its first
        # cooldown ends, the copies in try order)
        self._plans: dict[tuple[str | None, ...], tuple[View, int, float, list[ModelInfo]]] = {}
        # (id of a plan's copies, reasoning guarded, instrumentation set-up or None) -> (those copies,
        # their FallbackProvider, whether no request to them needs an affinity key: one copy, no header)
        self._fallbacks: dict[tuple[int, bool, object], tuple[Sequence[ModelInfo], FallbackProvider, bool]] = {}

    def plan(self, view: View, model: str | None, need: str, extra: Sequence[str] = (), *,
             check: bool = True) -> list[ModelInfo]:
        try:
            return policy.plan(view, model, need, extra, settings=self.settings, order=self._order,
                               targets=self.fleet.targets, check=check)
        except ModelNotFoundError as missing:
            refused = listing_refusal(self.fleet.listing_errors, model)
            if refused is None:
                raise
            raise refused from missing

    def _order(self, copies: Sequence[ModelInfo]) -> list[ModelInfo]:
        if len(copies) <= 1:
            return list(copies)
        health, cooldown_until = self.health.snapshot()
        return policy.order_candidates(copies, health=health, cooldown_until=cooldown_until)

    def _affinity_header(self, info: ModelInfo, backend: Backend) -> str | None:
        """The header ``info``'s server gets a conversation's key in (a gateway's, or configured)."""
        gateway = bool(getattr(backend, "gateway", False)) or self.settings.is_gateway(info.service)
        return self.settings.affinity_header_for(info.service, gateway)

    def fallback(self, copies: Sequence[ModelInfo], request: ChatRequest | None = None) -> FallbackProvider:
        """The candidates of one request (the context guard runs here, once, on the first). The
        conversation's key is computed only where it is used: to choose among several copies, or
        for a server that gets it in a header. Without a wrapper or an affinity key, the
        ``FallbackProvider`` of a plan is built once (per instrumentation set-up) and reused."""
        if request is not None:
            guard(copies[0], request, self.settings, stacklevel=4)
        guarded = request is not None and needs_guard(request)
        plain = self.wrap_server is None
        if plain:  # a plan's fallback, when this request needs no affinity key either
            hit = self._fallbacks.get((id(copies), guarded, _otel.active))
            if hit is not None and hit[0] is copies and (request is None or hit[2]):
                return hit[1]
        parts = [self._part(info) for info in copies]
        headers = [part.header for part in parts] if request is not None else []
        key = affinity_key(request) if request is not None and (len(parts) > 1 or any(headers)) else None
        candidates = [self._candidate(part, guarded) for part in parts]
        if key is None:
            fallback = FallbackProvider(candidates, self.health, self.scheduler)
            if plain:
                if len(self._fallbacks) >= SERVER_CACHE_SIZE:
                    self._fallbacks.clear()
                keyless = len(parts) == 1 and not parts[0].header  # no request of this plan needs a key
                self._fallbacks[(id(copies), guarded, _otel.active)] = (copies, fallback, keyless)
            return fallback
        value = header_value(key)
        candidates = [c._replace(headers={name: value}) if name else c
                      for c, name in zip(candidates, headers, strict=True)]
        session = Session(key, self.affinity) if len(candidates) > 1 else None  # one copy: nothing to choose
        return FallbackProvider(candidates, self.health, self.scheduler, session=session)

    def _part(self, info: ModelInfo) -> _Server:
        part = self._servers.get(id(info))
        if part is None or part.info is not info or part.server.backend is not self.fleet.backends.get(info.service):
            part = self._server(info)
        return part

    def _candidate(self, part: _Server, guarded: bool) -> Candidate:
        """``part``'s server as a candidate: reasoning guard (when the request needs it), learning and
        instrumentation's attempt events, built once per entry (and instrumentation set-up);
        ``wrap_server``, per request, under the attempt events."""
        tel = _otel.active
        chain = part.chains.get((guarded, tel)) if self.wrap_server is None else None
        if chain is not None:
            return chain
        plain = part.chains.get((guarded, None))
        if plain is None:
            info, server = part.info, part.server
            inner: Provider = server
            if guarded:
                inner = ReasoningGuard(server, info, getattr(server.backend, "quirks", None) or Quirks())
            plain = part.chains[(guarded, None)] = Candidate(
                info.service, info.name, Learning(inner, self.catalogue, self.settings, info, part.flavor),
                part.slots, info.loaded, part.build)
        wrapped = plain.provider
        if self.wrap_server is not None:
            wrapped = self.wrap_server(wrapped)
        if tel is not None:  # each failed attempt an event on the operation's span
            wrapped = tel.attempt(wrapped, part.info, part.flavor)
        chain = plain._replace(provider=wrapped)
        if self.wrap_server is None:
            if len(part.chains) >= 8:  # instrumentation set up again and again: keep the plain chains only
                for stale in [k for k in part.chains if k[1] is not None]:
                    del part.chains[stale]
            part.chains[(guarded, tel)] = chain
        return chain

    def _server(self, info: ModelInfo) -> _Server:
        """What a request needs of ``info``'s server, kept while the entry and its backend stay the
        same (a catalogue refresh makes new entries)."""
        backend = self.fleet.backend(info)
        flavor = getattr(backend, "flavor", None)
        slots = policy.capacity(info, flavor, self.settings.max_concurrency_for(info.service))
        part = _Server(info, ServerProvider(backend, self.catalogue), flavor, slots, _build(info),
                       self._affinity_header(info, backend), {})
        if len(self._servers) >= SERVER_CACHE_SIZE:
            self._servers.clear()
        self._servers[id(info)] = part
        return part

    def chat(self, view: View, request: ChatRequest) -> FallbackProvider:
        """The fallback for a chat ``request``, its plan reused while the view and health stay the same."""
        need = "completion" if request.completion else "chat"
        extra = policy.request_needs(request)
        key = (request.model, need, *extra)
        hit = self._plans.get(key)
        if (hit is not None and hit[0] is view and hit[1] == self.health.generation
                and (hit[2] == math.inf or time.monotonic() < hit[2])):
            return self.fallback(hit[3], request)
        stamp = self.health.generation  # read before planning: a cooldown meanwhile makes this plan stale
        until = min(self.health.cooldown_ends(time.monotonic()), default=math.inf)  # the order changes then
        copies = self.plan(view, request.model, need, extra)
        if len(self._plans) >= SERVER_CACHE_SIZE:
            self._plans.clear()
        self._plans[key] = (view, stamp, until, copies)
        return self.fallback(copies, request)


def listing_refusal(errors: dict[str, LocalProviderError], model: str | None) -> LocalProviderError | None:
    """When a model is not found and a server refused to list its models for want of configuration
    (an API token, most often), that refusal is the error to fix (the model may well be there): a
    copy of it naming the server and the model, else None.

    >>> from patinox_core.errors import AuthenticationError
    >>> err = listing_refusal({"http://h:1234": AuthenticationError("token required", hint="set LM_API_TOKEN")}, "m")
    >>> type(err).__name__, err.service, err.hint
    ('AuthenticationError', 'http://h:1234', 'set LM_API_TOKEN')
    >>> err.message
    "model 'm' was not found, and the models of http://h:1234 could not be listed: token required"
    """
    for url, err in list(errors.items()):
        if isinstance(err, ConfigurationError):
            missing = f"model {model!r} was not found, and " if model else ""
            return type(err)(f"{missing}the models of {url} could not be listed: {err.message}", hint=err.hint,
                             service=url, model=model, status_code=err.status_code)
    return None


__all__ = ["SERVER_CACHE_SIZE", "Candidates", "ServerWrapper", "listing_refusal"]

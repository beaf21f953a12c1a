"""Pull, load, unload and ensure over every server a provider knows (``LocalProvider.pull`` & co).

Each operation picks its server (a pull: the first that can pull, Ollama before LM Studio, or the one
named; a load: the catalogue's first copy of the model, or the one on the server named), runs the
backend's plan (``pull_plan``, ``load_plan``) with the provider's transport, and reports progress as
``ProgressEvent``s to ``progress``. A pull that fails or is cancelled (Ctrl-C, task cancelled) ends
with a ``failed``/``cancelled`` event saying what it left on the server, then the error goes on.
Decisions are pure functions shared by the sync and async paths; only the I/O calls differ.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, cast

from ..capabilities import ModelInfo
from ..config import ProviderKind
from ..discovery import Service
from ..errors import CapabilityError, LocalProviderError, ModelNotFoundError, PullError
from ..exchange import Operation
from ..routing.fallback import aclose, close
from ..routing.fleet import Fleet
from ..transport import Transport
from .events import ProgressCallback, ProgressEvent, PullTally

PULLERS = (ProviderKind.OLLAMA, ProviderKind.LMSTUDIO)  # kinds whose API can fetch a model, in preference order


class Puller(Protocol):
    base_url: str

    def pull_plan(self, model: str, tally: PullTally) -> Operation[None]: ...

    def pull_left(self, model: str, tally: PullTally) -> str: ...


class Loader(Protocol):
    base_url: str

    def load_plan(self, model: str, keep_alive: str | int | None = None, *, loaded: bool = True,
                  context: int | None = None) -> Operation[ProgressEvent]: ...


def emit(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    if progress is not None:
        progress(event)


def pick_puller(services: Sequence[Service], service: str | None) -> Service:
    """The server a pull goes to: ``service`` when given, else the first healthy Ollama, then LM Studio.

    >>> s = [Service(kind=ProviderKind.LMSTUDIO, base_url="http://l", healthy=True),
    ...      Service(kind=ProviderKind.OLLAMA, base_url="http://o", healthy=True)]
    >>> pick_puller(s, None).base_url, pick_puller(s, "http://l").base_url
    ('http://o', 'http://l')
    """
    if service is not None:
        url = service.rstrip("/")
        for s in services:
            if s.base_url.rstrip("/") == url:
                if s.kind not in PULLERS:
                    raise CapabilityError(f"{s.kind.value} at {url} cannot download models through its API",
                                          hint="put the model file where the server finds it (llama-server: "
                                               "--models-dir) or pull on an Ollama or LM Studio server", service=url)
                return s
        raise ModelNotFoundError(f"no server at {url} is known", hint="check the URL (`patinox status`)",
                                 service=url)
    for kind in PULLERS:
        for s in services:
            if s.kind is kind and s.healthy:
                return s
    raise CapabilityError("no server here can download models (Ollama and LM Studio can)",
                          hint="start Ollama (`ollama serve`) or LM Studio (`lms server start`), or pass service=")


def stopped(model: str, service: str, exc: BaseException, left: str) -> ProgressEvent:
    """The last event of a pull that did not finish: failed (an error) or cancelled (anything else)."""
    if isinstance(exc, LocalProviderError):
        left = getattr(exc, "left_on_server", None) or left
        return ProgressEvent(model, service, "failed", status=exc.message, left_on_server=left)
    return ProgressEvent(model, service, "cancelled", status="cancelled", left_on_server=left)


def cancel_note(event: ProgressEvent) -> str:
    """One line for people: what a stopped pull left on the server."""
    return f"pull of {event.model} {event.phase}; left on {event.service}: {event.left_on_server}"


def pick_copy(copies: Sequence[ModelInfo], service: str | None, *, loaded: bool | None = None) -> list[ModelInfo]:
    """The catalogue entries to act on: those on ``service`` (all when None), optionally only the
    ``loaded`` ones. The first is the one a load uses."""
    url = service.rstrip("/") if service else None
    out = [c for c in copies if url is None or c.service.rstrip("/") == url]
    if loaded is not None:
        out = [c for c in out if c.loaded is loaded]
    return out


def loader(backend: Any, info: ModelInfo) -> Loader:
    if getattr(backend, "load_plan", None) is None:
        raise CapabilityError(f"{info.kind.value} at {info.service} loads its models itself: patinox cannot load or "
                              "unload them", hint="restart the server with the model you want (vLLM, SGLang, TGI "
                                                  "and a single-model llama-server serve one model)",
                              model=info.name, service=info.service)
    return cast(Loader, backend)


class Lifecycle:
    """Pull / load / unload / ensure for one provider (``LocalProvider`` builds one and delegates)."""

    def __init__(self, fleet: Fleet, transport: Transport, get_model: Callable[[str | None], ModelInfo],
                 aget_model: Callable[[str | None], Awaitable[ModelInfo]]) -> None:
        self.fleet, self.transport = fleet, transport
        self.get_model, self.aget_model = get_model, aget_model

    def _puller(self, services: Sequence[Service], service: str | None) -> Puller:
        target = pick_puller(services, service)
        backend = self.fleet.backend(target)
        if getattr(backend, "pull_plan", None) is None:  # pragma: no cover - every puller kind has one
            raise CapabilityError(f"{target.kind.value} cannot pull", service=target.base_url)
        return cast(Puller, backend)

    # -- pull ------------------------------------------------------------------------------
    def pull(self, model: str, *, service: str | None = None, progress: ProgressCallback | None = None
             ) -> ProgressEvent:
        """Fetch ``model`` onto a server, reporting progress; the final ``done`` event."""
        backend, tally = self._puller(self.fleet.services(), service), PullTally()
        events = self.transport.events(backend.pull_plan(model, tally))
        try:
            for event in events:
                emit(progress, event)
        except BaseException as exc:  # Ctrl-C included: close the stream, say what is left, go on
            close(events)
            emit(progress, stopped(model, backend.base_url, exc, backend.pull_left(model, tally)))
            raise
        self.fleet.models(refresh=True)
        return _done(tally, model, backend.base_url)

    async def apull(self, model: str, *, service: str | None = None, progress: ProgressCallback | None = None
                    ) -> ProgressEvent:
        backend, tally = self._puller(await self.fleet.aservices(), service), PullTally()
        events = self.transport.aevents(backend.pull_plan(model, tally))
        try:
            async for event in events:
                emit(progress, event)
        except BaseException as exc:  # task cancelled included
            await aclose(events)
            emit(progress, stopped(model, backend.base_url, exc, backend.pull_left(model, tally)))
            raise
        await self.fleet.amodels(refresh=True)
        return _done(tally, model, backend.base_url)

    # -- load / unload ---------------------------------------------------------------------
    def _copies(self, model: str, service: str | None, info: ModelInfo, loaded: bool | None) -> list[ModelInfo]:
        copies = pick_copy(self.fleet.models().by_name.get(info.name, [info]), service, loaded=loaded)
        if not copies and loaded is None:
            raise ModelNotFoundError(f"{model!r} is not on {service}", hint="`patinox models` lists what is where",
                                     model=model, service=service)
        return copies

    def load(self, model: str, *, service: str | None = None, keep_alive: str | int | None = None,
             context: int | None = None, progress: ProgressCallback | None = None) -> ModelInfo:
        """Load ``model`` (on ``service``, else where the catalogue has it first) and keep it for
        ``keep_alive``; ``context`` tokens allocated where the server takes it. The updated entry."""
        info = self._copies(model, service, self.get_model(model), None)[0]
        plan = loader(self.fleet.backend(info), info).load_plan(info.name, keep_alive, context=context)
        emit(progress, ProgressEvent(info.name, info.service, "loading", status="loading"))
        t0 = time.monotonic()
        try:
            event = self.transport.run(plan)
        except LocalProviderError as err:
            emit(progress, stopped(info.name, info.service, err, "nothing (the model is not loaded)"))
            raise
        emit(progress, _timed(event, t0))
        return self._entry(info)

    async def aload(self, model: str, *, service: str | None = None, keep_alive: str | int | None = None,
                    context: int | None = None, progress: ProgressCallback | None = None) -> ModelInfo:
        info = self._copies(model, service, await self.aget_model(model), None)[0]
        plan = loader(self.fleet.backend(info), info).load_plan(info.name, keep_alive, context=context)
        emit(progress, ProgressEvent(info.name, info.service, "loading", status="loading"))
        t0 = time.monotonic()
        try:
            event = await self.transport.arun(plan)
        except LocalProviderError as err:
            emit(progress, stopped(info.name, info.service, err, "nothing (the model is not loaded)"))
            raise
        emit(progress, _timed(event, t0))
        return self._entry(info)

    def unload(self, model: str, *, service: str | None = None) -> list[ModelInfo]:
        """Unload ``model`` wherever it is loaded (or on ``service``); the entries unloaded."""
        copies = self._copies(model, service, self.get_model(model), True)
        for info in copies:
            self.transport.run(loader(self.fleet.backend(info), info).load_plan(info.name, loaded=False))
        return [self._entry(i) for i in copies]

    async def aunload(self, model: str, *, service: str | None = None) -> list[ModelInfo]:
        copies = self._copies(model, service, await self.aget_model(model), True)
        for info in copies:
            await self.transport.arun(loader(self.fleet.backend(info), info).load_plan(info.name, loaded=False))
        return [self._entry(i) for i in copies]

    def _entry(self, info: ModelInfo) -> ModelInfo:
        """``info`` as the catalogue has it now (after a load or unload taught it)."""
        for entry in self.fleet.catalogue.entries([info.service]):
            if entry.name == info.name:
                return entry
        return info  # pragma: no cover - the entry was there a moment ago

    # -- ensure ----------------------------------------------------------------------------
    def ensure(self, model: str, *, pull: bool = False, load: bool = False, service: str | None = None,
               keep_alive: str | int | None = None, context: int | None = None,
               progress: ProgressCallback | None = None) -> ModelInfo:
        """``model``'s catalogue entry; pulled first when missing and ``pull``, loaded when ``load``."""
        try:
            info = self.get_model(model)
        except ModelNotFoundError:
            if not pull:
                raise
            self.pull(model, service=service, progress=progress)
            info = self.get_model(model)
        if load and not info.loaded:
            info = self.load(info.name, service=info.service, keep_alive=keep_alive, context=context,
                             progress=progress)
        return info

    async def aensure(self, model: str, *, pull: bool = False, load: bool = False, service: str | None = None,
                      keep_alive: str | int | None = None, context: int | None = None,
                      progress: ProgressCallback | None = None) -> ModelInfo:
        try:
            info = await self.aget_model(model)
        except ModelNotFoundError:
            if not pull:
                raise
            await self.apull(model, service=service, progress=progress)
            info = await self.aget_model(model)
        if load and not info.loaded:
            info = await self.aload(info.name, service=info.service, keep_alive=keep_alive, context=context,
                                    progress=progress)
        return info


def _done(tally: PullTally, model: str, service: str) -> ProgressEvent:
    last = tally.last
    if last is None or last.phase != "done":  # pragma: no cover - the plans raise on a pull without success
        raise PullError(f"the pull of {model} ended without success", model=model, service=service)
    return last


def _timed(event: ProgressEvent, t0: float) -> ProgressEvent:
    """A load's final event with its duration (the server's, else measured here)."""
    return event if event.seconds is not None else replace(event, seconds=time.monotonic() - t0)


__all__ = ["Lifecycle", "cancel_note", "emit", "pick_copy", "pick_puller", "stopped"]

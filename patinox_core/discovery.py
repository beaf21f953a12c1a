"""Find the model servers: probe, fingerprint, cache, and keep health fresh in the background.

``ServiceDiscovery(settings)`` probes every URL the user configured plus, when
``settings.discover_defaults``, Ollama's and LM Studio's loopback defaults, all at once (threads
for ``discover``, ``asyncio.gather`` for ``adiscover``), each probe bounded by
``settings.probe_timeout``. It never probes a host that is not loopback unless the user named it.
Each server is fingerprinted by one pure generator, ``fingerprint``, that yields
the paths it wants and receives the replies; ``probe_plan`` turns it into a plan (``exchange.py``)
that the transport's sync or async driver runs: the drivers only do the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from .call_context import CallContext
from .config import LocalSettings, ProviderKind
from .embedded.state import running_servers
from .errors import LocalProviderError, RequestTimeoutError, ServerError, TotalDeadlineError
from .exchange import Operation, ProbeReply, probe
from .kind_mismatch import kind_mismatch
from .kinds import (
    EMBEDDED_FLAVOR,
    KINDS,
    KindSpec,
    default_targets,
    fingerprint_openai,
    port_kind,
    root_match,
    served_flavor,
    spec_for,
)
from .loop_locks import LoopLocks
from .transport import Transport

log = logging.getLogger("patinox.discovery")

#: Loopback defaults probed when ``settings.discover_defaults`` (never any other host): each kind's
#: ``default_url`` (Ollama 127.0.0.1:11434, LM Studio 127.0.0.1:1234).
DEFAULT_TARGETS: tuple[tuple[str, ProviderKind], ...] = default_targets()
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
#: the OpenAI-compatible model list: fingerprinting reads it, and its reply is the listing's (``probed``)
MODELS_LIST = "/v1/models"


@dataclass(slots=True)
class Service:
    """One model server as last seen. ``flavor`` names the exact server: the flavor of its
    ``KindSpec`` in ``patinox_core.kinds`` (``"ollama"``, ``"lmstudio"``, ``"llama_server"``,
    ``"vllm"``, ...); ``None`` for a plain OpenAI-compatible one. A ``gateway`` (an endpoint
    configured with ``gateway: true``, or a LiteLLM proxy) is one server however many engines it
    balances: patinox never asks it for an engine's admin endpoints (``/props``, ``/slots``,
    ``/get_server_info``, ``/version``, ``/info``) and reads only its own model metadata.

    ``probed``: the decoded replies to ``/v1/models`` and its kind's fact endpoints
    (``KindSpec.facts_probes`` and ``models_probes``, by path) that fingerprinting already fetched in
    this round; the model listing uses them instead of asking again. Only the round that fetched
    them carries them (a service kept from an earlier round has none), and they are never shown:
    ``repr`` and ``to_dict`` leave them out (SGLang's ``/get_server_info`` holds the server's
    arguments, keys included)."""

    kind: ProviderKind
    base_url: str
    version: str | None = None
    healthy: bool = False
    latency_ms: float | None = None
    last_checked: float | None = None  # time.time() of the last probe
    flavor: str | None = None
    configured: bool = False  # named by the user (vs a loopback default)
    error: str | None = None  # why it is unhealthy
    busy: bool = False  # accepted the connection but did not answer the probe in time: kept, requests wait
    gateway: bool = False  # fronts several engines (configured so, or a LiteLLM proxy): one server to patinox
    probed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.repr}, "kind": self.kind.value}


def is_loopback(url: str) -> bool:
    """
    >>> is_loopback("http://127.0.0.1:11434"), is_loopback("http://[::1]:1234"), is_loopback("http://box.lan:1")
    (True, True, False)
    """
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOOPBACK or host.startswith("127.")


def _endpoint_key(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    host = "loopback" if is_loopback(url) else (parts.hostname or "")
    return host, parts.port, parts.path.rstrip("/")


def embedded_targets() -> tuple[tuple[str, ProviderKind], ...]:
    """The running embedded servers (``patinox serve``), from their state files."""
    return tuple((s.base_url, ProviderKind.OPENAI_COMPATIBLE) for s in running_servers())


def probe_targets(settings: LocalSettings, defaults: tuple[tuple[str, ProviderKind], ...] = DEFAULT_TARGETS,
                  embedded: tuple[tuple[str, ProviderKind], ...] | None = None,
                  ) -> list[tuple[str, ProviderKind | None, bool]]:
    """``(url, kind hint, configured)`` to probe, in a fixed order: the user's URLs, then the loopback
    defaults not already covered, then the embedded servers' state files (with the defaults: all three
    are "what runs on this machine"). Only user-configured URLs may be non-loopback.

    >>> s = LocalSettings(ollama_url="box.lan", discover_defaults=True)
    >>> [(u, k.value if k else None, c) for u, k, c in probe_targets(s)]
    [('http://box.lan:11434', 'ollama', True), ('http://127.0.0.1:11434', 'ollama', False), \
('http://127.0.0.1:1234', 'lmstudio', False)]
    """
    out: list[tuple[str, ProviderKind | None, bool]] = []
    seen: set[tuple[str, int | None, str]] = set()
    for url, kind in settings.configured_urls():
        key = _endpoint_key(url)
        if key not in seen:
            seen.add(key)
            out.append((url.rstrip("/"), kind, True))
    if settings.discover_defaults:
        for url, kind in (*defaults, *(embedded_targets() if embedded is None else embedded)):
            key = _endpoint_key(url)
            if key not in seen and is_loopback(url):
                seen.add(key)
                out.append((url, kind, False))
    return out


Fingerprint = Generator[str, "ProbeReply | LocalProviderError", "Service | None"]


def _ok_json(reply: ProbeReply | LocalProviderError) -> Any:
    if isinstance(reply, LocalProviderError) or reply.status != 200:
        return None
    data = reply.json()
    return None if isinstance(data, dict) and data.get("error") else data


def _silent(reply: object) -> bool:
    """Accepted the connection, then sent nothing in time: busy. (A peer that keeps dripping bytes past
    the total deadline, ``TotalDeadlineError``, is not busy: it is broken or hostile.)"""
    return isinstance(reply, RequestTimeoutError) and not isinstance(reply, TotalDeadlineError)


def _busy(service: Service, timeout: Any, flavor: str | None) -> Service:
    return replace(service, healthy=True, busy=True, flavor=service.flavor or flavor, latency_ms=None,
                   error=f"busy: accepted the connection but did not answer in time ({timeout.message})")


def _kept(spec: KindSpec, replies: dict[str, ProbeReply | LocalProviderError]) -> dict[str, Any]:
    """The replies to ``/v1/models`` and ``spec``'s fact endpoints already received, decoded: those
    that answered 200 with JSON that is not an error (any other is asked again by the listing,
    which reads its error)."""
    paths = (MODELS_LIST, *(path for path, _ in (*spec.facts_probes, *spec.models_probes)))
    return {path: data for path in paths if path in replies and (data := _ok_json(replies[path])) is not None}


def _identified(found: Service, spec: KindSpec, kind: ProviderKind, flavor: str | None,
                replies: dict[str, ProbeReply | LocalProviderError]) -> Fingerprint:
    """``found`` as ``spec``'s kind, with the version its ``version_probe`` reads (a reply already
    received for that path is reused) and the replies to its fact endpoints kept (``probed``). A
    gateway is asked only when the kind is a gateway itself (its own endpoint, not an engine's
    behind it)."""
    gateway = found.gateway or spec.gateway
    found = replace(found, kind=kind, flavor=flavor, gateway=gateway)
    if gateway and not spec.gateway:
        return found
    if spec.version_probe is not None:
        path, read = spec.version_probe
        reply = replies[path] = replies[path] if path in replies else (yield path)
        found = replace(found, version=read(_ok_json(reply)))
    return replace(found, probed=_kept(spec, replies))


def fingerprint(base_url: str, hint: ProviderKind | None = None, configured: bool = False,
                known_flavor: str | None = None, gateway: bool = False) -> Fingerprint:
    """Pure probe plan: yields paths to ``GET``, receives each ``ProbeReply`` (or the mapped error),
    returns the ``Service`` (unhealthy when unreachable) or ``None`` when it is not a model server.
    What each kind answers is its ``KindSpec``'s (``patinox_core.kinds``): ``GET /`` rules first,
    then ``/v1/models`` rules, then native model lists or an identifying probe.

    A server that accepted the connection but did not answer in time (a read timeout) is *busy*, not
    down: llama-cpp-python, for one, answers nothing while it generates for another client. It is
    kept as healthy and ``busy``, with ``known_flavor`` (what was known of it) as its flavor.

    A ``gateway`` (the user said so) is fingerprinted by ``GET /`` and ``/v1/models`` only: no
    identifying probe and no engine's version probe reach it."""
    now = time.time()
    guess = hint or port_kind(urlsplit(base_url).port)
    down = Service(kind=guess, base_url=base_url, healthy=False, last_checked=now, configured=configured,
                   gateway=gateway)
    root = yield "/"
    if _silent(root):
        return _busy(down, root, known_flavor)
    if isinstance(root, LocalProviderError):
        return replace(down, error=root.message)
    found = replace(down, healthy=True, latency_ms=round(root.elapsed_ms, 2))
    replies: dict[str, ProbeReply | LocalProviderError] = {"/": root}
    native = root_match(root.status, root.text, root.headers)
    if native is not None:
        return (yield from _identified(found, native, hint or native.family, native.flavor, replies))
    models = replies[MODELS_LIST] = yield MODELS_LIST
    if _silent(models):
        return _busy(found, models, known_flavor)
    data = _ok_json(models)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        for spec in KINDS:
            for path in spec.native_lists:
                listed = _ok_json((yield path))
                if isinstance(listed, dict) and isinstance(listed.get("data", listed.get("models")), list):
                    return replace(found, kind=hint or spec.family, flavor=spec.flavor)
        if not configured:
            return None
        why = models.message if isinstance(models, LocalProviderError) else f"GET /v1/models gave {models.status}"
        return replace(down, error=f"not a model server that patinox knows ({why})")
    flavor = fingerprint_openai(data, models.headers if isinstance(models, ProbeReply) else {})
    for spec in KINDS if flavor is None and not gateway else ():
        if spec.identify is not None:
            path, says_so = spec.identify
            replies[path] = yield path
            if says_so(_ok_json(replies[path])):
                flavor = spec.flavor
                break
    if (mismatch := kind_mismatch(base_url, hint, flavor)) is not None:
        return replace(down, flavor=flavor, error=mismatch)
    spec = spec_for(flavor)
    kind = hint or spec.family
    return (yield from _identified(found, spec, kind, served_flavor(kind, flavor), replies))


def _classify_probe(status: int | None, body: Any) -> LocalProviderError:
    return ServerError(f"probe failed with status {status}: {str(body)[:200]}")


def probe_plan(ctx: CallContext, base_url: str, plan: Fingerprint) -> Operation[Service | None]:
    """``plan``'s probes as one plan: each path ``GET`` once, its reply (or mapped error) sent back."""
    try:
        path = next(plan)
        while True:
            try:
                reply: ProbeReply | LocalProviderError = yield from probe(ctx, base_url + path)
            except LocalProviderError as err:
                reply = err
            path = plan.send(reply)
    except StopIteration as stop:
        found: Service | None = stop.value
        return found


class ServiceDiscovery:
    """Probe, fingerprint and cache the model servers (TTL ``settings.discovery_ttl``).

    ``discover()`` / ``adiscover()`` return every service seen: healthy ones, user-configured
    ones that are down, and loopback defaults that were up once but are down now (so a
    monitor can show them as unhealthy). With nothing listening they return ``[]`` within
    about ``settings.probe_timeout``.
    """

    def __init__(self, settings: LocalSettings | None = None, *, transport: Transport | Any = None) -> None:
        self.settings = settings or LocalSettings()
        if isinstance(transport, Transport):
            self._transport, self._owns_transport = transport, False
        else:
            self._transport, self._owns_transport = Transport(self.settings, transport), True
        self.default_targets = DEFAULT_TARGETS
        self._embedded_urls: frozenset[str] = frozenset()  # embedded servers seen by the last targets()
        self._cache: tuple[float, list[Service]] | None = None
        self._seen: dict[str, Service] = {}
        self._state = threading.Lock()
        self._round = threading.Lock()
        self._alocks = LoopLocks()
        self._monitor: tuple[threading.Thread, threading.Event] | None = None
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # probe rounds run (for tests and `patinox status`)

    def __repr__(self) -> str:
        return f"ServiceDiscovery(targets={len(self.targets())}, ttl={self.settings.discovery_ttl})"

    def targets(self) -> list[tuple[str, ProviderKind | None, bool]]:
        """What to probe this round; the embedded servers' state files are read once per round."""
        embedded = embedded_targets() if self.settings.discover_defaults else ()
        self._embedded_urls = frozenset(url for url, _ in embedded)
        return probe_targets(self.settings, self.default_targets, embedded)

    @property
    def services(self) -> list[Service]:
        """The last known services (no I/O; empty before the first discovery)."""
        with self._state:
            return list(self._cache[1]) if self._cache else []

    # -- cache ---------------------------------------------------------------------------
    def _cached(self) -> list[Service] | None:
        with self._state:
            if self._cache is not None and time.monotonic() - self._cache[0] < self.settings.discovery_ttl:
                return list(self._cache[1])
        return None

    def invalidate(self) -> None:
        with self._state:
            self._cache = None

    def _store(self, targets: list[tuple[str, ProviderKind | None, bool]],
               found: list[Service | None]) -> list[Service]:
        out: list[Service] = []
        with self._state:
            for (url, _, configured), svc in zip(targets, found, strict=True):
                known = self._seen.get(url)
                if svc is not None and svc.busy and known is not None:  # busy now: it is still what it was
                    svc = replace(known, busy=True, healthy=True, latency_ms=None, error=svc.error,
                                  last_checked=svc.last_checked)
                elif svc is not None and svc.busy and not configured and svc.flavor is None:
                    svc = None  # an unknown default port that never answers: no sign it is a model server
                elif svc is not None and svc.healthy:
                    self._seen[url] = replace(svc, probed={})  # what it is, not what it said this round
                elif known is not None:  # seen before, down now: keep its identity, mark it unhealthy
                    svc = replace(known, healthy=False, latency_ms=None, error=svc.error if svc else "not answering",
                                  last_checked=time.time())
                if svc is not None and (svc.healthy or configured or known is not None):
                    out.append(svc)
            self._cache = (time.monotonic(), out)
            self.rounds += 1
        return list(out)

    # -- sync ----------------------------------------------------------------------------
    def _flavor_hint(self, url: str) -> str | None:
        known = self._seen.get(url)
        if known is not None:
            return known.flavor
        return EMBEDDED_FLAVOR if url in self._embedded_urls else None

    def _plan(self, url: str, hint: ProviderKind | None, configured: bool) -> Operation[Service | None]:
        ctx = self._transport.context(url, _classify_probe, kind="probe", retries=0)
        plan = fingerprint(url, hint, configured, self._flavor_hint(url), configured and self.settings.is_gateway(url))
        return probe_plan(ctx, url, plan)

    def _drive(self, url: str, hint: ProviderKind | None, configured: bool) -> Service | None:
        return self._transport.run(self._plan(url, hint, configured))

    def discover(self, refresh: bool = False) -> list[Service]:
        """All services (cached for ``discovery_ttl`` unless ``refresh``); safe from many threads
        and inside a running event loop (probes run on worker threads)."""
        if not refresh and (hit := self._cached()) is not None:
            return hit
        with self._round:
            if not refresh and (hit := self._cached()) is not None:
                return hit
            targets = self.targets()
            if len(targets) <= 1:
                found = [self._drive(*t) for t in targets]
            else:
                with ThreadPoolExecutor(len(targets), thread_name_prefix="patinox-probe") as pool:
                    found = list(pool.map(lambda t: self._drive(*t), targets))
            return self._store(targets, found)

    # -- async ---------------------------------------------------------------------------
    async def _adrive(self, url: str, hint: ProviderKind | None, configured: bool) -> Service | None:
        return await self._transport.arun(self._plan(url, hint, configured))

    async def adiscover(self, refresh: bool = False) -> list[Service]:
        """Async twin of ``discover``: one probe round at a time per event loop."""
        if not refresh and (hit := self._cached()) is not None:
            return hit
        async with self._alocks.get():
            if not refresh and (hit := self._cached()) is not None:
                return hit
            targets = self.targets()
            found = await asyncio.gather(*(self._adrive(*t) for t in targets))
            return self._store(targets, list(found))

    # -- monitoring ----------------------------------------------------------------------
    def start_monitoring(self, interval: float = 10.0) -> None:
        """Re-probe every ``interval`` seconds on a daemon thread until ``stop_monitoring()``."""
        if self._monitor is not None and self._monitor[0].is_alive():
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(interval, stop), daemon=True,
                                  name="patinox-discovery-monitor")
        self._monitor = (thread, stop)
        thread.start()

    def _watch(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.discover(refresh=True)
            except Exception:  # pragma: no cover - a monitor must never die
                log.exception("discovery monitor round failed")
            stop.wait(interval)

    async def astart_monitoring(self, interval: float = 10.0) -> asyncio.Task[None]:
        """Re-probe every ``interval`` seconds in a task on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._awatch(interval), name="patinox-discovery-monitor")
        return self._task

    async def _awatch(self, interval: float) -> None:
        while True:
            try:
                await self.adiscover(refresh=True)
            except Exception:  # pragma: no cover
                log.exception("discovery monitor round failed")
            await asyncio.sleep(interval)

    def stop_monitoring(self) -> None:
        """Stop the monitor thread (waits for it) and cancel the monitor task, if any."""
        if self._monitor is not None:
            thread, stop = self._monitor
            stop.set()
            if thread is not threading.current_thread():
                thread.join(max(5.0, self.settings.probe_timeout * 8))
            self._monitor = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            loop = task.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                task.cancel()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)

    async def astop_monitoring(self) -> None:
        task = self._task
        self.stop_monitoring()
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            try:
                await task
            except asyncio.CancelledError:
                pass

    @property
    def monitoring(self) -> bool:
        return (self._monitor is not None and self._monitor[0].is_alive()) or (
            self._task is not None and not self._task.done())

    def close(self) -> None:
        self.stop_monitoring()
        if self._owns_transport:
            self._transport.close()


__all__ = ["DEFAULT_TARGETS", "Service", "ServiceDiscovery", "fingerprint", "is_loopback", "probe_targets"]

"""LM Studio: a request's ``num_ctx`` served by a loaded instance with at least that context.

LM Studio fixes a model's context when it loads it. OpenAI-style chat (``/v1``, ``/api/v0``) has no
context field, and LM Studio's own ``/api/v1/chat`` (which takes ``context_length``) takes no client
tools and no assistant turns, so it cannot carry a LangChain or LlamaIndex conversation. Instead,
from ``/api/v1/models`` (every loaded instance's id and allocated context):

* a request whose ``num_ctx`` fits an instance of its model names that instance (the one a request
  naming the model reaches, when it fits: the request goes out unchanged). Nothing is loaded, and
  never anything for a smaller context;
* otherwise (after reading the listing once more) one more instance is loaded with that context
  (``POST /api/v1/models/load`` with the cold-load timeout; at most the model's trained maximum)
  and the request names its id (LM Studio serves a request naming an instance id, ``key:2`` for a
  second copy). That instance stays until unloaded (the load endpoint takes no TTL). Concurrent
  requests for the same server, model and context load once: the first loads, the others wait
  (``Sleep`` steps, so the sync and async drivers run the same plan) and then name its instance;
* an LM Studio without ``/api/v1`` (before 0.4) cannot load with a context: a request that fits no
  instance raises ``CapabilityError`` saying to upgrade, or to load the model with that context.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..errors import CapabilityError, LocalProviderError
from ..exchange import Operation, Sleep
from .lmstudio_models import Loaded, instances
from .malformed import as_list, as_mapping, count_or_none

#: seconds between checks while another request loads the instance this one waits for
WAIT_S = 0.05


class Known(NamedTuple):
    """One model's trained maximum context and its loaded instances as (id, allocated context)."""

    max_context: int | None
    instances: tuple[tuple[str, int | None], ...]


def known_from_listing(api: str | None, data: Any) -> dict[str, Known]:
    """Every model's ``Known`` from a native listing (``/api/v1/models``: each instance; ``/api/v0/models``:
    the one loaded copy's ``loaded_context_length``); nothing from another listing.

    >>> known_from_listing("v1", {"models": [{"key": "m", "max_context_length": 32768, "loaded_instances": [
    ...     {"id": "m", "config": {"context_length": 4096}}, {"id": "m:2", "config": {"context_length": 16384}}]}]})
    {'m': Known(max_context=32768, instances=(('m', 4096), ('m:2', 16384)))}
    >>> known_from_listing("v0", {"data": [{"id": "m", "state": "loaded", "loaded_context_length": 8192}]})
    {'m': Known(max_context=None, instances=(('m', 8192),))}
    """
    known: dict[str, Known] = {}
    if api == "v1":
        for raw in as_list(as_mapping(data, "the /api/v1/models reply").get("models") or [], "models"):
            entry = as_mapping(raw, "a model entry")
            known[str(entry.get("key"))] = Known(count_or_none(entry.get("max_context_length")),
                                                 tuple(instances(entry)))
    elif api == "v0":
        for raw in as_list(as_mapping(data, "the /api/v0/models reply").get("data") or [], "data"):
            entry = as_mapping(raw, "a model entry")
            loaded = ((str(entry.get("id")), count_or_none(entry.get("loaded_context_length"))),)
            known[str(entry.get("id"))] = Known(count_or_none(entry.get("max_context_length")),
                                                loaded if entry.get("state") == "loaded" else ())
    return known


def target(known: Known | None, want: int) -> int:
    """The context to allocate for ``want``: at most the model's trained maximum.

    >>> target(Known(32768, ()), 65536), target(Known(None, ()), 65536), target(None, 8192)
    (32768, 65536, 8192)
    """
    return min(want, known.max_context) if known is not None and known.max_context else want


def fitting(known: Known, key: str, want: int) -> str | None:
    """The instance a request for ``want`` tokens names: the one a request naming ``key`` reaches
    (its id is the key, else the first) when its context suffices, else the smallest that does;
    None when none does. ``want`` is first capped at the trained maximum.

    >>> k = Known(32768, (("m", 4096), ("m:2", 32768), ("m:3", 16384)))
    >>> fitting(k, "m", 2048), fitting(k, "m", 8192), fitting(k, "m", 20000), fitting(k, "m", 65536)
    ('m', 'm:3', 'm:2', 'm:2')
    >>> fitting(Known(None, (("m", 4096),)), "m", 8192) is None
    True
    """
    want = target(known, want)
    served = next((i for i in known.instances if i[0] == key), known.instances[0] if known.instances else None)
    if served is not None and served[1] is not None and served[1] >= want:
        return served[0]
    fits = sorted((context, instance) for instance, context in known.instances if context is not None
                  and context >= want)
    return fits[0][1] if fits else None


class Instances:
    """What one LM Studio backend knows of its server's loaded instances (thread-safe, no I/O): set
    by each native listing, and by the loads and unloads patinox makes."""

    def __init__(self) -> None:
        self._known: dict[str, Known] = {}
        self._granted: dict[tuple[str, int], str] = {}  # (model, context asked): a load that allocated less
        self._lock = threading.Lock()

    def listed(self, known: Mapping[str, Known]) -> None:
        """A listing is the truth: it replaces what was known."""
        with self._lock:
            self._known = dict(known)
            live = {i for k in self._known.values() for i, _ in k.instances}
            self._granted = {key: i for key, i in self._granted.items() if i in live}

    def knows(self, model: str) -> bool:
        with self._lock:
            return model in self._known

    def known(self, model: str) -> Known | None:
        with self._lock:
            return self._known.get(model)

    def pick(self, model: str, want: int) -> str | None:
        """The instance to name for ``want`` tokens of ``model``, None when a load is needed."""
        with self._lock:
            known = self._known.get(model)
            if known is None:
                return None
            granted = self._granted.get((model, target(known, want)))
            if granted is not None and any(i == granted for i, _ in known.instances):
                return granted
            return fitting(known, model, want)

    def loaded(self, model: str, loaded: Loaded, want: int) -> str:
        """A load made ``loaded`` for ``want`` tokens; its instance id (the model's key when unsaid)."""
        instance = loaded.instance or model
        with self._lock:
            known = self._known.get(model, Known(None, ()))
            rest = tuple(i for i in known.instances if i[0] != instance)
            self._known[model] = known._replace(instances=(*rest, (instance, loaded.context or target(known, want))))
            self._granted[(model, target(known, want))] = instance
        return instance

    def unloaded(self, model: str) -> None:
        with self._lock:
            known = self._known.get(model)
            if known is not None:
                self._known[model] = known._replace(instances=())

    def forget(self, model: str) -> None:
        """``model``'s instances are unknown again (one was gone): the next request lists first."""
        with self._lock:
            self._known.pop(model, None)

    def model_of(self, instance: str) -> str | None:
        """The model whose loaded instance is ``instance`` (None: not an instance patinox knows)."""
        with self._lock:
            return next((m for m, k in self._known.items() if any(i == instance for i, _ in k.instances)), None)


class _Pending:
    """A load in flight: its result (or error) once ``done`` is set."""

    __slots__ = ("done", "error", "loaded")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.loaded: Loaded | None = None
        self.error: LocalProviderError | None = None


_LOADING: dict[tuple[str, str, int], _Pending] = {}  # (server, model, context): the load in flight
_GUARD = threading.Lock()


def no_load_api(model: str, want: int, known: Known | None, service: str) -> CapabilityError:
    """A context no loaded instance has, on an LM Studio that cannot load with one (before 0.4)."""
    allocated = max((c for _, c in known.instances if c), default=None) if known is not None else None
    has = f" ({model} has {allocated} tokens allocated)" if allocated else ""
    return CapabilityError(f"num_ctx={want} needs {model} loaded with that context{has}, and this LM Studio has no "
                           "API to load a model with a context (LM Studio 0.4 added it)",
                           hint=f"upgrade LM Studio to 0.4 or newer, or load the model with that context: "
                                f"`lms load {model} --context-length {want}` (or in LM Studio's Developer tab)",
                           model=model, service=service)


def instance_plan(table: Instances, model: str, want: int, *, service: str, native_api: Callable[[], str | None],
                  listing: Callable[[], Operation[Any]], load: Callable[[int], Operation[Loaded]],
                  ) -> Operation[tuple[str, float | None]]:
    """The instance a request for ``want`` tokens of ``model`` names, and the seconds its load took
    (None: nothing was loaded). ``listing`` reads the server's models into ``table`` (first when
    ``model``'s instances are unknown, else before a load, in case another client or an older
    listing left the table behind); ``load(context)`` loads one instance."""
    listed = not table.knows(model)
    if listed:
        yield from listing()
    while True:
        picked = table.pick(model, want)
        if picked is not None:
            return picked, None
        known = table.known(model)
        if native_api() != "v1":
            raise no_load_api(model, want, known, service)
        context = target(known, want)
        key = (service, model, context)
        with _GUARD:
            pending = _LOADING.get(key)
            mine = pending is None
            if pending is None:
                pending = _LOADING[key] = _Pending()
        if not mine:
            while not pending.done.is_set():
                yield Sleep(WAIT_S)
            if pending.error is not None:
                raise copy.copy(pending.error)
            if pending.loaded is not None:
                table.loaded(model, pending.loaded, want)
            continue  # loaded: it fits now; abandoned (the loading call was cancelled): load here
        try:
            if not listed:  # the table may be behind the server (a listing read before a load): read it again
                yield from listing()
                listed = True
                if (picked := table.pick(model, want)) is not None:
                    return picked, None
            loaded = yield from load(context)
            if loaded.context is not None and loaded.context < context:
                warnings.warn(f"LM Studio allocated {loaded.context} tokens of context to {model}, not the "
                              f"{context} asked (num_ctx)", UserWarning, stacklevel=2)
            pending.loaded = loaded
            return table.loaded(model, loaded, want), loaded.seconds
        except LocalProviderError as err:
            pending.error = err
            raise
        finally:
            with _GUARD:
                _LOADING.pop(key, None)
            pending.done.set()


__all__ = ["WAIT_S", "Instances", "Known", "fitting", "instance_plan", "known_from_listing", "no_load_api", "target"]

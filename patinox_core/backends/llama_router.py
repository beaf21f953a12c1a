"""llama-server in router mode (started without ``-m``): load and unload through its own API.

From llama.cpp's ``tools/server/README.md`` (router mode, 2025-12): ``POST /models/load`` and
``POST /models/unload`` with ``{"model": ID}`` answer ``{"success": true}`` at once while the router
starts or stops that model's process; ``GET /models`` then shows ``status.value`` going ``loading`` →
``loaded``, or back to ``unloaded`` with ``failed: true`` and the process's ``exit_code`` (a model that
does not fit memory is the usual cause; the reason is in the server's log only); ``GET /props?model=ID``
gives the loaded instance's ``n_ctx``. The router has no per-model keep-alive: it keeps a model until
it is unloaded or evicted (least recently used past ``--models-max``). A llama-server started with
``-m`` answers 404 to both routes: it serves its one model.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..call_context import CallContext
from ..errors import CapabilityError, ConfigurationError, InvalidResponseError, ModelNotFoundError, ServerError
from ..exchange import Operation, Sleep, call
from .lifecycle_errors import MEMORY_HINT
from .malformed import as_list, as_mapping, count_or_none


def router_status(listing: Any, model: str) -> Mapping[str, Any]:
    """The ``status`` object of ``model`` in a router's ``/models`` listing.

    >>> router_status({"data": [{"id": "q", "status": {"value": "unloaded", "failed": True, "exit_code": 1}}]}, "q")
    {'value': 'unloaded', 'failed': True, 'exit_code': 1}
    """
    for m in as_list(as_mapping(listing, "the /models reply").get("data") or [], "data"):
        entry = as_mapping(m, "a model entry")
        if entry.get("id") == model:
            status = entry.get("status")
            return status if isinstance(status, Mapping) else {}
    raise ModelNotFoundError(f"llama-server's router has no model {model!r}",
                             hint="put its GGUF in the router's --models-dir (or its cache) and restart it",
                             model=model)


def _not_router(model: str, service: str, err: Exception) -> CapabilityError:
    return CapabilityError("this llama-server serves one model (started with -m): it cannot load or unload others",
                           hint="start llama-server without -m (router mode, with --models-dir) to switch models",
                           model=model, service=service)


def load(ctx: CallContext, listing_ctx: CallContext, base_url: str, model: str, *, loaded: bool,
         keep_alive: str | int | None, poll_s: float, max_polls: int) -> Operation[int | None]:
    """Ask the router to load or unload ``model``; after a load, poll ``/models`` until it is loaded
    (at most ``max_polls`` times) and read its context from ``/props?model=``. The allocated context."""
    if loaded and keep_alive is not None and str(keep_alive).strip() not in ("-1", "-1s", "-1m"):
        warnings.warn("llama-server's router has no keep-alive: it keeps the model until unloaded or evicted "
                      "(--models-max)", UserWarning, stacklevel=2)
    try:
        yield from call(ctx, "POST", f"{base_url}/models/{'load' if loaded else 'unload'}", {"model": model})
    except (CapabilityError, ModelNotFoundError, ConfigurationError, InvalidResponseError) as err:
        if err.status_code == 404 and "not found" not in str(err.body).lower().replace("file not found", ""):
            raise _not_router(model, base_url, err) from err
        raise
    if not loaded:
        return None
    for _ in range(max_polls):
        status = router_status((yield from call(listing_ctx, "GET", base_url + "/models")), model)
        if status.get("value") == "loaded":
            props: Any = yield from call(listing_ctx, "GET", f"{base_url}/props?model={quote(model, safe='')}")
            settings = as_mapping(props, "the /props reply").get("default_generation_settings")
            return count_or_none(settings.get("n_ctx")) if isinstance(settings, Mapping) else None
        if status.get("failed"):
            raise ServerError(f"llama-server could not load {model}: its process exited with code "
                              f"{status.get('exit_code')}", hint=f"see the server log; if it ran out of memory, "
                              f"{MEMORY_HINT}", model=model, service=base_url)
        yield Sleep(poll_s)
    raise ServerError(f"llama-server did not finish loading {model} within {poll_s * max_polls:g} s",
                      hint="raise cold_load_timeout, or see the server log", model=model, service=base_url)


__all__ = ["load", "router_status"]

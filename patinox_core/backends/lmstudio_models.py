"""LM Studio's model management (REST v1, LM Studio >= 0.4): download with its status job, load, unload.

From ``lmstudio-ai/docs`` ``1_developer/2_rest/{download,download-status,load,unload}.md``:
``POST /api/v1/models/download {model, quantization?}`` answers a job (``job_id``, ``status``
``downloading|paused|completed|failed|already_downloaded``, ``total_size_bytes``, ``downloaded_bytes``,
``bytes_per_second``); ``GET /api/v1/models/download/status/:job_id`` is polled for the same fields.
``POST /api/v1/models/load {model, context_length?, echo_load_config?}`` answers ``{type, instance_id,
load_time_seconds, status: "loaded", load_config?}``; ``POST /api/v1/models/unload {instance_id}``.
The load endpoint takes no TTL: a model loaded through it stays until unloaded. ``keep_alive`` is
LM Studio's idle ``ttl``, which it applies to models it loads on demand (JIT), so a load with a finite
``keep_alive`` goes through a one-token request carrying ``ttl`` instead (no context choice then).

The REST API has no way to cancel a download: a download stopped on this side goes on in LM Studio.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..call_context import CallContext
from ..errors import (
    CapabilityError,
    ConfigurationError,
    LocalProviderError,
    ModelNotFoundError,
    PullError,
    RegistryModelNotFoundError,
)
from ..exchange import Operation, Sleep, call
from ..provisioning.events import Phase, ProgressEvent, PullTally, human_bytes, safe_status
from .lifecycle_errors import pull_failure
from .malformed import as_list, as_mapping, count_or_none, number_or_none
from .openai_errors import error_fields

_PHASES: dict[str, Phase] = {"downloading": "downloading", "paused": "paused", "completed": "done",
                             "already_downloaded": "done", "failed": "failed"}


def download_to_wire(model: str, quantization: str | None = None) -> dict[str, Any]:
    """The download request.

    >>> download_to_wire("qwen/qwen3-4b-2507")
    {'model': 'qwen/qwen3-4b-2507'}
    """
    return {"model": model, **({"quantization": quantization} if quantization else {})}


def download_event(data: Any, *, model: str, service: str) -> ProgressEvent:
    """A download job's status as an event.

    >>> e = download_event({"job_id": "job_493c7c9ded", "status": "downloading", "total_size_bytes": 2279145003,
    ...                     "downloaded_bytes": 948, "bytes_per_second": 7834.7}, model="m", service="s")
    >>> e.phase, e.completed, e.total, e.bytes_per_second
    ('downloading', 948, 2279145003, 7834.7)
    """
    job = as_mapping(data, "a download job")
    status = str(job.get("status") or "")
    phase = _PHASES.get(status, "status")
    done = count_or_none(job.get("downloaded_bytes")) or (0 if phase == "downloading" else None)
    return ProgressEvent(model, service, phase, safe_status(status), completed=done,
                         total=count_or_none(job.get("total_size_bytes")),
                         bytes_per_second=number_or_none(job.get("bytes_per_second")))


def left_in_lmstudio(job_id: str | None, tally: PullTally) -> str:
    """What a download stopped on this side leaves: LM Studio's job goes on (no cancel endpoint).

    >>> left_in_lmstudio("job_1", PullTally()).split(":")[0]
    'download job job_1 keeps running in LM Studio (its REST API cannot cancel it)'

    """
    if job_id is None:
        return "nothing (no download job was started)"
    fetched = f" ({human_bytes(tally.completed)} fetched so far)" if tally.completed else ""
    return (f"download job {job_id}{fetched} keeps running in LM Studio (its REST API cannot cancel it): let it "
            "finish, or cancel it in LM Studio's Downloads panel")


def classify_download(status: int | None, body: Any, *, model: str, fallback: Any) -> LocalProviderError:
    """A refused download: a name the catalogue lacks, a full disk, else LM Studio's usual classes."""
    message, kind, _ = error_fields(body)
    if kind in ("model_not_found", "not_found"):
        return RegistryModelNotFoundError(f"LM Studio's catalog has no model {model!r}: {message}", model=model,
                                          hint="check the name: an LM Studio catalog id such as "
                                               "`qwen/qwen3-4b-2507`, or a Hugging Face URL", status_code=status)
    found = pull_failure(message, server="LM Studio", model=model, status_code=status, pull_hint="")
    return found if found is not None else fallback(status, body)


def download(ctx: CallContext, base_url: str, model: str, tally: PullTally, poll_s: float,
             quantization: str | None = None) -> Operation[None]:
    """Start the download, then poll its job until it completes; events all along. A failed job
    raises ``PullError`` saying what LM Studio keeps."""
    job: Any = yield from call(ctx, "POST", base_url + "/api/v1/models/download", download_to_wire(model, quantization))
    job_id = as_mapping(job, "the download reply").get("job_id")
    tally.job = str(job_id) if job_id else None
    while True:
        event = download_event(job, model=model, service=base_url)
        tally.add(event)
        if event.phase == "failed":
            raise PullError(f"LM Studio's download of {model} failed", model=model, service=base_url,
                            hint="see LM Studio's Downloads panel or log (a full disk? the network?), then retry",
                            left_on_server=f"the failed job {job_id} ({human_bytes(event.completed)} fetched) stays "
                                           "in LM Studio's download list; retry, or clear it in LM Studio's "
                                           "Downloads panel")
        yield event
        if event.phase == "done" or not job_id:
            return
        yield Sleep(poll_s)
        job = yield from call(ctx, "GET", f"{base_url}/api/v1/models/download/status/{job_id}")


# --------------------------------------------------------------------------- load / unload


def _entry(listing: Any, model: str) -> Mapping[str, Any]:
    for m in as_list(as_mapping(listing, "the /api/v1/models reply").get("models") or [], "models"):
        entry = as_mapping(m, "a model entry")
        if entry.get("key") == model:
            return entry
    raise ModelNotFoundError(f"LM Studio has no downloaded model {model!r}",
                             hint=f"download it: `patinox pull {model}` or `lms get {model}`", model=model)


def instances(entry: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(instance id, allocated context) of each loaded instance of a listing entry.

    >>> instances({"key": "m", "loaded_instances": [{"id": "m", "config": {"context_length": 4096}}]})
    [('m', 4096)]
    """
    out = []
    for inst in as_list(entry.get("loaded_instances") or [], "loaded_instances"):
        inst = as_mapping(inst, "a loaded instance")
        config = inst.get("config")
        config = config if isinstance(config, Mapping) else {}
        out.append((str(inst.get("id") or entry.get("key")), count_or_none(config.get("context_length"))))
    return out


def load_to_wire(model: str, context: int | None) -> dict[str, Any]:
    """The load request.

    >>> load_to_wire("qwen/qwen3-8b", 16384)
    {'model': 'qwen/qwen3-8b', 'echo_load_config': True, 'context_length': 16384}
    """
    return {"model": model, "echo_load_config": True, **({"context_length": context} if context else {})}


class Loaded(NamedTuple):
    """One load: the instance's id (what a request names to reach it), seconds, allocated context."""

    instance: str | None
    seconds: float | None
    context: int | None


def load_reply(data: Any) -> Loaded:
    """The instance, load seconds and allocated context of a load reply (``instance_id``, or
    ``model_instance_id`` as another version of the docs spells it; ``load_config``, or ``config``).

    >>> load_reply({"type": "llm", "instance_id": "m:2", "load_time_seconds": 9.099, "status": "loaded",
    ...             "load_config": {"context_length": 16384}})
    Loaded(instance='m:2', seconds=9.099, context=16384)
    """
    reply = as_mapping(data, "the load reply")
    config = reply.get("load_config") or reply.get("config")
    context = count_or_none(config.get("context_length")) if isinstance(config, Mapping) else None
    instance = reply.get("instance_id") or reply.get("model_instance_id")
    return Loaded(instance if isinstance(instance, str) and instance else None,
                  number_or_none(reply.get("load_time_seconds")), context)


def load_instance(ctx: CallContext, base_url: str, model: str, context: int | None) -> Operation[Loaded]:
    """``POST /api/v1/models/load``: one more instance of ``model`` (``context`` tokens, when given)."""
    reply: Any = yield from call(ctx, "POST", base_url + "/api/v1/models/load", load_to_wire(model, context))
    return load_reply(reply)


def jit_request(entry: Mapping[str, Any], ttl: int) -> tuple[str, dict[str, Any]]:
    """A one-token request that makes LM Studio load the model on demand with idle ``ttl`` seconds."""
    key = str(entry.get("key"))
    if entry.get("type") == "embedding":
        return "/v1/embeddings", {"model": key, "input": ["load"], "ttl": ttl}
    return "/v1/chat/completions", {"model": key, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
                                    "stream": False, "ttl": ttl}


def listed_entry(listing_ctx: CallContext, base_url: str, model: str) -> Operation[Mapping[str, Any]]:
    """``model``'s ``/api/v1/models`` entry; a server without that API: ``CapabilityError`` (upgrade)."""
    try:
        return _entry((yield from call(listing_ctx, "GET", base_url + "/api/v1/models")), model)
    except (CapabilityError, ConfigurationError) as err:
        raise CapabilityError("this LM Studio has no model management API (LM Studio 0.4 added it)",
                              hint=f"upgrade LM Studio, or use `lms load {model}` / `lms unload {model}`",
                              model=model, service=base_url) from err


def load(ctx: CallContext, listing_ctx: CallContext, base_url: str, model: str, ttl: int | None,
         context: int | None, loaded: bool) -> Operation[Loaded]:
    """Load (REST load, or a JIT request when a ttl applies) or unload every instance."""
    entry = yield from listed_entry(listing_ctx, base_url, model)
    if not loaded:
        for instance, _ in instances(entry):
            yield from call(ctx, "POST", base_url + "/api/v1/models/unload", {"instance_id": instance})
        return Loaded(None, None, None)
    if ttl is not None and context:
        warnings.warn(f"LM Studio's load endpoint takes a context but no idle TTL: {model} stays loaded until "
                      "unloaded (keep_alive applies to on-demand loads)", UserWarning, stacklevel=2)
    if ttl is None or context:
        return (yield from load_instance(ctx, base_url, model, context))
    path, body = jit_request(entry, ttl)
    t0 = time.perf_counter()
    yield from call(ctx, "POST", base_url + path, body)
    seconds = time.perf_counter() - t0
    after = instances((yield from listed_entry(listing_ctx, base_url, model)))
    served = next(((i, c) for i, c in after if i == model), after[0] if after else (None, None))
    return Loaded(served[0], seconds, served[1])


__all__ = ["Loaded", "classify_download", "download", "download_event", "download_to_wire", "instances",
           "jit_request", "left_in_lmstudio", "listed_entry", "load", "load_instance", "load_reply", "load_to_wire"]

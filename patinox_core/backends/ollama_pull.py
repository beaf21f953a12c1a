"""Ollama's ``POST /api/pull`` as progress events (pure converters and one plan).

The reply is NDJSON after HTTP 200: ``{"status": "pulling manifest"}``, then per layer
``{"status": "pulling <digest>", "digest": "sha256:…", "total": N, "completed": M}`` (``completed``
absent at first), then ``verifying sha256 digest``, ``writing manifest``, ``success`` (older servers
also ``removing any unused layers``). A failure is an ``{"error": …}`` line: ``pull model manifest:
file does not exist`` (no such name), ``… no space left on device`` (disk full).

What a stopped pull leaves: Ollama keeps each layer fetched so far as a ``sha256-…-partial`` file in its
blob store; the next pull of the same name resumes from them, and Ollama deletes unused ones when it
starts (unless ``OLLAMA_NOPRUNE`` is set).
"""

from __future__ import annotations

from typing import Any

from ..call_context import CallContext
from ..errors import LocalProviderError, PullError, RegistryModelNotFoundError
from ..exchange import Operation, stream
from ..provisioning.events import Phase, ProgressEvent, PullTally, human_bytes, safe_status
from .base import ErrorPayload
from .lifecycle_errors import pull_failure
from .malformed import MalformedReply, count_or_none, decode
from .ollama_wire import classify_error, error_text

_PHASES: dict[str, Phase] = {
    "pulling manifest": "manifest", "verifying sha256 digest": "verifying", "writing manifest": "writing",
    "removing any unused layers": "cleanup", "removing unused layers": "cleanup", "success": "done"}


def pull_to_wire(model: str, *, insecure: bool = False) -> dict[str, Any]:
    """The ``/api/pull`` body (streamed).

    >>> pull_to_wire("llama3.2")
    {'model': 'llama3.2', 'stream': True}
    """
    body: dict[str, Any] = {"model": model, "stream": True}
    if insecure:
        body["insecure"] = True
    return body


def pull_event(data: Any, *, model: str, service: str) -> ProgressEvent:
    """One progress line as an event.

    >>> e = pull_event({"status": "pulling dde5aa3fc5ff", "digest": "sha256:dde5aa3fc5ff", "total": 2019377376,
    ...                 "completed": 241970}, model="llama3.2", service="http://127.0.0.1:11434")
    >>> e.phase, e.layer, e.completed, e.total
    ('layer', 'sha256:dde5aa3fc5ff', 241970, 2019377376)
    >>> pull_event({"status": "verifying sha256 digest"}, model="m", service="s").phase
    'verifying'
    """
    if not isinstance(data, dict):
        raise MalformedReply(f"a pull progress line is not a JSON object: {str(data)[:80]!r}")
    status = str(data.get("status") or "")
    digest = data.get("digest")
    layer = safe_status(digest) if isinstance(digest, str) and digest else None
    phase: Phase = "layer" if layer or (status.startswith("pulling ") and status != "pulling manifest") else \
        _PHASES.get(status.strip().lower(), "status")
    total = count_or_none(data.get("total"))
    completed = count_or_none(data.get("completed"))
    if phase == "layer" and completed is None and total is not None:
        completed = 0  # the first line of a layer omits completed
    return ProgressEvent(model, service, phase, safe_status(status), layer=layer, completed=completed, total=total)


class PullParser:
    """``LineParser`` for ``/api/pull`` NDJSON: each line one event, counted in ``tally``. An error line
    raises ``ErrorPayload``; a body that ends before ``success`` is a stopped pull."""

    __slots__ = ("model", "service", "t0", "tally")

    def __init__(self, model: str, service: str, tally: PullTally) -> None:
        self.model, self.service, self.tally, self.t0 = model, service, tally, 0.0

    def feed(self, line: str) -> list[ProgressEvent]:
        data = decode(line, "a pull progress line")
        if isinstance(data, dict) and data.get("error"):
            raise ErrorPayload(data)
        event = pull_event(data, model=self.model, service=self.service)
        self.tally.add(event)
        return [event]

    def close(self) -> list[ProgressEvent]:
        if self.tally.last is None or self.tally.last.phase != "done":
            raise PullError(f"Ollama stopped sending before the pull of {self.model} finished",
                            hint="check that Ollama is still running and pull again", model=self.model,
                            service=self.service)
        return []


def classify_pull(status: int | None, body: Any, *, model: str) -> LocalProviderError:
    """A failed pull's error: no such name on the registry, a full disk, else Ollama's usual classes.

    >>> type(classify_pull(None, {"error": "pull model manifest: file does not exist"}, model="lama3")).__name__
    'RegistryModelNotFoundError'
    """
    text = error_text(body)
    found = pull_failure(text, server="Ollama", model=model, status_code=status,
                         pull_hint="on https://ollama.com/library (e.g. `llama3.2:3b`)")
    if found is not None:
        return found
    err = classify_error(status, body, model)
    return err if status is not None else PullError(f"Ollama could not pull {model}: {text}",
                                                    hint="see the server log and pull again", model=model)


def left_on_ollama(tally: PullTally) -> str:
    """What a pull that stopped leaves in Ollama's blob store.

    >>> t = PullTally(); t.add(ProgressEvent("m", "s", "layer", layer="sha256:ab", completed=5, total=10))
    >>> left_on_ollama(t).split(";")[0]
    '5 B of 10 B in 1 partial layer file(s)'
    """
    if not tally.layers or tally.completed == 0:
        return "nothing (no layer data was fetched)"
    unfinished = tally.unfinished
    if not unfinished:
        return ("every layer, but not the manifest: the model is not usable yet; pulling again finishes "
                "without downloading them")
    return (f"{human_bytes(tally.completed)} of {human_bytes(tally.total)} in {len(unfinished)} partial layer "
            "file(s); pulling again resumes them, and Ollama deletes unused partial files when it restarts "
            "(unless OLLAMA_NOPRUNE is set)")


def pull(ctx: CallContext, url: str, model: str, tally: PullTally, *, insecure: bool = False) -> Operation[None]:
    """The pull's events; a failure raises its typed error saying what was left on the server."""
    try:
        yield from stream(ctx, url, pull_to_wire(model, insecure=insecure), PullParser(model, ctx.service, tally))
    except RegistryModelNotFoundError:
        raise
    except PullError as err:
        err.left_on_server = left_on_ollama(tally)
        err.args = (err._render(),)
        raise
    except LocalProviderError as err:
        raise PullError(f"the pull of {model} stopped: {err.message}", hint=err.hint, service=ctx.service,
                        model=model, status_code=err.status_code, left_on_server=left_on_ollama(tally)) from err


__all__ = ["PullParser", "classify_pull", "left_on_ollama", "pull", "pull_event", "pull_to_wire"]

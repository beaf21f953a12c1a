"""What a server reports about its own work in progress: ``ServerLoad`` and the readers of each
kind's endpoint (a kind's ``KindSpec.load_probe``).

patinox's own counts (``LocalProvider.load_status``) see only the process that makes them; a
server shared with other clients reports its own figures where it has them:

- llama.cpp ``llama-server``: ``GET /slots``, one entry per slot, ``is_processing`` while it works
  (no queue figure; ``--no-slots`` turns the endpoint off);
- vLLM: ``GET /metrics`` (Prometheus text), the gauges ``vllm:num_requests_running`` and
  ``vllm:num_requests_waiting``, one sample per engine and model (summed);
- SGLang: ``GET /metrics`` with ``--enable-metrics``, ``sglang:num_running_reqs`` and
  ``sglang:num_queue_reqs``.

Ollama and LM Studio report no such count. The readers are pure (bytes in; ``ServerLoad`` out, or
an ``InvalidResponseError`` saying what is wrong); the request is ``server_load.read_load``'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import InvalidResponseError


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """``running`` requests the server works on now, ``waiting`` in its queue (None: not reported),
    of ``slots`` it can run at once (None: not reported)."""

    running: int
    waiting: int | None = None
    slots: int | None = None


@dataclass(frozen=True, slots=True)
class LoadProbe:
    """``GET path`` and ``read`` its body; ``hint``: what to do when the server does not answer it."""

    path: str
    read: Callable[[bytes], ServerLoad]
    hint: str


def slots_load(body: bytes) -> ServerLoad:
    """llama-server's ``GET /slots``: how many of its slots are processing.

    >>> slots_load(b'[{"id": 0, "is_processing": true}, {"id": 1, "is_processing": false}]')
    ServerLoad(running=1, waiting=None, slots=2)
    >>> slots_load(b'{"error": {"code": 501}}')
    Traceback (most recent call last):
    patinox_core.errors.InvalidResponseError: /slots is not a list of slots. ...
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, list) or not all(isinstance(s, Mapping) for s in data):
        raise InvalidResponseError("/slots is not a list of slots",
                                   hint="a llama-server started with --no-slots does not report its slots")
    return ServerLoad(sum(1 for s in data if s.get("is_processing") is True), None, len(data))


def gauge_sum(text: str, name: str) -> float | None:
    """The sum of every sample of Prometheus metric ``name`` (None: the text has none).

    >>> gauge_sum('# HELP x\\nx{model_name="a"} 2.0\\nx{model_name="b"} 1\\nx_total 9\\n', "x")
    3.0
    >>> gauge_sum("y 1", "x") is None
    True
    """
    total: float | None = None
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name):len(name) + 1] not in ("{", " "):
            continue
        rest = line[len(name):]
        if rest.startswith("{"):
            end = rest.rfind("}")
            if end < 0:
                continue
            rest = rest[end + 1:]
        fields = rest.split()
        try:
            value = float(fields[0]) if fields else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise InvalidResponseError(f"/metrics has an unreadable {name} sample")
        total = (total or 0.0) + value
    return total


def metrics_reader(running: str, waiting: str) -> Callable[[bytes], ServerLoad]:
    """A ``/metrics`` reader for the gauges ``running`` and ``waiting``.

    >>> metrics_reader("r", "w")(b"r 2\\nw 5\\n")
    ServerLoad(running=2, waiting=5, slots=None)
    """

    def read(body: bytes) -> ServerLoad:
        text = body.decode("utf-8", "replace")
        now = gauge_sum(text, running)
        if now is None:
            raise InvalidResponseError(f"/metrics has no {running} gauge")
        queued = gauge_sum(text, waiting)
        return ServerLoad(round(now), None if queued is None else round(queued))

    return read


__all__ = ["LoadProbe", "ServerLoad", "gauge_sum", "metrics_reader", "slots_load"]

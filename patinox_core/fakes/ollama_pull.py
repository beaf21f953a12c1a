"""The registry behind ``FakeOllamaServer``'s ``POST /api/pull``, and its memory limit for loads.

Shaped from Ollama's ``docs/api.md`` (Pull a Model) and its error texts: ``offer(model)`` puts a model
on the fake registry (three layers: weights, template, params, each with a ``sha256:`` digest); a pull
streams ``pulling manifest``, per layer ``pulling <id>`` with ``digest``/``total`` and then growing
``completed`` (``steps`` lines), ``verifying sha256 digest``, ``writing manifest``, ``success``, and
installs the model. A name not offered fails with ``pull model manifest: file does not exist``;
pulling an installed model again finds every layer present (as Ollama does). ``disk_free`` bytes
make a pull fail with ``write …-partial: no space left on device`` when it would pass them;
``end_after`` lines end the body cleanly early (a server stopped mid-pull). Bytes fetched stay in
``partial`` by digest, and a later pull resumes from them, as Ollama's ``-partial`` files do.
``memory_limit`` bytes make loading a larger model fail like Ollama (HTTP 500 ``model requires more
system memory (…) than is available (…)``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ._http import FakeRequest, Reply, StreamReply

FakeOllamaServer = Any  # the server this serves (no import: it imports this module)
OllamaModel = Any

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

BLOBS = "/usr/share/ollama/.ollama/models/blobs"


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


class OllamaRegistry:
    """What a ``FakeOllamaServer`` can pull (see the module docstring)."""

    def __init__(self, server: FakeOllamaServer) -> None:
        self.server = server
        self.models: dict[str, OllamaModel] = {}
        self.partial: dict[str, int] = {}  # digest -> bytes fetched (Ollama's -partial files)
        self.steps = 4
        self.delay = 0.0  # seconds between progress lines
        self.disk_free: int | None = None
        self.end_after: int | None = None
        self.memory_limit: int | None = None

    def offer(self, model: OllamaModel) -> OllamaModel:
        """Put ``model`` on the registry (a copy, not loaded, is installed by a pull)."""
        self.models[model.name] = model
        return model

    def find(self, name: str) -> OllamaModel | None:
        """An offered model, else an installed one (pulling it again finds every layer present)."""
        return self.models.get(name) or self.models.get(f"{name}:latest") or self.server.find(name)

    @staticmethod
    def layers(model: OllamaModel) -> list[tuple[str, int]]:
        sizes = [max(1, model.size - 1_500), 1_400, 100]
        return [("sha256:" + hashlib.sha256(f"{model.name}/{i}".encode()).hexdigest(), size)
                for i, size in enumerate(sizes)]

    # -- POST /api/pull --------------------------------------------------------------------------
    def pull(self, request: FakeRequest) -> Reply | StreamReply:
        body = request.json if request.body else None
        name = str((body or {}).get("model") or (body or {}).get("name") or "")
        if not name:
            return Reply(status=400, body={"error": "model is required"})
        lines = self._lines(name)
        if (body or {}).get("stream") is False:
            last = [json.loads(x) for x in lines][-1]
            return Reply(status=500 if "error" in last else 200, body=last)
        return StreamReply(lines=lines, delay_between=self.delay)

    def _lines(self, name: str) -> Iterator[str]:
        count = 0

        def budget() -> bool:
            nonlocal count
            count += 1
            return self.end_after is None or count <= self.end_after

        if not budget():
            return
        yield _line({"status": "pulling manifest"})
        model = self.find(name)
        if model is None:
            yield _line({"error": "pull model manifest: file does not exist"})
            return
        fetched = 0
        installed = self.server.find(name) is not None
        for digest, size in self.layers(model):
            start = size if installed else self.partial.get(digest, 0)
            head: dict[str, Any] = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
            if start:
                head["completed"] = start
            if not budget():
                return
            yield _line(head)
            for k in range(1, self.steps + 1 if start < size else 1):
                done = start + (size - start) * k // self.steps
                if self.disk_free is not None and fetched + done - start > self.disk_free:
                    yield _line({"error": f"write {BLOBS}/sha256-{digest[7:]}-partial: no space left on device"})
                    return
                if not budget():
                    return
                self.partial[digest] = done
                yield _line({**head, "completed": done})
            fetched += size - start
        for status in ("verifying sha256 digest", "writing manifest"):
            if not budget():
                return
            yield _line({"status": status})
        for digest, _ in self.layers(model):
            self.partial.pop(digest, None)
        self.server.add_model(replace(model, loaded=False))
        yield _line({"status": "success"})

    # -- loads -------------------------------------------------------------------------------------
    def memory_refusal(self, model: OllamaModel) -> Reply | None:
        """Ollama's answer to loading a model that does not fit ``memory_limit`` (None: it fits)."""
        if self.memory_limit is None or model.loaded or model.size <= self.memory_limit:
            return None
        return Reply(status=500, body={"error": f"model requires more system memory ({_gib(model.size * 1.2)}) "
                                                f"than is available ({_gib(self.memory_limit)})"})


__all__ = ["OllamaRegistry"]

"""Model management on ``FakeLMStudioServer``: the REST v1 download job, load and unload.

Shaped from ``lmstudio-ai/docs`` ``1_developer/2_rest/{download,download-status,load,unload}.md``:
``offer(model)`` puts a model in the fake catalog; ``POST /api/v1/models/download`` answers its job
(``already_downloaded`` when the model is there), and each ``GET /api/v1/models/download/status/:id``
moves it ``step`` of the way (``downloading`` with ``downloaded_bytes``, ``total_size_bytes``,
``bytes_per_second``, then ``completed``, when the model is installed, not loaded). ``fail_at`` (a
fraction) makes the job ``failed`` there; ``pause_polls`` answers ``paused`` that many times first.
An id the catalog lacks is refused with the v1 envelope (``{"error": {"type": "model_not_found", …}}``).
``POST /api/v1/models/load`` answers ``{type, instance_id, load_time_seconds, status, load_config}``:
the model's first instance (its key) when none is loaded, else one more (``key:2``, …) with its own
context, at most ``max_context_length``; a model over ``memory_limit`` bytes is refused with LM
Studio's guardrail text. ``POST /api/v1/models/unload`` takes an ``instance_id``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ._http import FakeRequest, Reply

FakeLMStudioServer = Any  # the server this serves (no import: it imports this module)
LMStudioModel = Any

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

GUARDRAIL = ("Model loading was stopped due to insufficient system resources. Under the current settings, this "
             "model requires approximately {size:.2f} GB of memory, and continuing to load it would likely overload "
             "your system and cause it to freeze. If you think this is incorrect, you can adjust the model loading "
             "guardrails in settings.")


def v1_error(status: int, kind: str, message: str) -> Reply:
    return Reply(status=status, body={"error": {"type": kind, "message": message}})


class LMStudioAdmin:
    """The v1 model-management routes of a ``FakeLMStudioServer`` (see the module docstring)."""

    def __init__(self, server: FakeLMStudioServer) -> None:
        self.server = server
        self.catalog: dict[str, LMStudioModel] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.step = 0.25
        self.fail_at: float | None = None
        self.pause_polls = 0
        self.memory_limit: int | None = None
        self.loads: list[dict[str, Any]] = []  # load request bodies, in order

    def offer(self, model: LMStudioModel) -> LMStudioModel:
        self.catalog[model.id] = model
        return model

    def handle(self, method: str, path: str, request: FakeRequest) -> Reply | None:
        body = request.json if request.body else {}
        if method == "POST" and path == "/api/v1/models/download":
            return self._download(body or {})
        if method == "GET" and path.startswith("/api/v1/models/download/status/"):
            return self._status(path.rsplit("/", 1)[-1])
        if method == "POST" and path == "/api/v1/models/load":
            return self._load(body or {})
        if method == "POST" and path == "/api/v1/models/unload":
            return self._unload(body or {})
        return None

    # -- downloads ---------------------------------------------------------------------------------
    def _download(self, body: dict[str, Any]) -> Reply:
        name = str(body.get("model") or "")
        if not name:
            return v1_error(400, "invalid_request", '"model" is required')
        if name in self.server.models:
            return Reply(body={"status": "already_downloaded"}, pretty=True)
        model = self.catalog.get(name)
        if model is None:
            return v1_error(404, "model_not_found", f"Model '{name}' was not found in the LM Studio catalog")
        job_id = f"job_{len(self.jobs) + 1:010x}"
        self.jobs[job_id] = job = {"job_id": job_id, "status": "downloading", "total_size_bytes": model.size_bytes,
                                   "downloaded_bytes": 0, "bytes_per_second": 7834.7,
                                   "estimated_completion": "2026-12-06T00:21:47.030Z",
                                   "started_at": "2026-12-06T00:20:00.000Z", "_model": name,
                                   "_pauses": self.pause_polls}
        return self._job(job)

    @staticmethod
    def _job(job: dict[str, Any]) -> Reply:
        return Reply(body={k: v for k, v in job.items() if not k.startswith("_")}, pretty=True)

    def _status(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None:
            return v1_error(404, "job_not_found", f"Download job '{job_id}' not found")
        if job["status"] in ("completed", "failed"):
            return self._job(job)
        if job["_pauses"] > 0:
            job["_pauses"] -= 1
            job["status"] = "paused"
            return self._job({k: v for k, v in job.items() if k not in ("bytes_per_second", "estimated_completion")})
        total = job["total_size_bytes"]
        job["_polls"] = job.get("_polls", 0) + 1
        done = min(total, math.ceil(total * self.step * job["_polls"]))
        if self.fail_at is not None and done >= total * self.fail_at:
            job.update(status="failed", downloaded_bytes=int(total * self.fail_at))
            return self._job(job)
        job.update(status="downloading", downloaded_bytes=done)
        if done >= total:
            model = self.catalog[job["_model"]]
            self.server.add_model(replace(model, loaded=False))
            job.update(status="completed", completed_at="2026-12-06T00:22:00.000Z")
            job.pop("bytes_per_second", None)
            job.pop("estimated_completion", None)
        return self._job(job)

    # -- load / unload -----------------------------------------------------------------------------
    def _load(self, body: dict[str, Any]) -> Reply:
        self.loads.append(body)
        model = self.server.models.get(str(body.get("model")))
        if model is None:
            return v1_error(404, "model_not_found", f"Model {body.get('model')} not found in downloaded models")
        if self.memory_limit is not None and model.size_bytes > self.memory_limit:
            return v1_error(500, "model_load_failed", f'Failed to load model "{model.id}". Error: '
                            + GUARDRAIL.format(size=model.size_bytes * 1.3 / 1e9))
        asked = body.get("context_length")
        context = min(asked, model.max_context_length) if isinstance(asked, int) else model.loaded_context_length
        live = model.instance_ids()
        if not live:
            model.loaded, model.instances, model.loaded_context_length = True, 1, context
            instance = model.id
        else:
            taken, n = {i for i, _ in live}, len(live) + 1
            while f"{model.id}:{n}" in taken:
                n += 1
            instance = f"{model.id}:{n}"
            model.added.append((instance, context))
        reply: dict[str, Any] = {"type": "embedding" if model.type == "embeddings" else "llm", "instance_id": instance,
                                 "load_time_seconds": 1.25, "status": "loaded"}
        if body.get("echo_load_config"):
            reply["load_config"] = {"context_length": context, "flash_attention": True}
        return Reply(body=reply, pretty=True)

    def _unload(self, body: dict[str, Any]) -> Reply:
        instance = str(body.get("instance_id") or "")
        for model in self.server.models.values():
            if any(i == instance for i, _ in model.added):
                model.added = [(i, c) for i, c in model.added if i != instance]
                return Reply(body={"instance_id": instance}, pretty=True)
            if model.loaded and any(i == instance for i, _ in model.instance_ids()):
                if model.instances > 1:
                    model.instances -= 1
                else:
                    model.loaded = False
                return Reply(body={"instance_id": instance}, pretty=True)
        return v1_error(404, "model_not_found", f"No loaded model instance '{instance}'")


__all__ = ["GUARDRAIL", "LMStudioAdmin", "v1_error"]

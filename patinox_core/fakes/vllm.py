"""``FakeVLLMServer``: a slot-limited loopback fake of vLLM's OpenAI-compatible server (public API).

Shaped from vLLM's ``vllm serve`` API: ``GET /v1/models`` (``owned_by: "vllm"``, ``root``,
``parent``, ``max_model_len`` and a ``permission`` list), ``GET /version`` (``{"version": …}``),
``GET /health`` (200, empty body), ``GET /metrics`` (Prometheus text: the engine's
``vllm:num_requests_running`` and ``vllm:num_requests_waiting``, from the slot pool), chat
completions (plain and SSE) and ``/v1/embeddings`` (with ``embedding_dim``: an embedding model);
unknown routes answer 404 ``{"detail": "Not Found"}`` (FastAPI), errors ``{"object": "error",
"message", "type", "param", "code"}``; ``Server: uvicorn``.

The engine's batch is ``slots`` requests (``--max-num-seqs``) of ``service_s`` seconds each; more
wait in its queue, and ``queue_limit=N`` refuses requests past ``slots + N`` with 503 (plus
``Retry-After`` when ``retry_after`` is set), as a vLLM behind a load shedder does::

    with FakeVLLMServer("Qwen/Qwen3-8B", slots=8, queue_limit=0) as server:
        ...
"""

from __future__ import annotations

from typing import Any

from ._http import Reply
from .openai_compat import CREATED, OpenAIModel, Route
from .slots import SlotServer

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class FakeVLLMServer(SlotServer):
    """vLLM on 127.0.0.1 serving one model (see the module docstring)."""

    server_header = "uvicorn"
    owned_by = "vllm"

    def __init__(self, model: str = "Qwen/Qwen3-8B", *, slots: int = 4, service_s: float = 0.05,
                 queue_limit: int | None = None, retry_after: float | None = None, max_model_len: int = 32768,
                 reply: str = "Hello from vLLM.", embedding_dim: int | None = None, version: str = "0.11.0",
                 port: int = 0) -> None:
        served = OpenAIModel(model, reply=reply, embedding_dim=embedding_dim, context_length=max_model_len)
        super().__init__([served], slots=slots, service_s=service_s, queue_limit=queue_limit,
                         retry_after=retry_after, port=port)
        self.version = version

    def routes(self) -> dict[tuple[str, str], Route]:
        return {**super().routes(), ("GET", "/health"): lambda r: Reply(body=b""),
                ("GET", "/version"): lambda r: Reply(body={"version": self.version}),
                ("GET", "/metrics"): lambda r: Reply(body=self.metrics(), content_type=METRICS_TYPE)}

    def metrics(self) -> str:
        """Prometheus text as vLLM's ``/metrics`` writes it (one engine; a few of its other series)."""
        labels = f'engine="0",model_name="{next(iter(self.models))}"'
        return "".join([
            "# HELP python_gc_objects_collected_total Objects collected during gc\n",
            "# TYPE python_gc_objects_collected_total counter\n",
            'python_gc_objects_collected_total{generation="0"} 12893.0\n',
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n",
            "# TYPE vllm:num_requests_running gauge\n",
            f"vllm:num_requests_running{{{labels}}} {float(self.pool.processing)}\n",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n",
            "# TYPE vllm:num_requests_waiting gauge\n",
            f"vllm:num_requests_waiting{{{labels}}} {float(self.pool.queued)}\n",
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n",
            "# TYPE vllm:kv_cache_usage_perc gauge\n",
            f"vllm:kv_cache_usage_perc{{{labels}}} 0.0\n"])

    def busy_reply(self) -> Reply:
        return self.error(503, "The engine is overloaded: no room in the scheduler's waiting queue.",
                          "ServiceUnavailableError")

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {**super().model_entry(model), "root": model.id, "parent": None, "max_model_len": model.context_length,
                "permission": [{"id": "modelperm-0", "object": "model_permission", "created": CREATED,
                                "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                                "organization": "*", "group": None, "is_blocking": False}]}


__all__ = ["FakeVLLMServer"]

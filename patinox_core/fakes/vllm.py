"""``FakeVLLMServer``: a slot-limited loopback fake of vLLM's OpenAI-compatible server (public API).

Shaped from vLLM's ``vllm serve`` API: ``GET /v1/models`` (``owned_by: "vllm"``, ``root``,
``parent``, ``max_model_len`` and a ``permission`` list), ``GET /version`` (``{"version": …}``),
``GET /health`` (200, empty body), chat completions (plain and SSE) and ``/v1/embeddings``;
unknown routes answer 404 ``{"detail": "Not Found"}`` (FastAPI), errors
``{"error": {"message", "type", "param", "code"}}``; ``Server: uvicorn``.

The engine's batch is ``slots`` requests (``--max-num-seqs``) of ``service_s`` seconds each; more
wait in its queue, and ``queue_limit=N`` refuses requests past ``slots + N`` with 503 (plus
``Retry-After`` when ``retry_after`` is set), as a vLLM behind a load shedder does::

    with FakeVLLMServer("Qwen/Qwen3-8B", slots=8, queue_limit=0) as server:
        ...
"""

from __future__ import annotations

from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_replies import CREATED, chat_reply, embeddings_reply, error_body
from .slots import SlotServer, request_json

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


class FakeVLLMServer(SlotServer):
    """vLLM on 127.0.0.1 serving one model (see the module docstring)."""

    server_header = "uvicorn"

    def __init__(self, model: str = "Qwen/Qwen3-8B", *, slots: int = 4, service_s: float = 0.05,
                 queue_limit: int | None = None, retry_after: float | None = None, max_model_len: int = 32768,
                 reply: str = "Hello from vLLM.", embedding_dim: int = 8, version: str = "0.11.0",
                 port: int = 0) -> None:
        super().__init__(slots=slots, service_s=service_s, queue_limit=queue_limit, retry_after=retry_after,
                         port=port)
        self.model = model
        self.max_model_len = max_model_len
        self.reply = reply
        self.embedding_dim = embedding_dim
        self.version = version
        self._counter = 0

    def busy_body(self) -> Any:
        return error_body("The engine is overloaded: no room in the scheduler's waiting queue.", status=503,
                          kind="ServiceUnavailableError")

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        method, path = request.method, request.path
        if method == "GET" and path == "/health":
            return Reply(body=b"", content_type="application/json")
        if method == "GET" and path == "/version":
            return Reply(body={"version": self.version})
        if method == "GET" and path == "/v1/models":
            return Reply(body={"object": "list", "data": [self._entry()]})
        body = request_json(request)
        if method == "POST" and path in ("/v1/chat/completions", "/v1/embeddings"):
            model = body.get("model") if isinstance(body, dict) else None
            if model not in (None, self.model):
                return Reply(status=404, body=error_body(f"The model `{model}` does not exist.", status=404,
                                                         kind="NotFoundError"))
            if path == "/v1/embeddings":
                return embeddings_reply(body, dimensions=self.embedding_dim)
            self._counter += 1
            return chat_reply(body, text=self.reply, completion_id=f"chatcmpl-{self._counter:032x}",
                              extra={"system_fingerprint": None},
                              choice_extra={"stop_reason": None})
        return Reply(status=404, body={"detail": "Not Found"})

    def _entry(self) -> dict[str, Any]:
        return {"id": self.model, "object": "model", "created": CREATED, "owned_by": "vllm", "root": self.model,
                "parent": None, "max_model_len": self.max_model_len,
                "permission": [{"id": "modelperm-0", "object": "model_permission", "created": CREATED,
                                "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                                "organization": "*", "group": None, "is_blocking": False}]}


__all__ = ["FakeVLLMServer"]

"""``FakeLiteLLMProxy``: a loopback fake of a LiteLLM proxy (gateway) that answers by itself (public API).

Shaped from LiteLLM's proxy server: ``GET /v1/models`` (``owned_by: "openai"``, ``created:
1677610602``), ``GET /model/info`` (``data: [{model_name, litellm_params: {model}, model_info:
{id, db_model, key, max_tokens, max_input_tokens, max_output_tokens, input_cost_per_token,
output_cost_per_token, litellm_provider, mode, supports_function_calling, supports_vision, …}}]``;
API base and keys are never listed), ``GET /health/liveliness`` (and ``/health/liveness``:
``"I'm alive!"``), ``GET /health/readiness``, chat completions (plain and SSE) and embeddings
with LiteLLM's ``x-litellm-*`` reply headers; ``Server: uvicorn``. Errors are LiteLLM's
``ProxyException`` body ``{"error": {"message", "type", "param", "code"}}`` with ``code`` a string.

Nothing is forwarded: every deployment answers ``reply`` itself after ``service_s`` seconds, at
most ``slots`` at once; past ``queue_limit`` waiting requests it answers 429 with ``retry-after``,
like LiteLLM's parallel-request limiter. With ``master_key`` set, calls need
``Authorization: Bearer <master_key>`` (401 otherwise); the health routes stay open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_replies import chat_reply, embeddings_reply
from .slots import SlotServer, request_json

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

LITELLM_CREATED = 1677610602  # LiteLLM's DEFAULT_MODEL_CREATED_AT_TIME
OPEN_PATHS = ("/", "/health/liveliness", "/health/liveness", "/health/readiness")


@dataclass
class GatewayModel:
    """One deployment of the proxy's ``model_list``: the public ``model_name`` and what it routes to."""

    model_name: str
    model: str = "openai/gemma-3-4b-it"  # litellm_params.model
    mode: str = "chat"  # "chat" or "embedding"
    max_input_tokens: int = 131072
    max_output_tokens: int = 8192
    supports_function_calling: bool = True
    supports_vision: bool = False
    supports_reasoning: bool = False
    embedding_dim: int = 8

    def info(self, index: int) -> dict[str, Any]:
        provider = self.model.split("/", 1)[0] if "/" in self.model else "openai"
        return {"model_name": self.model_name, "litellm_params": {"model": self.model},
                "model_info": {"id": f"{index:064x}", "db_model": False, "key": self.model.split("/", 1)[-1],
                               "max_tokens": self.max_output_tokens, "max_input_tokens": self.max_input_tokens,
                               "max_output_tokens": self.max_output_tokens, "input_cost_per_token": 0.0,
                               "output_cost_per_token": 0.0, "litellm_provider": provider, "mode": self.mode,
                               "supports_function_calling": self.supports_function_calling,
                               "supports_tool_choice": self.supports_function_calling,
                               "supports_vision": self.supports_vision, "supports_reasoning": self.supports_reasoning,
                               "supports_system_messages": True, "supports_response_schema": True}}


def proxy_error(status: int, message: str, kind: str) -> Reply:
    """LiteLLM's ``ProxyException`` body (``code`` is the status as a string)."""
    return Reply(status=status, body={"error": {"message": message, "type": kind, "param": None, "code": str(status)}})


class FakeLiteLLMProxy(SlotServer):
    """A LiteLLM proxy on 127.0.0.1 (see the module docstring)."""

    server_header = "uvicorn"
    busy_status = 429
    work_paths = ("/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings")

    def __init__(self, models: list[GatewayModel] | None = None, *, slots: int = 64, service_s: float = 0.0,
                 queue_limit: int | None = None, retry_after: float | None = 1, reply: str = "Hello from LiteLLM.",
                 master_key: str | None = None, version: str = "1.80.0", port: int = 0) -> None:
        super().__init__(slots=slots, service_s=service_s, queue_limit=queue_limit, retry_after=retry_after,
                         port=port)
        self.models = models if models is not None else [
            GatewayModel("gemma-3-4b-it"),
            GatewayModel("nomic-embed-text", model="openai/nomic-embed-text", mode="embedding",
                         max_input_tokens=8192, max_output_tokens=0, supports_function_calling=False)]
        self.reply = reply
        self.master_key = master_key
        self.version = version
        self._calls = 0

    def busy_body(self) -> Any:
        return {"error": {"message": f"Max parallel request limit reached: {self.pool.slots} running, "
                          f"{self.pool.queue_limit} waiting.", "type": "throttling_error", "param": None,
                          "code": "429"}}

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        if self.master_key is not None and request.path not in OPEN_PATHS and \
                request.headers.get("authorization") != f"Bearer {self.master_key}":
            return proxy_error(401, "Authentication Error, Invalid proxy server token passed.", "auth_error")
        return await super().ahandle(request)

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        method, path = request.method, request.path
        if method == "GET" and path == "/":
            return Reply(body="<!DOCTYPE html><html><head><title>LiteLLM API - Swagger UI</title></head></html>",
                         content_type="text/html; charset=utf-8")
        if method == "GET" and path in ("/health/liveliness", "/health/liveness"):
            return Reply(body='"I\'m alive!"')  # a JSON string, as FastAPI encodes it
        if method == "GET" and path == "/health/readiness":
            return Reply(body={"status": "healthy", "db": "Not connected", "cache": None,
                               "litellm_version": self.version, "success_callbacks": []})
        if method == "GET" and path in ("/v1/models", "/models"):
            return Reply(body={"data": [{"id": m.model_name, "object": "model", "created": LITELLM_CREATED,
                                         "owned_by": "openai"} for m in self.models], "object": "list"})
        if method == "GET" and path in ("/model/info", "/v1/model/info"):
            return Reply(body={"data": [m.info(i) for i, m in enumerate(self.models)]})
        if method == "POST" and path in self.work_paths:
            return self._work(path, request_json(request))
        return Reply(status=404, body={"detail": "Not Found"})

    def _work(self, path: str, body: Any) -> Reply | StreamReply:
        name = body.get("model") if isinstance(body, dict) else None
        index, model = next(((i, m) for i, m in enumerate(self.models) if m.model_name == name), (-1, None))
        if model is None:
            return proxy_error(400, f"Invalid model name passed in model={name}. Call `/v1/models` to view "
                               "available models for your key.", "invalid_request_error")
        self._calls += 1
        if "embeddings" in path:
            reply: Reply | StreamReply = embeddings_reply(body, dimensions=model.embedding_dim)
        else:
            reply = chat_reply(body, text=self.reply, completion_id=f"chatcmpl-{self._calls:08d}",
                               extra={"system_fingerprint": None})
        reply.headers.update({"x-litellm-call-id": f"{self._calls:08x}-0000-4000-8000-000000000000",
                              "x-litellm-model-id": f"{index:064x}", "x-litellm-model-group": model.model_name,
                              "x-litellm-version": self.version, "x-litellm-response-cost": "0.0"})
        return reply


__all__ = ["FakeLiteLLMProxy", "GatewayModel", "proxy_error"]

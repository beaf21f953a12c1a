"""``FakeLiteLLMProxy``: a loopback fake of a LiteLLM proxy (gateway) that answers by itself (public API).

Shaped from LiteLLM's proxy server: ``GET /v1/models`` (``owned_by: "openai"``, ``created:
1677610602``), ``GET /model/info`` (``data: [{model_name, litellm_params: {model}, model_info:
{id, db_model, key, max_tokens, max_input_tokens, max_output_tokens, input_cost_per_token,
output_cost_per_token, litellm_provider, mode, supports_function_calling, supports_vision, …}}]``;
``api_base`` is listed, keys never), ``GET /health/liveliness`` (and ``/health/liveness``:
``"I'm alive!"``), ``GET /health/readiness``, chat completions (plain and SSE) and embeddings
with LiteLLM's ``x-litellm-*`` reply headers; ``Server: uvicorn``. Errors are LiteLLM's
``ProxyException`` body ``{"error": {"message", "type", "param", "code"}}`` with ``code`` a string.

Nothing is forwarded: every deployment answers ``reply`` itself (a ``GatewayModel`` in ``embedding``
mode answers embeddings instead) after ``service_s`` seconds, at
most ``slots`` at once; past ``queue_limit`` waiting requests it answers 429 with ``retry-after``,
like LiteLLM's parallel-request limiter. With ``master_key`` set, calls need
``Authorization: Bearer <master_key>`` (401 otherwise); the health routes stay open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_compat import OpenAIModel, Route
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
    api_base: str = "http://127.0.0.1:8000/v1"  # listed by /model/info (only keys are removed)

    def served(self, reply: str) -> OpenAIModel:
        """How the fake answers for this deployment."""
        return OpenAIModel(self.model_name, reply=reply, context_length=self.max_input_tokens,
                           embedding_dim=self.embedding_dim if self.mode == "embedding" else None)

    def info(self, index: int) -> dict[str, Any]:
        """The ``/model/info`` entry (its ``api_base`` listed, its key not)."""
        provider = self.model.split("/", 1)[0] if "/" in self.model else "openai"
        return {"model_name": self.model_name, "litellm_params": {"model": self.model, "api_base": self.api_base},
                "model_info": {"id": f"{index:064x}", "db_model": False, "key": self.model.split("/", 1)[-1],
                               "max_tokens": self.max_output_tokens, "max_input_tokens": self.max_input_tokens,
                               "max_output_tokens": self.max_output_tokens, "input_cost_per_token": 0.0,
                               "output_cost_per_token": 0.0, "litellm_provider": provider, "mode": self.mode,
                               "supports_function_calling": self.supports_function_calling,
                               "supports_tool_choice": self.supports_function_calling,
                               "supports_vision": self.supports_vision, "supports_reasoning": self.supports_reasoning,
                               "supports_system_messages": True, "supports_response_schema": True}}


def _alive(request: FakeRequest) -> Reply:
    return Reply(body='"I\'m alive!"')  # a JSON string, as FastAPI encodes it


class FakeLiteLLMProxy(SlotServer):
    """A LiteLLM proxy on 127.0.0.1 (see the module docstring)."""

    server_header = "uvicorn"
    owned_by = "openai"
    busy_status = 429
    work_paths = ("/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings")

    def __init__(self, models: list[GatewayModel] | None = None, *, slots: int = 64, service_s: float = 0.0,
                 queue_limit: int | None = None, retry_after: float | None = 1, reply: str = "Hello from LiteLLM.",
                 master_key: str | None = None, version: str = "1.80.0", port: int = 0) -> None:
        self.deployments = models if models is not None else [
            GatewayModel("gemma-3-4b-it"),
            GatewayModel("nomic-embed-text", model="openai/nomic-embed-text", mode="embedding",
                         max_input_tokens=8192, max_output_tokens=0, supports_function_calling=False)]
        super().__init__([m.served(reply) for m in self.deployments], slots=slots, service_s=service_s,
                         queue_limit=queue_limit, retry_after=retry_after, port=port)
        self.master_key = master_key
        self.version = version
        self._calls = 0

    # -- what the proxy does differently -------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Route]:
        base = super().routes()
        info = {"data": [m.info(i) for i, m in enumerate(self.deployments)]}
        return {**base, ("POST", "/chat/completions"): base[("POST", "/v1/chat/completions")],
                ("POST", "/embeddings"): base[("POST", "/v1/embeddings")],
                ("GET", "/models"): base[("GET", "/v1/models")],
                ("GET", "/"): lambda r: Reply(body="<!DOCTYPE html><html><head><title>LiteLLM API - Swagger UI"
                                                   "</title></head></html>", content_type="text/html; charset=utf-8"),
                ("GET", "/health/liveliness"): _alive, ("GET", "/health/liveness"): _alive,
                ("GET", "/health/readiness"): lambda r: Reply(body={
                    "status": "healthy", "db": "Not connected", "cache": None, "litellm_version": self.version,
                    "success_callbacks": []}),
                ("GET", "/model/info"): lambda r: Reply(body=info),
                ("GET", "/v1/model/info"): lambda r: Reply(body=info)}

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": LITELLM_CREATED, "owned_by": self.owned_by}

    def error(self, status: int, message: str, kind: str = "invalid_request_error") -> Reply:
        """LiteLLM's ``ProxyException`` body (``code`` is the status as a string)."""
        return Reply(status=status, body={"error": {"message": message, "type": kind, "param": None,
                                                    "code": str(status)}})

    def resolve(self, name: Any) -> OpenAIModel | Reply:
        model = self.models.get(str(name))
        return model if model is not None else self.error(
            400, f"Invalid model name passed in model={name}. Call `/v1/models` to view available models for your key.")

    def busy_reply(self) -> Reply:
        return self.error(429, f"Max parallel request limit reached: {self.pool.slots} running, "
                          f"{self.pool.queue_limit} waiting.", "throttling_error")

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        if self.master_key is not None and request.path not in OPEN_PATHS and \
                request.headers.get("authorization") != f"Bearer {self.master_key}":
            return self.error(401, "Authentication Error, Invalid proxy server token passed.", "auth_error")
        return await super().ahandle(request)

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        reply = super().handle(request)
        if request.method == "POST" and request.path in self.work_paths and reply.status == 200:
            body = request_json(request)
            name = str(body.get("model")) if isinstance(body, dict) else ""
            index = next((i for i, m in enumerate(self.deployments) if m.model_name == name), 0)
            self._calls += 1
            reply.headers.update({"x-litellm-call-id": f"{self._calls:08x}-0000-4000-8000-000000000000",
                                  "x-litellm-model-id": f"{index:064x}", "x-litellm-model-group": name,
                                  "x-litellm-version": self.version, "x-litellm-response-cost": "0.0"})
        return reply


__all__ = ["FakeLiteLLMProxy", "GatewayModel"]

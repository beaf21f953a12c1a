"""``FakeLlamaServer``: a slot-limited loopback fake of llama.cpp's ``llama-server`` (public API).

Shaped from llama.cpp's ``tools/server/README.md``: ``GET /health`` (``{"status": "ok"}``, or 503
"Loading model" while ``loading``), ``GET /props`` (``total_slots``,
``default_generation_settings.n_ctx``, ``model_path``, ``build_info``, ``chat_template_caps``,
``modalities``), ``GET /slots`` (one entry per slot with ``id`` and ``is_processing``; 503 with
``?fail_on_no_slot=1`` when none is idle), ``GET /v1/models`` (``owned_by: "llamacpp"``, ``meta``
with ``n_ctx_train``, and the Ollama-style ``models`` list beside ``data``), chat completions
(plain and SSE, with ``timings``) and ``/v1/embeddings``, also without the ``/v1`` prefix.
Errors are ``{"error": {"code", "message", "type"}}``.

``slots`` requests work at once for ``service_s`` seconds each (``--parallel``); more wait in the
server's queue. Real llama-server queues without bound; ``queue_limit=N`` refuses requests past
``slots + N`` with 503 (and ``Retry-After`` when ``retry_after`` is set), as an overloaded
engine or the proxy in front of it would::

    with FakeLlamaServer(slots=2, queue_limit=4, retry_after=1) as server:
        ...                      # point patinox (or any OpenAI client) at server.url
        server.stats()           # served, refused, max_concurrency, max_queued, ...
        server.pool.records      # arrival / start / finish / slot of every work request
"""

from __future__ import annotations

from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_replies import CREATED, chat_reply, embeddings_reply, prompt_tokens
from .slots import SlotServer, request_json

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
EMBED_PATHS = ("/v1/embeddings", "/embeddings")
DEFAULT_PARAMS: dict[str, Any] = {
    "n_predict": -1, "seed": 4294967295, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
    "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": 1.0, "presence_penalty": 0.0,
    "frequency_penalty": 0.0, "stop": [], "max_tokens": -1, "n_keep": 0, "stream": False,
    "samplers": ["penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
}


def llama_error(status: int, message: str, kind: str) -> Reply:
    """llama-server's error body: ``{"error": {"code", "message", "type"}}``."""
    return Reply(status=status, body={"error": {"code": status, "message": message, "type": kind}})


class FakeLlamaServer(SlotServer):
    """llama-server on 127.0.0.1 with ``slots`` parallel slots (see the module docstring).

    ``model`` is the served model's id (``--alias``); ``n_ctx`` the context per slot; ``reply``
    the answer text; ``loading`` makes ``/health`` and the work routes answer 503 "Loading model".
    """

    work_paths = CHAT_PATHS + EMBED_PATHS

    def __init__(self, model: str = "gemma-3-4b-it", *, slots: int = 1, service_s: float = 0.05,
                 queue_limit: int | None = None, retry_after: float | None = None, n_ctx: int = 4096,
                 n_ctx_train: int = 131072, reply: str = "Hello from llama-server.", embedding_dim: int = 8,
                 build_info: str = "b6400-8f1a2b3c", port: int = 0) -> None:
        super().__init__(slots=slots, service_s=service_s, queue_limit=queue_limit, retry_after=retry_after,
                         port=port)
        self.model = model
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        self.reply = reply
        self.embedding_dim = embedding_dim
        self.build_info = build_info
        self.loading = False
        self._task = 0

    @property
    def model_path(self) -> str:
        return f"/models/{self.model}-Q4_K_M.gguf"

    def busy_body(self) -> Any:
        return {"error": {"code": 503, "message": f"server busy: {self.pool.slots} slots and "
                          f"{self.pool.queue_limit} queue places taken", "type": "unavailable_error"}}

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        if self.loading and request.path in (*self.work_paths, "/health", "/v1/health"):
            return llama_error(503, "Loading model", "unavailable_error")
        return await super().ahandle(request)

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        method, path = request.method, request.path
        if method == "GET" and path == "/":
            return Reply(body="<!doctype html><html><head><title>llama.cpp - chat</title></head></html>",
                         content_type="text/html; charset=utf-8")
        if method == "GET" and path in ("/health", "/v1/health"):
            return Reply(body={"status": "ok"})
        if method == "GET" and path == "/props":
            return Reply(body=self._props())
        if method == "GET" and path == "/slots":
            if request.query.get("fail_on_no_slot") and self.pool.processing == self.pool.slots:
                return llama_error(503, "no slot available", "unavailable_error")
            return Reply(body=[self._slot(i) for i in range(self.pool.slots)])
        if method == "GET" and path in ("/v1/models", "/models"):
            return Reply(body=self._models())
        if method == "POST" and path in CHAT_PATHS:
            return self._chat(request)
        if method == "POST" and path in EMBED_PATHS:
            return embeddings_reply(request_json(request), dimensions=self.embedding_dim)
        return llama_error(404, "File Not Found", "not_found_error")

    def _chat(self, request: FakeRequest) -> Reply | StreamReply:
        self._task += 1
        body = request_json(request)
        n_prompt = prompt_tokens(body) if isinstance(body, dict) else 0
        ms = round(self.service_s * 1000, 3)
        timings = {"cache_n": 0, "prompt_n": n_prompt, "prompt_ms": round(ms / 4, 3),
                   "predicted_n": len(self.reply.split()), "predicted_ms": round(ms * 3 / 4, 3)}
        return chat_reply(body, text=self.reply, completion_id=f"chatcmpl-{self._task:08d}",
                          extra={"system_fingerprint": self.build_info, "timings": timings})

    def _props(self) -> dict[str, Any]:
        return {"default_generation_settings": {"id": 0, "id_task": -1, "n_ctx": self.n_ctx, "speculative": False,
                                                "is_processing": False, "params": dict(DEFAULT_PARAMS)},
                "total_slots": self.pool.slots, "model_alias": self.model, "model_path": self.model_path,
                "chat_template": "{% for message in messages %}{{ message.content }}{% endfor %}",
                "chat_template_caps": {"supports_tools": True, "supports_system_role": True},
                "modalities": {"vision": False, "audio": False}, "build_info": self.build_info,
                "is_sleeping": False}

    def _slot(self, slot: int) -> dict[str, Any]:
        busy = self.pool.busy(slot)
        return {"id": slot, "id_task": self._task if busy else -1, "n_ctx": self.n_ctx, "speculative": False,
                "is_processing": busy, "params": dict(DEFAULT_PARAMS),
                "next_token": {"has_next_token": busy, "has_new_line": False, "n_remain": -1, "n_decoded": 0}}

    def _models(self) -> dict[str, Any]:
        size = 2_489_757_856
        return {
            "models": [{"name": self.model, "model": self.model, "modified_at": "", "size": "", "digest": "",
                        "type": "model", "description": "", "tags": [""], "capabilities": ["completion"],
                        "parameters": "", "details": {"parent_model": "", "format": "gguf", "family": "",
                                                      "families": [""], "parameter_size": "",
                                                      "quantization_level": ""}}],
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": CREATED, "owned_by": "llamacpp",
                      "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                      "meta": {"vocab_type": 2, "n_vocab": 262144, "n_ctx_train": self.n_ctx_train, "n_embd": 2560,
                               "n_params": 3_880_263_168, "size": size}}],
        }

    def __repr__(self) -> str:
        return f"FakeLlamaServer({self.model!r}, slots={self.pool.slots}, url={self.url!r})"


__all__ = ["FakeLlamaServer", "llama_error"]

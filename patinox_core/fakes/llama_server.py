"""``FakeLlamaServer``: a slot-limited loopback fake of llama.cpp's ``llama-server`` (public API).

Shaped from llama.cpp's ``tools/server/README.md``: ``GET /health`` (``{"status": "ok"}``, or 503
"Loading model" while ``loading``), ``GET /props`` (``total_slots``,
``default_generation_settings.n_ctx``, ``model_path``, ``build_info``, ``chat_template_caps``,
``modalities``), ``GET /slots`` (one entry per slot with ``id`` and ``is_processing``; 503 with
``?fail_on_no_slot=1`` when none is idle), ``GET /v1/models`` (``owned_by: "llamacpp"``, ``meta``
with ``n_ctx_train``, and the Ollama-style ``models`` list beside ``data``), chat completions
(plain and SSE, ``system_fingerprint`` = the build) and embeddings, also without the ``/v1``
prefix. One model is served whatever name a request gives; with ``embedding_dim`` it is an
embedding model (``--embeddings``), else a chat model. Errors are ``{"error": {"code", "message",
"type"}}``.

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

from collections.abc import Callable
from typing import Any

from ._http import FakeRequest, Reply, StreamReply
from .openai_compat import CREATED, OpenAIModel, Route
from .slots import SlotServer

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

DEFAULT_PARAMS: dict[str, Any] = {
    "n_predict": -1, "seed": 4294967295, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
    "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": 1.0, "presence_penalty": 0.0,
    "frequency_penalty": 0.0, "stop": [], "max_tokens": -1, "n_keep": 0, "stream": False,
    "samplers": ["penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
}


class FakeLlamaServer(SlotServer):
    """llama-server on 127.0.0.1 with ``slots`` parallel slots (see the module docstring).

    ``model`` is the served model's id (``--alias``); ``n_ctx`` the context per slot; ``reply``
    the answer text; ``loading`` makes ``/health`` and the work routes answer 503 "Loading model".
    """

    work_paths = ("/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings")

    def __init__(self, model: str = "gemma-3-4b-it", *, slots: int = 1, service_s: float = 0.05,
                 queue_limit: int | None = None, retry_after: float | None = None, n_ctx: int = 4096,
                 n_ctx_train: int = 131072,
                 reply: str | Callable[[list[dict[str, Any]]], str] = "Hello from llama-server.",
                 embedding_dim: int | None = None,
                 build_info: str = "b6400-8f1a2b3c", port: int = 0) -> None:
        served = OpenAIModel(model, reply=reply, embedding_dim=embedding_dim, context_length=n_ctx)
        super().__init__([served], slots=slots, service_s=service_s, queue_limit=queue_limit,
                         retry_after=retry_after, port=port)
        self.model = served
        self.n_ctx_train = n_ctx_train
        self.build_info = self.fingerprint = build_info
        self.loading = False
        self.cache_n = 0  # prompt tokens the next replies say came from the KV cache (timings.cache_n)

    # -- what llama-server does differently ----------------------------------------------------
    def reply_extra(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """``timings`` on every chat reply (the final event of a stream), as llama-server sends them."""
        prompt_ms, predicted_ms = 2.0 * prompt_tokens + 1.0, 20.0 * completion_tokens + 1.0
        return {"timings": {"cache_n": self.cache_n, "prompt_n": prompt_tokens, "prompt_ms": prompt_ms,
                            "prompt_per_second": 1000 * prompt_tokens / prompt_ms, "predicted_n": completion_tokens,
                            "predicted_ms": predicted_ms,
                            "predicted_per_second": 1000 * completion_tokens / predicted_ms}}

    def routes(self) -> dict[tuple[str, str], Route]:
        base = super().routes()
        return {**base, ("POST", "/chat/completions"): base[("POST", "/v1/chat/completions")],
                ("POST", "/embeddings"): base[("POST", "/v1/embeddings")],
                ("GET", "/models"): base[("GET", "/v1/models")],
                ("GET", "/"): lambda r: Reply(body="<!doctype html><html><head><title>llama.cpp</title></head></html>",
                                              content_type="text/html; charset=utf-8"),
                ("GET", "/health"): lambda r: Reply(body={"status": "ok"}),
                ("GET", "/v1/health"): lambda r: Reply(body={"status": "ok"}),
                ("GET", "/props"): lambda r: Reply(body=self._props()),
                ("GET", "/slots"): self._slots}

    def error(self, status: int, message: str, kind: str = "invalid_request_error") -> Reply:
        """llama-server's envelope: ``{"error": {"code", "message", "type"}}``."""
        return Reply(status=status, body={"error": {"code": status, "message": message, "type": kind}})

    def not_found(self, request: FakeRequest) -> Reply:
        return self.error(404, "File Not Found", "not_found_error")

    def resolve(self, name: Any) -> OpenAIModel | Reply:
        return self.model  # one model, whatever the request calls it

    def busy_reply(self) -> Reply:
        return self.error(503, f"server busy: {self.pool.slots} slots working and {self.pool.queue_limit} "
                          "requests waiting", "unavailable_error")

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": CREATED, "owned_by": "llamacpp",
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                "meta": {"vocab_type": 2, "n_vocab": 262144, "n_ctx_train": self.n_ctx_train, "n_embd": 2560,
                         "n_params": 3_880_263_168, "size": 2_489_757_856}}

    def listing(self) -> dict[str, Any]:
        details = {"parent_model": "", "format": "gguf", "family": "", "families": [""], "parameter_size": "",
                   "quantization_level": ""}
        return {"models": [{"name": self.model.id, "model": self.model.id, "modified_at": "", "size": "",
                            "digest": "", "type": "model", "description": "", "tags": [""],
                            "capabilities": ["completion"], "parameters": "", "details": details}],
                **super().listing()}

    async def ahandle(self, request: FakeRequest) -> Reply | StreamReply:
        if self.loading and request.path in (*self.work_paths, "/health", "/v1/health"):
            return self.error(503, "Loading model", "unavailable_error")
        return await super().ahandle(request)

    # -- native routes -------------------------------------------------------------------------
    def _props(self) -> dict[str, Any]:
        return {"default_generation_settings": {"id": 0, "id_task": -1, "n_ctx": self.model.context_length,
                                                "speculative": False, "is_processing": False,
                                                "params": dict(DEFAULT_PARAMS)},
                "total_slots": self.pool.slots, "model_alias": self.model.id,
                "model_path": f"/models/{self.model.id}-Q4_K_M.gguf",
                "chat_template": "{% for message in messages %}{{ message.content }}{% endfor %}",
                "chat_template_caps": {"supports_tools": True, "supports_system_role": True},
                "modalities": {"vision": False, "audio": False}, "build_info": self.build_info,
                "is_sleeping": False}

    def _slots(self, request: FakeRequest) -> Reply:
        if request.query.get("fail_on_no_slot") and self.pool.processing == self.pool.slots:
            return self.error(503, "no slot available", "unavailable_error")
        return Reply(body=[{"id": i, "id_task": -1, "n_ctx": self.model.context_length, "speculative": False,
                            "is_processing": self.pool.busy(i), "params": dict(DEFAULT_PARAMS),
                            "next_token": {"has_next_token": self.pool.busy(i), "has_new_line": False,
                                           "n_remain": -1, "n_decoded": 0}}
                           for i in range(self.pool.slots)])

    def __repr__(self) -> str:
        return f"FakeLlamaServer({self.model.id!r}, slots={self.pool.slots}, url={self.url!r})"


class FakeLlamaRouter(FakeLlamaServer):
    """llama-server in router mode (started without ``-m``: ``--models-dir``), from llama.cpp's
    ``tools/server/README.md``: ``models`` maps each model it can load to its ``status.value``
    (``loaded``, ``unloaded``, ``loading``, ``sleeping``); ``GET /models`` and ``/v1/models`` list
    them all (``status``; a loaded one with its instance's ``meta``); ``GET /props`` is the router's
    own (``role: "router"``, ``n_ctx: 0``, no slots) and ``/props?model=ID`` that instance's;
    ``POST /models/load`` and ``/models/unload`` (``{"model": ID}``) answer ``{"success": true}`` and
    change a status: a load shows ``loading`` for ``load_polls`` listings first, and a model in
    ``fail_loads`` ends ``unloaded`` with ``failed: true, exit_code: 1`` (its process died: out of
    memory, say); a request naming an unloaded model loads it first (``--models-autoload``). The slot
    pool is shared."""

    def __init__(self, models: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.states = dict(models or {"gemma-3-4b-it": "loaded", "qwen3-4b": "unloaded"})
        super().__init__(next(iter(self.states)), **kwargs)
        self.models = {name: OpenAIModel(name, reply=self.model.reply, context_length=self.model.context_length)
                       for name in self.states}
        self.load_polls = 0
        self.fail_loads: set[str] = set()
        self._pending: dict[str, int] = {}  # model -> listings left while it loads

    def routes(self) -> dict[tuple[str, str], Route]:
        return {**super().routes(), ("GET", "/props"): self._router_props,
                ("POST", "/models/load"): lambda r: self._switch(r, "loaded"),
                ("POST", "/models/unload"): lambda r: self._switch(r, "unloaded")}

    def resolve(self, name: Any) -> OpenAIModel | Reply:
        model = self.models.get(str(name))
        if model is None:
            return self.error(400, f"model '{name}' not found")
        self.states[model.id] = "loaded"  # autoload
        return model

    def listing(self) -> dict[str, Any]:
        for name, left in list(self._pending.items()):  # a load in progress moves on at each listing
            if left <= 0:
                del self._pending[name]
                self.states[name] = "unloaded" if name in self.fail_loads else "loaded"
            else:
                self._pending[name] = left - 1

        def entry(name: str) -> dict[str, Any]:
            status: dict[str, Any] = {"value": self.states[name], "args": ["llama-server"]}
            if name in self.fail_loads and self.states[name] == "unloaded" and name not in self._pending:
                status.update(failed=True, exit_code=1)
            out: dict[str, Any] = {"id": name, "aliases": [], "tags": [], "object": "model", "owned_by": "llamacpp",
                                   "created": CREATED, "status": status,
                                   "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                                   "source": "models_dir", "can_remove": False}
            if self.states[name] == "loaded":
                out["meta"] = {"n_ctx_train": self.n_ctx_train, "n_vocab": 262144}
            return out
        return {"data": [entry(name) for name in self.states], "object": "list"}

    def _router_props(self, request: FakeRequest) -> Reply:
        name = next(iter(request.query.get("model") or ()), None)
        if not name:
            return Reply(body={"role": "router", "max_instances": 4, "models_autoload": True,
                               "model_alias": "llama-server", "model_path": "none",
                               "default_generation_settings": {"params": {}, "n_ctx": 0},
                               "build_info": self.build_info})
        if self.states.get(str(name)) != "loaded":
            return self.error(400, "model is not loaded")
        return Reply(body={**self._props(), "model_alias": name, "model_path": f"/models/{name}-Q4_K_M.gguf"})

    def _switch(self, request: FakeRequest, state: str) -> Reply:
        name = str((request.json or {}).get("model"))
        if name not in self.states:
            return self.error(404, "model is not found", "not_found_error")
        if state == "loaded" and self.states[name] != "loaded":
            self.states[name], self._pending[name] = "loading", self.load_polls
        else:
            self.states[name] = state
        return Reply(body={"success": True})


__all__ = ["FakeLlamaRouter", "FakeLlamaServer"]

"""``FakeLMStudioServer``: a real loopback HTTP server that answers like LM Studio (public API).

Script it with ``LMStudioModel`` entries, point a backend (or any OpenAI client) at ``server.url``
and inspect ``server.requests`` afterwards::

    with FakeLMStudioServer([LMStudioModel("qwen/qwen3-8b", reply="Paris.", tool_use=True),
                             LMStudioModel("text-embedding-nomic", type="embeddings", loaded=False)]) as srv:
        backend = LMStudioBackend(srv.url)
        ...
        srv.no_models_loaded()          # the next request fails the way LM Studio does
        srv.kill(); srv.restart()       # plus every fault of FakeHTTPServer (delay, cut, drop, …)

LM Studio's quirks are reproduced: pretty-printed JSON success bodies and
compact error bodies, ``X-Powered-By: Express`` on every reply, HTTP 200
``{"error":"Unexpected endpoint or method. (GET /)"}`` for unknown routes,
``owned_by:"organization_owner"``, ``system_fingerprint`` = model id and ``stats:{}`` on ``/v1``
(full ``stats`` on ``/api/v0``), JIT loading on or off, SSE streams with fragmented tool-call
arguments and ``reasoning_content`` deltas, a usage chunk only when ``include_usage`` is asked,
and embeddings whose ``usage`` is always zero. ``/api/v1/models`` lists every downloaded model with
its loaded instances (``instances`` copies, each with ``context_length`` and ``parallel`` slots, as in
LM Studio's "List your models" reference; a load while loaded adds an instance, ``id:2``, which a
request naming that id reaches; ``served`` records (instance, context) per chat); ``api_token`` turns
on "Require Authentication" (a missing or wrong ``Authorization: Bearer`` gets 401
``invalid_api_key``); ``/v1/responses`` and ``/v1/messages`` answer as 0.4.1 does (``compat_api.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._http import FakeHTTPServer, FakeRequest, Fault, Reply, StreamReply
from .compat_api import MESSAGES_PATH, RESPONSES_PATH, STREAM_UNSUPPORTED, messages_reply, responses_reply
from .lmstudio_admin import LMStudioAdmin

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

NO_MODELS_LOADED = "No models loaded. Please load a model in the developer page or use the 'lms load' command."
JSON_OBJECT_REJECTED = "'response_format.type' must be 'json_schema'"
BAD_INPUT = "'input' field must be a string or an array of strings"
TOKEN_REQUIRED = ("An LM Studio API token is required to make requests to this server, but none was provided using "
                  "the Authorization header using the 'Bearer' scheme (i.e., 'Authorization: Bearer $LM_API_TOKEN'). "
                  "Learn more at: https://lmstudio.ai/docs/developer/core/authentication.")
TOKEN_INVALID = "The provided LM Studio API token is invalid."  # wording not documented: the type and code are
CREATED = 1750505643  # fixed, so replies are byte-identical across runs


@dataclass
class LMStudioModel:
    """One downloaded model and how it answers.

    ``type`` is LM Studio's ``llm`` / ``vlm`` / ``embeddings``. ``reply`` is the chat answer (cut
    to ``max_tokens`` whitespace tokens, then ``finish_reason`` is ``length``); ``reasoning`` comes
    back as ``reasoning_content`` (or ``reasoning``, per the server's ``reasoning_field``);
    ``tool_calls`` (``[{"name": …, "arguments": {…}}]``) are made whenever the request binds tools
    and ``tool_choice`` is not ``"none"``; ``json_reply`` answers structured-output requests (else
    a minimal instance of the requested schema). When loaded it has ``instances`` loaded copies
    (ids ``id``, ``id:2``, …), each with ``parallel`` slots ("Max Concurrent Predictions");
    ``added`` holds the instances a load made while it was loaded, as (id, allocated context).
    ``reasoning_capable`` lists ``capabilities.reasoning`` in ``/api/v1/models`` with
    ``reasoning_options`` as its ``allowed_options`` (default ``["off", "on"]``);
    ``schema_in_reasoning``: a structured answer lands in the reasoning and the content is empty
    (lmstudio-bug-tracker#1698).
    """

    id: str
    type: str = "llm"
    loaded: bool = True
    reply: str = "Hello from LM Studio."
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    json_reply: Any = None
    embedding_dim: int = 8
    tool_use: bool = False
    reasoning_capable: bool = False
    reasoning_options: list[str] = field(default_factory=lambda: ["off", "on"])
    reasoning_default: str = "on"
    schema_in_reasoning: bool = False
    arch: str = "llama"
    publisher: str = "lmstudio-community"
    quantization: str = "Q4_K_M"
    compatibility_type: str = "gguf"
    max_context_length: int = 32768
    loaded_context_length: int = 4096
    params_string: str = "8B"
    size_bytes: int = 4_920_000_000
    parallel: int = 4
    instances: int = 1
    added: list[tuple[str, int]] = field(default_factory=list)

    def instance_ids(self) -> list[tuple[str, int]]:
        """Every loaded instance as (id, allocated context): the first copies, then ``added``."""
        first = [(self.id if i == 0 else f"{self.id}:{i + 1}", self.loaded_context_length)
                 for i in range(max(1, self.instances) if self.loaded else 0)]
        return first + self.added


def _tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or ([text] if text else [])


def _instance(schema: Any) -> Any:
    """A minimal value that satisfies a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return {}
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required", props) or ()
        return {k: _instance(v) for k, v in props.items() if k in required}
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True, "array": [], "null": None}.get(kind, {})


def _vector(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 127.5) / 127.5, 6) for i in range(dim)]


def error_reply(message: str, *, status: int = 404, code: str | None = None, param: str | None = "model",
                object_form: bool = True, kind: str = "invalid_request_error") -> Reply:
    """An LM Studio error body: ``{"error": {...}}`` (object form) or ``{"error": "..."}``; compact JSON."""
    if not object_form:
        return Reply(status=status, body={"error": message})
    return Reply(status=status, body={"error": {"message": message, "type": kind, "param": param, "code": code}})


def sse_error_line(message: str) -> str:
    """A mid-stream error event, for ``Fault(error_line_after=…, error_line=sse_error_line(…))``."""
    return "data: " + json.dumps({"error": {"message": message, "type": "server_error"}}) + "\n\n"


class FakeLMStudioServer(FakeHTTPServer):
    """LM Studio on 127.0.0.1 (see the module docstring).

    ``jit``: load on demand (on) or answer "No models loaded" / hide unloaded models (off).
    ``rest_api``: which native APIs exist, ``("v1", "v0")`` for 0.4+, ``("v0",)`` for 0.3.x,
    ``()`` for servers older than 0.3.6. ``usage_in_stream``: honour ``include_usage`` (≥ 0.3.18).
    ``fragment``: characters per streamed tool-call argument fragment. ``api_token``: every request
    must carry it as a Bearer token. ``compat``: serve ``/v1/responses`` and ``/v1/messages``.
    """

    def __init__(self, models: Iterable[LMStudioModel] | None = None, *, jit: bool = True,
                 rest_api: Sequence[str] = ("v1", "v0"), reasoning_field: str = "reasoning_content",
                 usage_in_stream: bool = True, fragment: int = 5, api_token: str | None = None,
                 compat: bool = True, port: int = 0) -> None:
        super().__init__(port=port)
        self.api_token = api_token
        self.compat = compat
        default = [LMStudioModel("qwen/qwen3-8b", tool_use=True),
                   LMStudioModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", loaded=False,
                                 arch="nomic-bert", max_context_length=2048, loaded_context_length=2048)]
        self.models: dict[str, LMStudioModel] = {m.id: m for m in (default if models is None else models)}
        self.jit = jit
        self.rest_api = tuple(rest_api)
        self.reasoning_field = reasoning_field
        self.usage_in_stream = usage_in_stream
        self.fragment = max(1, fragment)
        self._counter = 0
        self.served: list[tuple[str, int]] = []  # (instance, its allocated context) of each chat, in order
        self.admin = LMStudioAdmin(self)  # v1 download / load / unload (fakes/lmstudio_admin.py)

    # -- scripting and LM Studio-specific faults ---------------------------------------------
    def add_model(self, model: LMStudioModel) -> LMStudioModel:
        self.models[model.id] = model
        return model

    def unload_all(self) -> None:
        for m in self.models.values():
            m.loaded = False
            m.added.clear()

    def no_models_loaded(self, *, times: int | None = 1, object_form: bool = False) -> Fault:
        """The next request(s) fail with "No models loaded…" (string form by default, as 0.3.x)."""
        return self.inject(Fault(times=times, reply=error_reply(NO_MODELS_LOADED, object_form=object_form)))

    def model_is_not_embedding(self, model: str, *, times: int | None = 1) -> Fault:
        return self.inject(Fault(path="/v1/embeddings", times=times, reply=self._not_embedding(model)))

    def invalid_model_identifier(self, model: str, *, times: int | None = 1) -> Fault:
        return self.inject(Fault(times=times, reply=self._invalid_model(model)))

    def reject_json_object(self, *, times: int | None = 1) -> Fault:
        return self.inject(Fault(times=times, reply=error_reply(JSON_OBJECT_REJECTED, status=400, object_form=False)))

    # -- HTTP ------------------------------------------------------------------------------
    def _head(self, status: int, content_type: str, headers: dict[str, str]) -> list[str]:
        return [*super()._head(status, content_type, headers), "X-Powered-By: Express"]

    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        method, path = request.method, request.path.rstrip("/") or "/"
        if self.api_token is not None and request.headers.get("authorization") != f"Bearer {self.api_token}":
            given = "authorization" in request.headers
            return error_reply(TOKEN_INVALID if given else TOKEN_REQUIRED, status=401, code="invalid_api_key",
                               param=None, kind="invalid_request")
        if method == "POST" and path in (RESPONSES_PATH, MESSAGES_PATH) and self.compat:
            return self._compat(request.json or {}, path)
        api = "v0" if path.startswith("/api/v0/") else "v1" if path.startswith("/api/v1/") else None
        if api is not None and api not in self.rest_api:
            return self._unexpected(method, path)
        if method == "GET" and path in ("/v1/models", "/api/v0/models", "/api/v1/models"):
            return Reply(body={"/v1/models": self._openai_models, "/api/v0/models": self._v0_models,
                               "/api/v1/models": self._v1_models}[path](), pretty=True)
        if method == "GET" and path.startswith("/api/v0/models/"):
            model = self.models.get(path.removeprefix("/api/v0/models/"))
            return Reply(body=self._v0_entry(model), pretty=True) if model else self._invalid_model(path[15:])
        if method == "POST" and path in ("/v1/chat/completions", "/api/v0/chat/completions"):
            return self._chat(request.json or {}, native=path.startswith("/api/v0"))
        if method == "POST" and path in ("/v1/embeddings", "/api/v0/embeddings"):
            return self._embeddings(request.json or {})
        if api == "v1" and (admin := self.admin.handle(method, path, request)) is not None:
            return admin
        return self._unexpected(method, path)

    @staticmethod
    def _unexpected(method: str, path: str) -> Reply:
        return Reply(body={"error": f"Unexpected endpoint or method. ({method} {path})"})  # HTTP 200 (sic)

    # -- listings ----------------------------------------------------------------------------
    def _visible(self) -> list[LMStudioModel]:
        return [m for m in self.models.values() if self.jit or m.loaded]

    def _openai_models(self) -> dict[str, Any]:
        return {"data": [{"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in self._visible()],
                "object": "list"}

    def _v0_entry(self, m: LMStudioModel) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": m.id, "object": "model", "type": m.type, "publisher": m.publisher, "arch": m.arch,
            "compatibility_type": m.compatibility_type, "quantization": m.quantization,
            "state": "loaded" if m.loaded or m.added else "not-loaded", "max_context_length": m.max_context_length}
        if m.loaded:
            entry["loaded_context_length"] = m.loaded_context_length
        if m.tool_use:
            entry["capabilities"] = ["tool_use"]
        return entry

    def _v0_models(self) -> dict[str, Any]:
        return {"data": [self._v0_entry(m) for m in self._visible()], "object": "list"}

    @staticmethod
    def _instances(m: LMStudioModel) -> list[dict[str, Any]]:
        extra: dict[str, Any] = {}
        if m.type != "embeddings":  # the other keys are absent for embedding models
            extra.update(eval_batch_size=512, parallel=m.parallel, flash_attention=True, offload_kv_cache_to_gpu=True)
        return [{"id": instance, "config": {"context_length": context, **extra}}
                for instance, context in m.instance_ids()]

    def _v1_models(self) -> dict[str, Any]:
        out = []
        for m in self.models.values():
            entry: dict[str, Any] = {
                "type": "embedding" if m.type == "embeddings" else "llm", "publisher": m.publisher, "key": m.id,
                "display_name": m.id.split("/")[-1], "quantization": {"name": m.quantization, "bits_per_weight": 4},
                "size_bytes": m.size_bytes, "params_string": m.params_string, "loaded_instances": self._instances(m),
                "max_context_length": m.max_context_length, "format": m.compatibility_type}
            if m.type != "embeddings":  # architecture, capabilities and description: absent for embeddings
                caps: dict[str, Any] = {"vision": m.type == "vlm", "trained_for_tool_use": m.tool_use}
                if m.reasoning_capable:
                    caps["reasoning"] = {"allowed_options": m.reasoning_options, "default": m.reasoning_default}
                entry.update(architecture=m.arch, capabilities=caps, description=None)
            out.append(entry)
        return {"models": out}

    # -- errors ------------------------------------------------------------------------------
    def _invalid_model(self, name: str) -> Reply:
        examples = ", ".join(m.id for m in self._visible()[:3]) or "none"
        return error_reply(f'Invalid model identifier "{name}". Please specify a valid downloaded model '
                           f"(e.g., {examples}).", code="model_not_found")

    @staticmethod
    def _not_embedding(name: str) -> Reply:
        return error_reply(f'Failed to load model "{name}". Error: Model is not embedding.', status=400,
                           code="model_not_found")

    def _instance(self, name: Any) -> tuple[LMStudioModel, str, int] | None:
        """The model, instance id and context of a loaded instance named ``name`` (an id, or a key:
        its first instance)."""
        for m in self.models.values():
            ids = m.instance_ids()
            for instance, context in ids:
                if instance == name:
                    return m, instance, context
            if m.id == name and ids:
                return m, ids[0][0], ids[0][1]
        return None

    def _resolve(self, name: Any) -> LMStudioModel | Reply:
        if (found := self._instance(name)) is not None:
            return found[0]
        model = self.models.get(str(name))
        if model is not None and (self.jit or model.loaded):
            model.loaded = True  # JIT: loaded on first use
            return model
        if not self.jit and not any(m.loaded for m in self.models.values()):
            return error_reply(NO_MODELS_LOADED, object_form=False)
        return self._invalid_model(str(name))

    # -- chat --------------------------------------------------------------------------------
    def _next_id(self) -> int:
        self._counter += 1
        return self._counter

    def _chat(self, body: dict[str, Any], *, native: bool) -> Reply | StreamReply:
        model = self._resolve(body.get("model"))
        if isinstance(model, Reply):
            return model
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_object":
            return error_reply(JSON_OBJECT_REJECTED, status=400, object_form=False)
        n = self._next_id()
        _, instance, context = self._instance(body.get("model")) or (model, model.id, model.loaded_context_length)
        self.served.append((instance, context))
        calls = []
        if body.get("tools") and body.get("tool_choice") != "none":
            calls = [{"id": str(365174485 + 7919 * (n * 10 + i)), "type": "function",
                      "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
                     for i, c in enumerate(model.tool_calls)]
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            text = json.dumps(model.json_reply if model.json_reply is not None else _instance(schema))
        else:
            text = "" if calls else model.reply
        reasoning = model.reasoning
        if reasoning and fmt.get("type") == "json_schema" and model.schema_in_reasoning:
            reasoning, text = text, ""
        pieces, finish = _tokens(text), "tool_calls" if calls else "stop"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        prompt = sum(len(_tokens(str(m.get("content") or ""))) for m in body.get("messages") or [])
        done = len(pieces) + len(_tokens(reasoning or "")) + (8 * len(calls))
        usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
        head = {"id": f"chatcmpl-{hashlib.sha1(f'{model.id}{n}'.encode()).hexdigest()[:20]}",
                "created": CREATED + n, "model": model.id}
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage")) and self.usage_in_stream
            return self._stream(head, model, pieces, calls, finish, usage if include else None, reasoning)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
        if reasoning:
            message[self.reasoning_field] = reasoning
        if calls:
            message["tool_calls"] = calls
        reply = {**head, "object": "chat.completion",
                 "choices": [{"index": 0, "logprobs": None, "finish_reason": finish, "message": message}],
                 "usage": usage}
        if native:
            stop = {"stop": "eosFound", "length": "maxPredictedTokensReached", "tool_calls": "toolCalls"}[finish]
            reply.update(stats={"tokens_per_second": 42.5, "time_to_first_token": 0.073, "generation_time": 0.25,
                                "stop_reason": stop},
                         model_info={"arch": model.arch, "quant": model.quantization,
                                     "format": model.compatibility_type, "context_length": context},
                         runtime={"name": "llama.cpp-linux-x86_64-avx2", "version": "1.51.0",
                                  "supported_formats": ["gguf"]})
        else:
            reply.update(stats={}, system_fingerprint=model.id)
        return Reply(body=reply, pretty=True)

    def _stream(self, head: dict[str, Any], model: LMStudioModel, pieces: list[str], calls: list[dict[str, Any]],
                finish: str, usage: dict[str, Any] | None, reasoning: str | None) -> StreamReply:
        def event(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> str:
            obj = {**head, "object": "chat.completion.chunk", "system_fingerprint": model.id}
            obj["choices"] = [] if delta is None else [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
            return "data: " + json.dumps({**obj, **extra}) + "\n\n"

        lines = [event({"role": "assistant", "content": ""})]
        lines += [event({self.reasoning_field: p}) for p in _tokens(reasoning or "")]
        lines += [event({"content": p}) for p in pieces]
        for i, call in enumerate(calls):
            fn = call["function"]
            lines.append(event({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                "function": {"name": fn["name"], "arguments": ""}}]}))
            args = fn["arguments"]
            lines += [event({"tool_calls": [{"index": i, "type": "function",
                                             "function": {"name": "", "arguments": args[k:k + self.fragment]}}]})
                      for k in range(0, len(args), self.fragment)]
        lines.append(event({}, finish))
        if usage is not None:
            lines.append(event(None, usage=usage))
        lines.append("data: [DONE]\n\n")
        return StreamReply(lines=lines, content_type="text/event-stream")

    def _compat(self, body: dict[str, Any], path: str) -> Reply:
        """``/v1/responses`` and ``/v1/messages`` (non-streaming): the model's reply text."""
        if body.get("stream"):
            return error_reply(STREAM_UNSUPPORTED, status=400, param="stream")
        model = self._resolve(body.get("model"))
        if isinstance(model, Reply):
            return model
        if path == RESPONSES_PATH:
            return Reply(body=responses_reply(model.id, model.reply, body, CREATED + self._next_id()), pretty=True)
        return Reply(body=messages_reply(model.id, model.reply, body), pretty=True)

    # -- embeddings --------------------------------------------------------------------------
    def _embeddings(self, body: dict[str, Any]) -> Reply:
        model = self._resolve(body.get("model"))
        if isinstance(model, Reply):
            return model
        if model.type != "embeddings":
            return self._not_embedding(model.id)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return error_reply(BAD_INPUT, status=400, param="input", object_form=False)
        data = [{"object": "embedding", "embedding": _vector(t, model.embedding_dim), "index": i}
                for i, t in enumerate(texts)]
        return Reply(body={"object": "list", "data": data, "model": model.id,
                           "usage": {"prompt_tokens": 0, "total_tokens": 0}}, pretty=True)


__all__ = ["FakeLMStudioServer", "LMStudioModel", "error_reply", "sse_error_line"]

"""``FakeOllamaServer``: a real HTTP server on 127.0.0.1 that speaks Ollama's native API.

Public API (``from patinox_core.testing import FakeOllamaServer, OllamaModel``), for patinox's own
tests and for yours. Replies follow the shapes, status codes, headers and error strings of
Ollama's ``/api/*`` (see docs/testing.md); behaviour that changed across versions follows
``version=`` (tool-call ids from 0.12.10, ``/api/embed`` from 0.3.0, ``capabilities`` from 0.6.4…;
``truncate``/``shift``, logprobs, ``/v1/responses`` and ``/v1/messages``: ``ollama_newer.py``).

    from patinox_core.testing import FakeOllamaServer, OllamaModel

    model = OllamaModel("llama3.2", reply="Paris.", capabilities=["completion", "tools"],
                        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    with FakeOllamaServer([model]) as server:       # free port; server.url is the base URL
        ...                                         # point patinox (or any client) at server.url
        server.fail_next(500, "boom")               # faults: see the methods below
        server.requests[-1].json                    # what the client sent

Metrics are deterministic: a "token" is a word with its trailing space (``count_tokens``), the
prompt counts ``count_tokens(content) + 4`` per message unless ``prompt_eval_count`` is scripted,
and eval runs at ``ns_per_token`` (default 20 ms: 50 tokens/s). Nothing sleeps unless asked
(``set_stream_chunking(delay=…)``, ``delay_first_byte``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._http import FakeHTTPServer, FakeRequest, Fault, Reply, StreamReply
from .ollama_newer import NewerOllamaRoutes
from .ollama_pull import OllamaRegistry
from .ollama_text import _WORD, count_tokens, normalise, schema_instance, vector

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

TEXT = "text/plain; charset=utf-8"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, message: str) -> Reply:
    return Reply(status=status, body={"error": message})


@dataclass
class OllamaModel:
    """One scripted model. A name without a tag gets ``:latest``.

    ``reply`` is the answer text, or a callable of the request's wire messages returning it.
    ``tool_calls`` (``[{"name", "arguments"}]``) are returned instead of text when the request
    sends ``tools``. ``thinking`` is returned when ``think`` is on (or omitted on a model with the
    ``thinking`` capability, as servers >= 0.12.4 do); ``inline_think`` puts it in the content as
    ``<think>…</think>`` instead (``think_open``: the template opened the block, only ``</think>``
    comes); ``think_values``/``think_default`` are reported by ``/api/show`` as ``thinking``;
    ``ignores_bool_think`` (gpt-oss on older servers) thinks at its default level whatever bool
    ``think`` says. An unknown ``think`` string is a 400, as on the server. ``json_reply`` is the
    content when ``format`` is set (default: a
    value generated from the schema). Embeddings are deterministic per text (``embed_fn`` overrides:
    text -> vector) of ``embedding_dim`` floats. ``remote_host`` makes it a cloud model (listed with
    ``remote_model``/``remote_host``, e.g. ``OllamaModel("gpt-oss:120b-cloud", remote_host="https://ollama.com:443")``).
    """

    name: str
    reply: str | Callable[[list[dict[str, Any]]], str] = "Hello! How can I help you today?"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    thinking: str | None = None
    inline_think: bool = False
    think_open: bool = False
    think_values: list[Any] | None = None
    think_default: Any = None
    ignores_bool_think: bool = False
    json_reply: str | None = None
    embedding_dim: int = 8
    embed_fn: Callable[[str], list[float]] | None = None
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    loaded: bool = False
    context_length: int = 131072  # trained maximum (/api/show model_info)
    loaded_context_length: int = 4096  # allocated when loaded (/api/ps)
    num_ctx: int | None = None  # Modelfile PARAMETER num_ctx (/api/show parameters)
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization: str = "Q4_K_M"
    size: int = 2_019_393_189
    prompt_eval_count: int | None = None  # fixed prompt token count; None: computed from the messages
    ns_per_token: int = 20_000_000
    load_ns: int = 1_500_000_000
    remote_host: str | None = None

    def __post_init__(self) -> None:
        if ":" not in self.name.rsplit("/", 1)[-1]:
            self.name += ":latest"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        families = [self.family, "clip"] if "vision" in self.capabilities else [self.family]
        return {"parent_model": "", "format": "gguf", "family": self.family, "families": families,
                "parameter_size": self.parameter_size, "quantization_level": self.quantization}

    def parameter_count(self) -> int:
        m = re.fullmatch(r"([\d.]+)\s*([KMBT]?)", self.parameter_size.upper())
        scale = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
        return round(float(m.group(1)) * scale[m.group(2)]) if m else 0


def default_models() -> list[OllamaModel]:
    """A chat model with tools, a thinking model and an embedding model."""
    return [
        OllamaModel("llama3.2", capabilities=["completion", "tools"]),
        OllamaModel("qwen3", capabilities=["completion", "tools", "thinking"], thinking="Let me think.",
                    family="qwen3", parameter_size="8.2B", context_length=40960),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embedding_dim=768, family="nomic-bert",
                    parameter_size="137M", quantization="F16", context_length=2048, loaded_context_length=2048),
    ]


class FakeOllamaServer(NewerOllamaRoutes, FakeHTTPServer):
    """A scriptable Ollama server. ``models`` defaults to ``default_models()``.

    Inherited faults: ``kill()``/``refuse()``, ``restart()``, ``delay_first_byte(s)``,
    ``fail_with(status, body)``, ``inject(Fault(...))``; ``requests`` records what was received.
    """

    __test__ = False

    def __init__(self, models: list[OllamaModel] | None = None, *, version: str = "0.12.10", port: int = 0) -> None:
        super().__init__(port)
        self.version = version
        self.models: dict[str, OllamaModel] = {}
        for model in default_models() if models is None else models:
            self.add_model(model)
        self.files: dict[str, tuple[bytes, str]] = {}
        self._chars: int | None = None
        self._words, self._delay = 1, 0.0
        self._load_replies = 0
        self._omit_prompt: list[int | None] = []  # one entry per upcoming chat: cached count or None
        # not signed in to ollama.com: a chat with a cloud model is 401 with this sign-in link
        self.signin_url: str | None = None
        self.registry = OllamaRegistry(self)  # POST /api/pull and the memory limit (fakes/ollama_pull.py)

    # -- scripting -----------------------------------------------------------------------
    def add_model(self, model: OllamaModel) -> OllamaModel:
        self.models[model.name] = model
        return model

    def remove_model(self, name: str) -> None:
        found = self.find(name)
        if found is not None:
            del self.models[found.name]

    def find(self, name: str) -> OllamaModel | None:
        """The model ``name`` refers to (``x`` means ``x:latest``), or None."""
        return self.models.get(name) or self.models.get(f"{name}:latest")

    def serve_file(self, path: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``GET path`` (e.g. an image URL for a vision request); returns its URL."""
        self.files[path] = (data, content_type)
        return self.url + path

    def set_stream_chunking(self, words: int = 1, *, chars: int | None = None, delay: float = 0.0) -> None:
        """Stream ``words`` words per NDJSON line (or ``chars`` characters: splits tags and words
        across lines), sleeping ``delay`` seconds between lines."""
        self._words, self._chars, self._delay = max(1, words), chars, delay

    def has(self, min_version: str) -> bool:
        return _version_tuple(self.version) >= _version_tuple(min_version)

    # -- faults --------------------------------------------------------------------------
    def fail_next(self, status: int, error: str, *, path: str | None = "/api/chat", times: int | None = 1) -> Fault:
        """Answer the next request(s) to ``path`` with ``status`` and ``{"error": error}``.
        E.g. ``fail_next(503, "server busy, please try again.  maximum pending requests exceeded")``."""
        return self.fail_with(status, {"error": error}, path=path, times=times)

    def malformed_json(self, *, path: str | None = "/api/chat", times: int | None = 1) -> Fault:
        """Answer 200 with a JSON body cut in the middle."""
        body = b'{"model":"x","created_at":"2025-01-01T00:00:00Z","message":{"role":"assis'
        return self.inject(Fault(path=path, times=times, reply=Reply(body=body)))

    def cut_stream(self, after: int, *, path: str = "/api/chat") -> Fault:
        """Reset the connection after ``after`` NDJSON lines of the next streamed reply (a crash)."""
        return self.inject(Fault(path=path, cut_after=after))

    def truncate_stream(self, after: int, *, path: str = "/api/chat") -> Fault:
        """End the next streamed reply cleanly after ``after`` lines plus half a line (no ``done``)."""
        return self.inject(Fault(path=path, truncate_after=after))

    def error_mid_stream(self, after: int, text: str = "an error was encountered while running the model",
                         *, path: str = "/api/chat") -> Fault:
        """Replace the rest of the next streamed reply, after ``after`` lines, by ``{"error": text}``."""
        return self.inject(Fault(path=path, error_line_after=after, error_line=json.dumps({"error": text}) + "\n"))

    def load_reply_next(self, times: int = 1) -> None:
        """The next ``times`` chats get an empty ``done_reason:"load"`` reply (the model loads)."""
        self._load_replies += times

    def omit_prompt_eval_count(self, times: int = 1, *, cached: int | None = None) -> None:
        """The next ``times`` chats omit ``prompt_eval_count`` (prompt fully cached), adding
        ``prompt_eval_cached_count: cached`` when given."""
        self._omit_prompt.extend([cached] * times)

    # -- routing -------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        if request.method == "GET" and request.path in self.files:
            data, ctype = self.files[request.path]
            return Reply(body=data, content_type=ctype)
        routes: dict[tuple[str, str], Callable[[FakeRequest], Reply | StreamReply]] = {
            ("GET", "/"): lambda r: Reply(body="Ollama is running", content_type=TEXT),
            ("GET", "/api/version"): lambda r: Reply(body={"version": self.version}),
            ("GET", "/api/tags"): self._tags,
            ("POST", "/api/show"): self._show,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/embed"): self._embed,
            ("POST", "/api/embeddings"): self._legacy_embed,
            ("POST", "/api/pull"): self.registry.pull,
            **self.newer_routes(),  # truncate/shift, logprobs, /v1/responses, /v1/messages: ollama_newer.py
        }
        if request.method == "HEAD" and ("GET", request.path) in routes:
            return Reply(body=b"")
        route = routes.get((request.method, request.path))
        if request.path == "/api/embed" and not self.has("0.3.0"):
            route = None
        if route is None:
            if self.has("0.7.0") and any(path == request.path for _, path in routes):
                return Reply(status=405, body="405 method not allowed", content_type=TEXT)
            return Reply(status=404, body="404 page not found", content_type=TEXT)
        return route(request)

    def _body(self, request: FakeRequest) -> tuple[dict[str, Any], Reply | None]:
        if not request.body:
            return {}, _error(400, "missing request body")
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            return {}, _error(400, f"invalid character in request body: {exc}")
        return (body, None) if isinstance(body, dict) else ({}, _error(400, "json: cannot unmarshal request"))

    def _model_or_404(self, body: dict[str, Any], legacy: bool = False) -> tuple[OllamaModel | None, Reply | None]:
        name = body.get("model") or body.get("name")
        if not name:
            return None, _error(400, "model is required")
        model = self.find(str(name))
        if model is not None:
            return model, None
        full = name if ":" in str(name) else f"{name}:latest"
        if legacy or not self.has("0.12.0"):
            return None, _error(404, f'model "{name}" not found, try pulling it first')
        return None, _error(404, f"model '{full}' not found")

    # -- metadata ------------------------------------------------------------------------
    def _tag_entry(self, m: OllamaModel) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": m.name, "model": m.name, "modified_at": "2025-06-23T17:01:52.264371207-04:00",
                 "size": m.size, "digest": m.digest, "details": m.details()}
        if self.has("0.30.0"):
            entry["capabilities"] = list(m.capabilities)
            entry["details"]["context_length"] = m.context_length
        if m.remote_host:
            remote = m.name.removesuffix(":latest").removesuffix("-cloud").removesuffix(":cloud")
            entry.update(remote_model=remote, remote_host=m.remote_host)
        return entry

    def _tags(self, request: FakeRequest) -> Reply:
        return Reply(body={"models": [self._tag_entry(m) for m in self.models.values()]})

    def _ps(self, request: FakeRequest) -> Reply:
        out = []
        for m in self.models.values():
            if m.loaded:
                entry = {**self._tag_entry(m), "expires_at": "2099-06-04T14:38:31.83753-07:00", "size_vram": m.size}
                entry.pop("modified_at")
                if self.has("0.10.0"):
                    entry["context_length"] = m.loaded_context_length
                out.append(entry)
        return Reply(body={"models": out})

    def _show(self, request: FakeRequest) -> Reply:
        body, err = self._body(request)
        model, err = (None, err) if err else self._model_or_404(body)
        if model is None:
            return err or _error(400, "model is required")
        params = f"num_ctx                        {model.num_ctx}\n" if model.num_ctx else ""
        info = {"general.architecture": model.family, "general.parameter_count": model.parameter_count(),
                f"{model.family}.context_length": model.context_length,
                f"{model.family}.embedding_length": model.embedding_dim, "tokenizer.ggml.tokens": []}
        reply: dict[str, Any] = {"license": "", "modelfile": f"FROM {model.name}\n", "parameters": params,
                                 "template": "{{ .Prompt }}", "details": model.details(), "model_info": info,
                                 "modified_at": "2025-06-23T17:01:52.264371207-04:00"}
        if self.has("0.6.4"):
            reply["capabilities"] = list(model.capabilities)
        if model.think_values is not None:
            reply["thinking"] = {"values": model.think_values, "default": model.think_default}
        return Reply(body=reply)

    # -- chat ----------------------------------------------------------------------------
    def _chat(self, request: FakeRequest) -> Reply | StreamReply:
        body, err = self._body(request)
        model, err = (None, err) if err else self._model_or_404(body)
        if model is None:
            return err or _error(400, "model is required")
        stream = body.get("stream", True) is not False
        messages = body.get("messages") or []
        unload = body.get("keep_alive") in (0, "0", "0s", "0m") and not messages
        if not unload and (refusal := self.registry.memory_refusal(model)):
            return refusal
        if not messages or self._load_replies:
            model.loaded = not unload
            model.loaded_context_length = (body.get("options") or {}).get("num_ctx") or model.loaded_context_length
            if messages:
                self._load_replies -= 1
            return self._send(stream, model, [], self._final(model, "unload" if unload else "load", {}))
        caps, name = model.capabilities, body["model"]
        if model.remote_host and self.signin_url:
            return Reply(status=401, body={"error": "unauthorized", "signin_url": self.signin_url})
        if "completion" not in caps:
            return _error(400, f'"{name}" does not support chat')
        if body.get("tools") and "tools" not in caps:
            return _error(400, f"registry.ollama.ai/library/{model.name} does not support tools")
        think = body.get("think")
        if isinstance(think, str) and think not in ("low", "medium", "high", "max"):
            return _error(400, f'invalid think value: "{think}" '
                               '(must be "high", "medium", "low", "max", true, or false)')
        if think not in (None, False) and "thinking" not in caps:
            return _error(400, f'"{name}" does not support thinking')
        if model.ignores_bool_think and not isinstance(think, str):
            think = None
        if any(m.get("images") for m in messages) and "vision" not in caps:
            return _error(400, f'"{name}" does not support vision')
        body, err = self.fit_context(body, model)
        err = err or self.logprobs_check(body)
        return err or self._answer(body, model, stream, think is not False and ("thinking" in caps))

    def _answer(self, body: dict[str, Any], model: OllamaModel, stream: bool, thinks: bool) -> Reply | StreamReply:
        messages = body["messages"]
        fmt = body.get("format")
        calls = list(model.tool_calls) if body.get("tools") else []
        if fmt:
            text = model.json_reply or json.dumps(schema_instance(fmt) if isinstance(fmt, dict) else
                                                  {"answer": self._reply_text(model, messages)})
        else:
            text = "" if calls else self._reply_text(model, messages)
        thinking = model.thinking if thinks or model.inline_think else None
        if model.inline_think and thinking:
            text, thinking = f"{'' if model.think_open else '<think>'}{thinking}</think>\n\n{text}", None
        pieces = _WORD.findall(text)
        limit = (body.get("options") or {}).get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, reason = pieces[:limit], "length"
            text = "".join(pieces)
        eval_count = len(pieces) + count_tokens(thinking or "") + 5 * len(calls)
        metrics = self._metrics(model, messages, eval_count)
        model.loaded = body.get("keep_alive") not in (0, "0", "0s", "0m")
        wire_calls = [self._wire_call(c, i) for i, c in enumerate(calls)]
        final = self._final(model, reason, metrics)
        if not stream:
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                msg["thinking"] = thinking
            if wire_calls:
                msg["tool_calls"] = wire_calls
            self.add_logprobs(body, reply := {**final, "message": msg}, [])
            return Reply(body=reply)
        lines = [self._line(model, thinking=t) for t in self._chunks(thinking or "")]
        lines += [self._line(model, content=c) for c in self._chunks(text)]
        if wire_calls:
            lines.append(self._line(model, tool_calls=wire_calls))
        self.add_logprobs(body, final, lines)
        return self._send(True, model, lines, final)

    def _reply_text(self, model: OllamaModel, messages: list[dict[str, Any]]) -> str:
        return model.reply(messages) if callable(model.reply) else model.reply

    def _wire_call(self, call: dict[str, Any], index: int) -> dict[str, Any]:
        fn: dict[str, Any] = {"name": call["name"], "arguments": call.get("arguments", {})}
        if self.has("0.12.6"):
            fn = {"index": index, **fn}
        wire: dict[str, Any] = {"function": fn}
        if self.has("0.12.10"):
            wire = {"id": "call_" + hashlib.sha256(f"{index}{call['name']}".encode()).hexdigest()[:8], **wire}
        return wire

    def _metrics(self, model: OllamaModel, messages: list[dict[str, Any]], eval_count: int) -> dict[str, Any]:
        prompt = model.prompt_eval_count
        if prompt is None:
            prompt = sum(count_tokens(str(m.get("content") or "")) + 4 for m in messages)
        load = 1_000_000 if model.loaded else model.load_ns
        metrics: dict[str, Any] = {"load_duration": load, "prompt_eval_count": prompt,
                                   "prompt_eval_duration": prompt * 1_000_000}
        if self._omit_prompt:
            cached = self._omit_prompt.pop(0)
            del metrics["prompt_eval_count"], metrics["prompt_eval_duration"]
            if cached is not None:
                metrics["prompt_eval_cached_count"] = cached
        if eval_count:
            metrics.update(eval_count=eval_count, eval_duration=eval_count * model.ns_per_token)
        total = load + metrics.get("prompt_eval_duration", 0) + metrics.get("eval_duration", 0) + 500_000
        return {"total_duration": total, **metrics}

    def _chunks(self, text: str) -> list[str]:
        if not text:
            return []
        if self._chars:
            return [text[i:i + self._chars] for i in range(0, len(text), self._chars)]
        words = _WORD.findall(text)
        return ["".join(words[i:i + self._words]) for i in range(0, len(words), self._words)]

    def _line(self, model: OllamaModel, *, content: str = "", thinking: str | None = None,
              tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            msg["thinking"] = thinking
        if tool_calls:
            msg["tool_calls"] = tool_calls
        return {"model": model.name, "created_at": _now(), "message": msg, "done": False}

    def _final(self, model: OllamaModel, reason: str, metrics: dict[str, Any]) -> dict[str, Any]:
        return {"model": model.name, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                "done_reason": reason, "done": True, **metrics}

    def _send(self, stream: bool, model: OllamaModel, lines: list[dict[str, Any]],
              final: dict[str, Any]) -> Reply | StreamReply:
        if not stream:
            return Reply(body=final)
        encoded = [json.dumps(line, separators=(",", ":")) + "\n" for line in [*lines, final]]
        return StreamReply(lines=encoded, delay_between=self._delay)

    # -- embeddings ----------------------------------------------------------------------
    def _embed(self, request: FakeRequest) -> Reply:
        body, err = self._body(request)
        model, err = (None, err) if err else self._model_or_404(body)
        if model is None:
            return err or _error(400, "model is required")
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _error(400, "invalid input type")
        texts = [t for t in texts if t != ""] if raw == "" else texts
        if body.get("truncate") is False and any(count_tokens(t) > model.loaded_context_length for t in texts):
            return _error(400, "the input length exceeds the context length")
        dims = body.get("dimensions")
        vectors = [normalise(self._raw_vector(model, t)[: dims or None]) for t in texts]
        load = 1_000_000 if model.loaded else model.load_ns
        model.loaded = True
        reply: dict[str, Any] = {"model": model.name, "embeddings": vectors}
        if texts:
            reply.update(total_duration=load + 2_000_000, load_duration=load,
                         prompt_eval_count=sum(count_tokens(t) for t in texts))
        return Reply(body=reply)

    def _legacy_embed(self, request: FakeRequest) -> Reply:
        body, err = self._body(request)
        model, err = (None, err) if err else self._model_or_404(body, legacy=True)
        if model is None:
            return err or _error(400, "model is required")
        prompt = body.get("prompt") or ""
        model.loaded = True
        return Reply(body={"embedding": [2.5 * x for x in self._raw_vector(model, prompt)] if prompt else []})

    def _raw_vector(self, model: OllamaModel, text: str) -> list[float]:
        return list(model.embed_fn(text)) if model.embed_fn else vector(text, model.embedding_dim)


__all__ = ["FakeOllamaServer", "OllamaModel", "count_tokens", "default_models", "schema_instance"]

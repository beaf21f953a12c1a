"""``FakeOpenAIServer``: a real loopback OpenAI-compatible server, the base of the engine fakes.

It serves ``/v1/models``, ``/v1/chat/completions`` (plain and SSE, a usage chunk when
``stream_options.include_usage`` asks for one, tool calls, JSON output) and ``/v1/embeddings``
for scripted ``OpenAIModel``s. A fake of one engine (``FakeSGLangServer``, ``FakeTGIServer``)
subclasses it and says only what that engine does differently: its listing entries
(``model_entry``), its native routes (``routes``), its error envelope (``error``), what it refuses
(``refuse_chat``) and its unknown-route reply (``not_found``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._http import FakeHTTPServer, FakeRequest, Reply, StreamReply
from .compat_api import token_logprobs

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires

CREATED = 1750505643  # fixed, so replies are byte-identical across runs
Route = Callable[[FakeRequest], "Reply | StreamReply"]


@dataclass
class OpenAIModel:
    """One served model. ``embedding_dim`` set: an embedding model (no chat); else ``reply`` is the
    chat answer (cut to ``max_tokens`` whitespace tokens, then ``finish_reason`` is ``length``),
    ``tool_calls`` (``[{"name": …, "arguments": {…}}]``) are made when tools are bound and
    ``tool_choice`` is not ``"none"``, and ``json_reply`` answers structured-output requests.

    ``reasoning`` is the model's thinking, sent unless the request turns thinking off
    (``chat_template_kwargs.enable_thinking: false`` or ``reasoning_effort: "none"``): in
    ``reasoning_field`` (a server with a reasoning parser), or with ``reasoning_field=None`` inline
    as ``<think>…</think>`` in the content (``think_open``: the template opened the block, only
    ``</think>`` comes). ``schema_in_reasoning``: with thinking on, a structured answer lands in
    the reasoning and the content is empty (a grammar applied from the first token).
    ``reasoning_tokens``: usage counts them in ``completion_tokens_details``."""

    id: str
    reply: str | Callable[[list[dict[str, Any]]], str] = "Hello."  # a callable answers from the messages
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    json_reply: Any = None
    embedding_dim: int | None = None
    context_length: int = 4096
    reasoning: str | None = None
    reasoning_field: str | None = "reasoning_content"
    think_open: bool = False
    schema_in_reasoning: bool = False
    reasoning_tokens: bool = False


def tokens(text: str) -> list[str]:
    """Whitespace tokens, each with its trailing space (what the fakes count and stream)."""
    return re.findall(r"\S+\s*", text) or ([text] if text else [])


def vector(text: str, dim: int) -> list[float]:
    """A deterministic embedding of ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 127.5) / 127.5, 6) for i in range(dim)]


class FakeOpenAIServer(FakeHTTPServer):
    """A plain OpenAI-compatible server on 127.0.0.1 serving ``models`` (see the module docstring)."""

    owned_by = "organization"
    fingerprint: str | None = None  # system_fingerprint of chat replies

    def __init__(self, models: Iterable[OpenAIModel], *, port: int = 0) -> None:
        super().__init__(port=port)
        self.models: dict[str, OpenAIModel] = {m.id: m for m in models}
        self._counter = 0

    # -- what an engine fake refines ----------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Route]:
        """``(method, path) -> handler``: the OpenAI routes; subclasses add their native ones."""
        return {("GET", "/v1/models"): lambda r: Reply(body=self.listing()),
                ("POST", "/v1/chat/completions"): self._chat,
                ("POST", "/v1/embeddings"): self._embeddings}

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": CREATED, "owned_by": self.owned_by}

    def listing(self) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_entry(m) for m in self.models.values()]}

    def error(self, status: int, message: str, kind: str = "BadRequestError") -> Reply:
        """An OpenAI-style error (vLLM's and SGLang's envelope)."""
        return Reply(status=status, body={"object": "error", "message": message, "type": kind, "param": None,
                                          "code": status})

    def not_found(self, request: FakeRequest) -> Reply:
        return Reply(status=404, body={"detail": "Not Found"})

    def refuse_chat(self, body: dict[str, Any]) -> Reply | None:
        """A reply refusing this chat body before any model runs (None: accepted)."""
        return None

    def resolve(self, name: Any) -> OpenAIModel | Reply:
        model = self.models.get(str(name))
        return model if model is not None else self.error(404, f"The model `{name}` does not exist.",
                                                          "NotFoundError")

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> Reply | StreamReply:
        route = self.routes().get((request.method, request.path.rstrip("/") or "/"))
        return route(request) if route is not None else self.not_found(request)

    def _chat(self, request: FakeRequest) -> Reply | StreamReply:
        body = request.json or {}
        refused = self.refuse_chat(body)
        if refused is not None:
            return refused
        model = self.resolve(body.get("model"))
        if isinstance(model, Reply):
            return model
        if model.embedding_dim is not None:
            return self.error(400, f"{model.id} is an embedding model and does not support chat completions")
        self._counter += 1
        calls = [{"id": f"call_{self._counter}_{i}", "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
                 for i, c in enumerate(model.tool_calls)] if body.get("tools") and body.get(
                     "tool_choice") != "none" else []
        text = "" if calls else json.dumps(model.json_reply or {}) if body.get("response_format") else (
            model.reply(body.get("messages") or []) if callable(model.reply) else model.reply)
        thinks = bool(model.reasoning) and (body.get("chat_template_kwargs") or {}).get(
            "enable_thinking") is not False and body.get("reasoning_effort") != "none"
        reasoning = model.reasoning if thinks else None
        if reasoning and body.get("response_format") and model.schema_in_reasoning:
            reasoning, text = text, ""
        if reasoning and model.reasoning_field is None:  # no reasoning parser: inline tags
            text, reasoning = f"{'' if model.think_open else '<think>'}{reasoning}</think>\n\n{text}", None
        pieces, finish = tokens(text), "tool_calls" if calls else "stop"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        prompt = sum(len(tokens(str(m.get("content") or ""))) for m in body.get("messages") or [])
        thought = len(tokens(reasoning or ""))
        done = len(pieces) + 8 * len(calls) + thought
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
        if model.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}
        head: dict[str, Any] = {"id": f"chatcmpl-{self._counter}", "created": CREATED + self._counter,
                                "model": model.id}
        if self.fingerprint is not None:
            head["system_fingerprint"] = self.fingerprint
        top = body.get("top_logprobs") or 0 if body.get("logprobs") else None  # None: not asked

        def logprobs(text: str, start: int = 0) -> dict[str, Any] | None:
            return None if top is None else {"content": token_logprobs(text, top, start), "refusal": None}

        fields = self.reply_extra(prompt, usage["completion_tokens"])
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(head, pieces, calls, finish, usage if include else None, logprobs, fields,
                                (model.reasoning_field or "", reasoning))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces) if not calls else None}
        if reasoning:
            message[model.reasoning_field or ""] = reasoning
        if calls:
            message["tool_calls"] = calls
        return Reply(body={**head, **fields, "object": "chat.completion", "usage": usage, "choices": [
            {"index": 0, "message": message, "logprobs": logprobs("".join(pieces)), "finish_reason": finish}]})

    def reply_extra(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """Engine-specific fields of a reply (and of a stream's finishing event); none here."""
        return {}

    def _stream(self, head: dict[str, Any], pieces: list[str], calls: list[dict[str, Any]], finish: str,
                usage: dict[str, Any] | None, logprobs: Callable[[str, int], Any],
                fields: dict[str, Any] | None = None,
                reasoning: tuple[str, str | None] = ("", None)) -> StreamReply:
        def event(delta: dict[str, Any] | None, finish_reason: str | None = None, lp: Any = None, **extra: Any) -> str:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": lp,
                                                 "finish_reason": finish_reason}]
            return "data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": choices,
                                          **extra}) + "\n\n"

        lines = [event({"role": "assistant", "content": ""})]
        lines += [event({reasoning[0]: p}) for p in tokens(reasoning[1] or "")]
        lines += [event({"content": p}, lp=logprobs(p, i)) for i, p in enumerate(pieces)]
        lines += [event({"tool_calls": [{"index": i, **call}]}) for i, call in enumerate(calls)]
        lines.append(event({}, finish, **(fields or {})))
        if usage is not None:
            lines.append(event(None, usage=usage))
        return StreamReply(lines=[*lines, "data: [DONE]\n\n"], content_type="text/event-stream")

    def _embeddings(self, request: FakeRequest) -> Reply:
        body = request.json or {}
        model = self.resolve(body.get("model"))
        if isinstance(model, Reply):
            return model
        if model.embedding_dim is None:
            return self.error(400, f"{model.id} does not support embeddings")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return self.error(400, "'input' must be a string or a list of strings")
        data = [{"object": "embedding", "index": i, "embedding": vector(t, model.embedding_dim)}
                for i, t in enumerate(texts)]
        used = sum(len(tokens(t)) for t in texts)
        return Reply(body={"object": "list", "data": data, "model": model.id,
                           "usage": {"prompt_tokens": used, "total_tokens": used}})


__all__ = ["CREATED", "FakeOpenAIServer", "OpenAIModel", "tokens", "vector"]

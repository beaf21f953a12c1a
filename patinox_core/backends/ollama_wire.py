"""Pure converters for Ollama's native chat API (``/api/chat``): request body, reply, the NDJSON
stream parser and error classification. No I/O: ``backends/ollama.py`` sends what these functions
build and feeds back what the server answered (embedding and model-facts converters live there).

Forced tool calls. Ollama ignores ``tool_choice``. ``"none"`` sends no tools. ``"required"`` and a
tool name are enforced by constrained decoding instead: the tools are described in a system
instruction, not sent as ``tools``, and ``format`` is set to a JSON schema that only admits a call
(the tool's argument schema for one tool; ``{"name", "arguments"}`` alternatives for several).
The JSON reply becomes a ``ToolCall`` and ``finish_reason="tool_calls"``, so the model cannot
answer with prose, and models without native tool support can be forced too. The plan, the
instruction and the reading-back are shared with the OpenAI-compatible path (``forced_tools.py``).

Inline ``<think>…</think>`` in content (older servers, some templates) is moved to ``thinking`` by
``ThinkSplitter``, in streams too, across chunk boundaries.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ..errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    RecoveryStrategy,
    ServerError,
)
from ..json_codec import loads
from ..kinds import ProviderKind, spec_for_kind
from ..safe_text import server_text
from ..types import ChatChunk, ChatRequest, ChatResult, FinishReason, InvalidToolCall, Message, Metrics, ToolCall, Usage
from .base import ErrorPayload, stream_stopped_error, token_count
from .forced_tools import ForcedTool, add_instruction, canonical_json, forced_call
from .forced_tools import forced_tool as plan_forced_tool
from .lifecycle_errors import memory_error
from .logprobs import logprobs_from_wire
from .malformed import MalformedReply, as_mapping, decode, field, optional_mapping, optional_text, text_or_none
from .think import ThinkSplitter, split_think
from .tool_args import split_calls, tool_calls_from_wire

UNREACHABLE_HINT = spec_for_kind(ProviderKind.OLLAMA).unreachable_hint
CONTEXT_HINT = "reduce the input or raise num_ctx"

#: done_reason -> finish_reason; "load" (empty reply after a load) is handled before this table.
FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length", "unload": "stop"}


class ModelLoadedReply(ServerError):
    """The server answered ``done_reason:"load"`` with no content: the model was only being loaded.
    The backend resends the request once; a second such reply reaches the caller (recovery RETRY)."""


class EndpointNotFoundError(CapabilityError):
    """``404 page not found`` / ``405``: this server is too old (or not Ollama) for the endpoint."""

    default_recovery = RecoveryStrategy.FALLBACK


# --------------------------------------------------------------------------- requests


def forced_tool(request: ChatRequest) -> ForcedTool | None:
    """The forced-call plan on Ollama (``forced_tools.forced_tool``): "required" or a tool name.

    >>> tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    >>> forced_tool(ChatRequest(model="m", messages=[], tools=tools, tool_choice="add")).schema
    {'type': 'object', 'properties': {}}
    """
    return plan_forced_tool(request, server="Ollama")


def _is_url(image: str) -> bool:
    return image.lstrip()[:8].lower().startswith(("http://", "https://"))


def image_urls(request: ChatRequest) -> list[str]:
    """http(s) image URLs the client must fetch and encode before ``to_wire`` (in order, unique)."""
    seen: dict[str, None] = {}
    for m in request.messages:
        for image in m.images:
            if _is_url(image):
                seen.setdefault(image.strip(), None)
    return list(seen)


def wire_image(image: str, fetched: Mapping[str, str]) -> str:
    """An image as Ollama wants it: bare base64 (``data:`` prefix stripped, URLs from ``fetched``).

    >>> wire_image("data:image/png;base64,iVBORw0K", {}), wire_image("iVBORw0K", {})
    ('iVBORw0K', 'iVBORw0K')
    >>> wire_image("data:text/plain,hi%21", {})
    'aGkh'
    """
    image = image.strip()
    if image.startswith("data:"):
        header, _, payload = image.partition(",")
        if header.endswith(";base64"):
            return payload
        return base64.b64encode(unquote_to_bytes(payload)).decode()
    if _is_url(image):
        if image not in fetched:
            raise ConfigurationError(f"image URL {image[:80]} was not fetched", hint="pass base64 image data")
        return fetched[image]
    return image


def _format(response_format: Any) -> Any:
    """``"json"``, a JSON schema, or an OpenAI-style ``response_format`` envelope -> ``format``."""
    if response_format is None or response_format == "json":
        return response_format
    fmt = dict(response_format)
    if fmt.get("type") == "json_object":
        return "json"
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
        return dict(fmt["json_schema"].get("schema") or {"type": "object"})
    return fmt


def _options(request: ChatRequest) -> dict[str, Any]:
    options = dict(request.options)
    named = {"num_predict": request.max_tokens, "stop": request.stop, "seed": request.seed,
             "temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k,
             "num_ctx": request.num_ctx}
    options.update({k: v for k, v in named.items() if v is not None})
    return options


def _wire_message(m: Message, images: Mapping[str, str], tool_names: dict[str, str]) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": m.role, "content": m.content or ""}
    if m.images:
        wire["images"] = [wire_image(i, images) for i in m.images]
    if m.thinking and m.role == "assistant":
        wire["thinking"] = m.thinking
    if m.tool_calls:
        wire["tool_calls"] = [{**({"id": c.id} if c.id else {}),  # servers before 0.12.10 gave none
                               "function": {"index": i, "name": c.name, "arguments": c.arguments}}
                              for i, c in enumerate(m.tool_calls)]
        tool_names.update((c.id, c.name) for c in m.tool_calls)
    if m.role == "tool":
        name = m.name or tool_names.get(m.tool_call_id or "")
        if name:
            wire["tool_name"] = name
        if m.tool_call_id:
            wire["tool_call_id"] = m.tool_call_id
    return wire


def to_wire(request: ChatRequest, stream: bool, *, keep_alive: str | int | None = None,
            images: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``/api/chat`` body. ``keep_alive`` is the settings default (the request's wins);
    ``images`` maps each URL of ``image_urls(request)`` to its fetched base64.

    >>> to_wire(ChatRequest(model="m", messages=[Message("user", "hi")], max_tokens=5), stream=False)
    {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'stream': False, 'options': {'num_predict': 5}}
    """
    if not request.model:
        raise ConfigurationError("no model given for an Ollama chat request", hint="pass model=...")
    forced = forced_tool(request)
    tool_names: dict[str, str] = {}
    messages = [_wire_message(m, images or {}, tool_names) for m in request.messages]
    if forced is not None:
        messages = add_instruction(messages, forced.instruction)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if request.tools and forced is None and request.tool_choice != "none":
        body["tools"] = [dict(t) if "function" in t else {"type": "function", "function": dict(t)}
                         for t in request.tools]
    fmt = forced.schema if forced is not None else _format(request.response_format)
    if fmt is not None:
        body["format"] = fmt
    if request.think is not None:
        body["think"] = request.think
    for key in ("truncate", "shift", "logprobs", "top_logprobs"):  # top level, not options (api.ChatRequest)
        if (value := getattr(request, key)) is not None:
            body[key] = value
    options = _options(request)
    if options:
        body["options"] = options
    alive = request.keep_alive if request.keep_alive is not None else keep_alive
    if alive is not None:
        body["keep_alive"] = alive
    return body


# --------------------------------------------------------------------------- replies


def _seconds(ns: Any) -> float | None:
    return ns / 1e9 if isinstance(ns, (int, float)) and not isinstance(ns, bool) and ns >= 0 else None


def usage_from_wire(data: Mapping[str, Any]) -> Usage:
    """Token counts; an absent ``prompt_eval_count`` (cached prompt) stays None.

    >>> usage_from_wire({"eval_count": 104, "prompt_eval_cached_count": 19})
    Usage(input_tokens=None, output_tokens=104, total_tokens=None, cached_input_tokens=19, reasoning_tokens=None)
    """
    return Usage(input_tokens=token_count(data.get("prompt_eval_count")),
                 output_tokens=token_count(data.get("eval_count")),
                 cached_input_tokens=token_count(data.get("prompt_eval_cached_count")))


def metrics_from_wire(data: Mapping[str, Any], ttft: float | None = None) -> Metrics:
    """Nanoseconds to seconds; tokens/s = eval_count / eval_duration.

    >>> m = metrics_from_wire({"total_duration": 1078043917, "load_duration": 109557375,
    ...                        "eval_count": 104, "eval_duration": 814595750})
    >>> round(m.tokens_per_second, 2), m.load_duration_s, m.total_duration_s
    (127.67, 0.109557375, 1.078043917)
    """
    count, seconds = token_count(data.get("eval_count")), _seconds(data.get("eval_duration"))
    tps = count / seconds if count and seconds else None
    return Metrics(time_to_first_token_s=ttft, tokens_per_second=tps,
                   load_duration_s=_seconds(data.get("load_duration")),
                   total_duration_s=_seconds(data.get("total_duration")))


def _finish(done_reason: Any, has_calls: bool) -> FinishReason:
    return "tool_calls" if has_calls else FINISH_REASONS.get(done_reason if isinstance(done_reason, str) else "",
                                                              "stop")


def _load_reply(model: str | None, service: str | None) -> ModelLoadedReply:
    return ModelLoadedReply(f"{model} answered with an empty done_reason 'load' reply (it was just loading)",
                            hint="retry the request", model=model, service=service)


def from_wire(data: Mapping[str, Any], *, model: str | None = None, service: str | None = None,
              forced: ForcedTool | None = None) -> ChatResult:
    """A non-stream ``/api/chat`` reply. Time to first token is the server's load + prompt time."""
    # the validators run only for a field of an unexpected type (this runs on every reply)
    msg = data.get("message") if type(data) is dict else None
    if type(msg) is not dict:
        msg = as_mapping(field(data, "message", "the chat reply"), "the chat reply's message")
    text = msg.get("content")
    content, thinking = split_think(text if type(text) is str else optional_text(text, "message.content"))
    if (said := msg.get("thinking")) is not None:
        thinking = optional_text(said, "message.thinking") + thinking
    done_reason = data.get("done_reason")
    calls, invalid = (tool_calls_from_wire(msg.get("tool_calls"), truncated=done_reason == "length")
                      if msg.get("tool_calls") else ([], []))
    if done_reason == "load" and not (content or thinking or calls or invalid):
        raise _load_reply(model, service)
    if forced is not None and not (calls or invalid):
        (calls, invalid), content = split_calls([forced_call(forced, content, truncated=done_reason == "length")]), ""
    server_ttft = [s for s in (_seconds(data.get("load_duration")), _seconds(data.get("prompt_eval_duration")))
                   if s is not None]
    return ChatResult(
        message=Message("assistant", content, tool_calls=calls, invalid_tool_calls=invalid, thinking=thinking or None),
        finish_reason=_finish(done_reason, bool(calls)),
        usage=usage_from_wire(data),
        metrics=metrics_from_wire(data, sum(server_ttft) if server_ttft else None),
        model=name if type(name := data.get("model")) is str and name else model,  # = text_or_none(...) or model
        service=service,
        raw=dict(data),
        logprobs=logprobs_from_wire(data["logprobs"]) if data.get("logprobs") is not None else None,
    )


class OllamaChatStream:
    """``StreamParser`` for ``/api/chat`` NDJSON: one line in, neutral chunks out.

    A ``{"error": …}`` line raises ``ErrorPayload`` (the transport classifies it); a body that ends
    without ``done:true`` raises ``InvalidResponseError`` from ``close()``.
    """

    __slots__ = ("_buffer", "_calls", "_done", "_emitted", "_logprobs", "_split", "_valid", "forced", "model", "raw",
                 "service", "t0", "ttft")

    def __init__(self, model: str | None = None, service: str | None = None, forced: ForcedTool | None = None,
                 *, think_open: bool = False) -> None:
        self.model, self.service, self.forced = model, service, forced
        self.t0 = time.perf_counter()
        self.ttft: float | None = None
        self.raw: dict[str, Any] | None = None
        self._split = ThinkSplitter(maybe_open=think_open)  # think_open: reasoning was asked for
        self._calls = 0  # calls seen (valid or not): the position of the next one
        self._valid = 0
        self._done = False
        self._emitted = False
        self._buffer: list[str] = []
        self._logprobs: list[dict[str, Any]] | None = None  # of lines whose text is held back (a split tag)

    def _take_logprobs(self, data: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        if self._logprobs is None and data.get("logprobs") is None:
            return None  # per chunk of every stream that asked for none
        entries = logprobs_from_wire(data.get("logprobs"))
        if entries is not None:
            self._logprobs = [*(self._logprobs or []), *entries]
        taken, self._logprobs = self._logprobs, None
        return taken

    def feed(self, line: str) -> list[ChatChunk]:
        try:  # per line: the validators below run only when a field has an unexpected type
            data = loads(line)
        except ValueError:
            data = decode(line, "a stream line")  # raises, saying what came (an HTML page from a proxy?)
        if not isinstance(data, dict):
            raise MalformedReply(f"stream line is not a JSON object: {line[:80]!r}")
        if data.get("error"):
            raise ErrorPayload(data)
        if self._done:
            return []
        msg = data.get("message") or None
        if type(msg) is not dict:
            msg = optional_mapping(msg, "a stream line's message")
        raw_content = msg.get("content")
        if type(raw_content) is not str:
            raw_content = optional_text(raw_content, "message.content")
        field_thinking = msg.get("thinking")
        if field_thinking is None:  # most lines: no thinking field
            field_thinking = ""
        elif type(field_thinking) is not str:
            field_thinking = optional_text(field_thinking, "message.thinking")
        held, held_thinking = self._split.decide() if field_thinking else ("", "")  # the server splits
        content, thinking = self._split.feed(raw_content)
        content, thinking = held + content, field_thinking + held_thinking + thinking
        calls, invalid = (tool_calls_from_wire(msg.get("tool_calls"), self._calls,
                                               truncated=data.get("done_reason") == "length")
                          if msg.get("tool_calls") else ([], []))
        self._calls += len(calls) + len(invalid)
        self._valid += len(calls)
        if self.ttft is None and (raw_content or thinking or calls or invalid):
            self.ttft = time.perf_counter() - self.t0
        if data.get("done"):
            return [self._final(data, content, thinking, calls, invalid)]
        if self.forced is not None:
            self._buffer.append(content)
            content = ""
        if not (content or thinking or calls or invalid):
            self._logprobs = self._take_logprobs(data)  # kept for the chunk that carries their text
            return []
        self._emitted = True
        model = data.get("model")
        logprobs = None if self._logprobs is None and data.get("logprobs") is None else self._take_logprobs(data)
        return [ChatChunk(content=content, thinking=thinking, tool_calls=calls, invalid_tool_calls=invalid,
                          model=model if type(model) is str and model else self.model, service=self.service,
                          logprobs=logprobs)]

    def _final(self, data: dict[str, Any], content: str, thinking: str, calls: list[ToolCall],
               invalid: list[InvalidToolCall]) -> ChatChunk:
        self._done, self.raw = True, data
        tail_content, tail_thinking = self._split.flush()
        content, thinking = content + tail_content, thinking + tail_thinking
        done_reason = data.get("done_reason")
        if done_reason == "load" and not (self._emitted or content or thinking or calls or invalid):
            raise _load_reply(self.model, self.service)
        if self.forced is not None and not self._calls:
            text = "".join(self._buffer) + content
            (calls, invalid), content = split_calls([forced_call(self.forced, text,
                                                                 truncated=done_reason == "length")]), ""
            self._calls, self._valid = 1, len(calls)
        return ChatChunk(content=content, thinking=thinking, tool_calls=calls, invalid_tool_calls=invalid,
                         finish_reason=_finish(done_reason, self._valid > 0), usage=usage_from_wire(data),
                         metrics=metrics_from_wire(data, self.ttft), logprobs=self._take_logprobs(data),
                         model=text_or_none(data.get("model")) or self.model, service=self.service)

    def close(self) -> list[ChatChunk]:
        if not self._done:
            raise stream_stopped_error(self.model, self.service)
        return []


# --------------------------------------------------------------------------- errors


_CAPABILITY = re.compile(r"does not support (tools|thinking|chat|vision|generate|insert|completion|embedding\w*)")
_MODEL_NAME = re.compile(r"""model ['"]([^'"]+)['"]""")
_CONFIG_TEXTS = ("must be of type", "invalid think value", "cannot unmarshal", "is required", "invalid input",
                 "missing request body", "top_logprobs")


def error_text(body: Any) -> str:
    """The message of an error body: ``{"error": "…"}``, ``{"error": {"message": …}}`` or raw text."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            err = err.get("message") or canonical_json(dict(err))
        return str(err).strip()
    return str(body or "").strip()


def auth_error(status: int | None, body: Any, text: str, kw: dict[str, Any]) -> AuthenticationError:
    """401/403: with a ``signin_url`` (a cloud model, the server not signed in), say to sign in there.

    >>> print(auth_error(401, {"error": "unauthorized", "signin_url": "https://ollama.com/connect?x=1"},
    ...                  "unauthorized", {}).hint[:78])
    sign in: run `ollama signin` on the server's machine, or open https://ollama.c
    """
    url = body.get("signin_url") if isinstance(body, Mapping) else None
    if isinstance(url, str) and url.strip():
        return AuthenticationError(f"Ollama needs to be signed in to ollama.com for this model ({status}: {text})",
                                   hint=f"sign in: run `ollama signin` on the server's machine, or open "
                                   f"{server_text(url.strip(), 200)} (for ollama.com itself, set OLLAMA_API_KEY)",
                                   **kw)
    return AuthenticationError(f"Ollama refused access ({status}): {text}",
                               hint="set OLLAMA_API_KEY or api_key (PATINOX_API_KEY), or put user:pass@ in the "
                               "server URL", **kw)


def classify_error(status: int | None, body: Any, model: str | None = None) -> LocalProviderError:
    """Ollama's error replies (their exact strings) to the error tree.

    >>> type(classify_error(404, {"error": "model 'llama3.2:latest' not found"})).__name__
    'ModelNotFoundError'
    >>> classify_error(400, {"error": '"gemma3" does not support thinking'}).recovery.value
    'none'
    """
    text = error_text(body)
    low = text.lower()
    kw: dict[str, Any] = {"status_code": status, "model": model}
    if cap := _CAPABILITY.search(low):
        return CapabilityError(f"Ollama: {text}", hint=f"use a model with the {cap.group(1)!r} capability "
                               "(`patinox models` lists them)", **kw)
    if "context length" in low or "context window" in low or ("exceeds" in low and "context" in low):
        return ContextOverflowError(f"the input does not fit the context: {text}", hint=CONTEXT_HINT, **kw)
    if status in (404, 405) and ("page not found" in low or "method not allowed" in low):
        return EndpointNotFoundError(f"this server has no such endpoint ({text})",
                                     hint="upgrade Ollama (https://ollama.com/download)", **kw)
    if status == 404 or "not found" in low:
        found = _MODEL_NAME.search(text)
        name = model or (found.group(1) if found else "<model>")
        return ModelNotFoundError(f"model {name!r} is not installed on this Ollama server",
                                  hint=f"run `ollama pull {name}`", **{**kw, "model": name})
    if "remote inference is unavailable" in low:
        return ConfigurationError(f"Ollama has cloud models turned off: {text}", hint="use a local model, or "
                                  "turn cloud on (unset OLLAMA_NO_CLOUD / disable_ollama_cloud)", **kw)
    if status in (401, 403):
        return auth_error(status, body, text, kw)
    if status in (429, 503) or "server busy" in low or "request canceled" in low:
        return ServerError(f"Ollama is busy: {text}", hint="retry in a moment or raise OLLAMA_MAX_QUEUE",
                           recovery=RecoveryStrategy.RETRY, **kw)
    if any(t in low for t in _CONFIG_TEXTS):
        return ConfigurationError(f"Ollama rejected the request: {text}", hint="fix the named parameter", **kw)
    if memory := memory_error(text, server="Ollama", **kw):
        return memory
    if status is None or status >= 500:
        return ServerError(f"Ollama failed: {text}", hint="check the server log (`ollama serve` output) and retry",
                           **kw)
    if status >= 400:
        return ConfigurationError(f"Ollama rejected the request ({status}): {text}",
                                  hint="check the request parameters", **kw)
    return InvalidResponseError(f"Ollama answered with an error object: {text}", hint="check the server log", **kw)


__all__ = [
    "CONTEXT_HINT",
    "EndpointNotFoundError",
    "ForcedTool",
    "ModelLoadedReply",
    "OllamaChatStream",
    "ThinkSplitter",
    "UNREACHABLE_HINT",
    "classify_error",
    "forced_tool",
    "from_wire",
    "image_urls",
    "metrics_from_wire",
    "split_think",
    "to_wire",
    "tool_calls_from_wire",
    "usage_from_wire",
    "wire_image",
]

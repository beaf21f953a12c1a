"""OpenAI-compatible ``/v1/*`` backend: llama.cpp ``llama-server``, llama-cpp-python, vLLM, a LiteLLM
proxy, Ollama's ``/v1`` and LM Studio (``lmstudio.py`` builds on this).

Wire conversion is pure (``to_wire``, ``from_wire``, ``OpenAIChatStream``, ``classify_error``,
shapes and helpers in ``_openai_wire.py``, SSE parsing in ``_openai_stream.py``);
``OpenAICompatBackend`` adds a few lines of I/O per endpoint. What each server kind needs beyond
plain OpenAI (``Quirks``, extra facts endpoints, its unreachable hint) is its ``KindSpec`` in
``patinox_core.kinds``, keyed by the flavor discovery fingerprints.

Where ``tool_choice="required"`` fails (llama-cpp-python, several tools), the call is forced the
way the Ollama backend forces one (``forced_tools.py``): no ``tools``, an instruction describing
them, ``response_format={"type": "json_object", "schema": <anyOf over the calls>}``, and the JSON
reply read back as a ``ToolCall`` with ``finish_reason="tool_calls"`` (streams: on the last chunk).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from ..call_context import CallContext
from ..config import LocalSettings, ProviderKind, redact
from ..errors import CapabilityError, ConfigurationError, LocalProviderError
from ..exchange import Operation, call, stream
from ..facts import ServerFacts
from ..kinds import (
    Quirks,
    find_spec,
    fingerprint_openai,
    openai_flavors,
    quirks_for,
    spec_for,
    with_models,
    with_props,
)
from ..kinds.llama_server import props_facts
from ..provisioning.events import ProgressEvent
from ..reasoning import wants_thinking
from ..timeouts import TimeoutKind, read_timeout
from ..transport import Transport
from ..types import ChatRequest, ChatResult, EmbeddingResult
from ._openai_stream import OpenAIChatStream, parse_sse_line
from ._openai_wire import (
    classify_error,
    embed_from_wire,
    embed_to_wire,
    from_wire,
    messages_to_wire,
    metrics_from_wire,
    summarize_server_message,
    tools_to_wire,
    usage_from_wire,
)
from .base import LoadState
from .completions_wire import COMPLETIONS_PATH, completion_to_wire
from .driven import DrivenBackend
from .empty_stream import diagnosis_request, explain_empty_stream
from .forced_tools import ForcedTool, add_instruction, forced_tool
from .llama_router import load as router_load
from .malformed import MalformedReply, as_list, as_mapping, count_or_none, field, optional_mapping

FLAVORS = openai_flavors()
PERMISSIVE_SCHEMA: dict[str, Any] = {"type": "object"}


# --------------------------------------------------------------------------- request body


def _schema_parts(fmt: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """(name, schema, strict) from a bare JSON schema or an OpenAI ``json_schema`` envelope."""
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
        fmt = fmt["json_schema"]
    if isinstance(fmt.get("schema"), Mapping) and ("name" in fmt or "strict" in fmt):
        schema, name, strict = dict(fmt["schema"]), fmt.get("name"), fmt.get("strict", True)
    else:
        schema, name, strict = dict(fmt), fmt.get("title"), True
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(name or "response"))[:64]
    return safe or "response", schema, bool(strict)


def response_format_to_wire(fmt: Any, quirks: Quirks) -> dict[str, Any] | None:
    """``ChatRequest.response_format`` as the server wants it.

    >>> response_format_to_wire("json", Quirks())
    {'type': 'json_object'}
    >>> response_format_to_wire("json", quirks_for("lmstudio"))["json_schema"]["schema"]
    {'type': 'object'}
    >>> response_format_to_wire({"title": "City", "type": "object"}, quirks_for("llama_cpp_python"))
    {'type': 'json_object', 'schema': {'title': 'City', 'type': 'object'}}
    >>> response_format_to_wire({"title": "City", "type": "object"}, Quirks())["json_schema"]["name"]
    'City'
    """
    if fmt is None:
        return None
    if fmt == "json":
        if quirks.json_mode_as_schema:
            envelope = {"name": "json", "schema": PERMISSIVE_SCHEMA, "strict": False}
            return {"type": "json_schema", "json_schema": envelope}
        return {"type": "json_object"}
    name, schema, strict = _schema_parts(fmt)
    if quirks.schema_as_json_object:
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


def tool_choice_to_wire(choice: str | None, tool_names: Sequence[str], quirks: Quirks) -> Any:
    """``auto``/``none`` pass through; ``required`` with one tool names it; a name is forced.
    Where "required" fails with several tools this raises; ``to_wire`` never gets here then, it
    forces the call through JSON output (``forced_tool_for``).

    >>> tool_choice_to_wire("required", ["get_weather"], Quirks())
    {'type': 'function', 'function': {'name': 'get_weather'}}
    >>> tool_choice_to_wire("required", ["a", "b"], Quirks()), tool_choice_to_wire(None, ["a"], Quirks())
    ('required', None)
    """
    if choice is None or choice in ("auto", "none"):
        return choice
    if choice == "required":
        if len(tool_names) == 1:
            return {"type": "function", "function": {"name": tool_names[0]}}
        if quirks.required_unsupported:
            raise CapabilityError(
                f"{quirks.flavor} cannot force one of several tools (tool_choice='required' fails there)",
                hint="bind a single tool, or name the tool to call in tool_choice",
            )
        return "required"
    if choice not in tool_names:
        raise ConfigurationError(f"tool_choice={choice!r} names no bound tool",
                                 hint=f"use one of {', '.join(tool_names) or '(no tools bound)'}")
    return {"type": "function", "function": {"name": choice}}


def forced_tool_for(request: ChatRequest, quirks: Quirks) -> ForcedTool | None:
    """The JSON-forced call plan where the server cannot force one of several tools natively
    (``required_unsupported`` with more than one tool; one tool is forced by naming it).

    >>> tools = [{"name": "a", "parameters": {"type": "object"}}, {"name": "b"}]
    >>> request = ChatRequest(model="m", messages=[], tools=tools, tool_choice="required")
    >>> forced_tool_for(request, quirks_for("llama_cpp_python")).names, forced_tool_for(request, Quirks())
    (('a', 'b'), None)
    """
    if not (quirks.required_unsupported and request.tool_choice == "required" and len(request.tools or ()) > 1):
        return None
    return forced_tool(request, server=quirks.flavor or "this server")


def _think_to_wire(body: dict[str, Any], think: Any, quirks: Quirks) -> None:
    if think is None:
        return
    if isinstance(think, str):
        body["reasoning_effort"] = think
    elif think is False and quirks.think_off_effort:
        body["reasoning_effort"] = quirks.think_off_effort
    if quirks.think_via_template_kwargs:
        body["chat_template_kwargs"] = {"enable_thinking": think is not False}


def to_wire(request: ChatRequest, *, stream: bool = False, quirks: Quirks = Quirks()) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for ``request``.

    >>> from patinox_core.types import Message
    >>> body = to_wire(ChatRequest(model="m", messages=[Message("user", "hi")], max_tokens=8), stream=True)
    >>> body["messages"], body["stream_options"], body["max_tokens"], "max_completion_tokens" in body
    ([{'role': 'user', 'content': 'hi'}], {'include_usage': True}, 8, False)
    """
    if not request.model:
        raise ConfigurationError("no model given for an OpenAI-compatible chat",
                                 hint="pass model=… or set default_model")
    forced = forced_tool_for(request, quirks)
    messages = messages_to_wire(request.messages, quirks.reasoning_history)
    if forced is not None:
        messages = add_instruction(messages, forced.instruction)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    for key in ("max_tokens", "temperature", "top_p", "top_k", "seed", "logprobs", "top_logprobs"):
        value = getattr(request, key)  # max_tokens: never max_completion_tokens
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.tools and forced is None:
        body["tools"] = tools_to_wire(request.tools)
        choice = tool_choice_to_wire(request.tool_choice, request.tool_names, quirks)
        if choice is not None:
            body["tool_choice"] = choice
    fmt = ({"type": "json_object", "schema": forced.schema} if forced is not None
           else response_format_to_wire(request.response_format, quirks))
    if fmt is not None:
        body["response_format"] = fmt
    _think_to_wire(body, request.think, quirks)
    body.update(request.options)
    return body if quirks.rewrite_body is None else quirks.rewrite_body(body)


# --------------------------------------------------------------------------- /v1/models


def models_from_wire(data: Any, flavor: str | None = None) -> list[ServerFacts]:
    """``/v1/models`` entries to ``ServerFacts``: llama-server's ``meta`` (trained context,
    parameters) and, in router mode, each model's ``status.value`` (``loaded`` or not); vLLM's and
    SGLang's ``max_model_len``, the longest context the server accepts (also the maximum when no
    trained figure is given). A listing of resident models only marks each one loaded."""
    spec = find_spec(flavor)
    listing_is_loaded = spec is not None and spec.quirks.listing_is_loaded
    facts: list[ServerFacts] = []
    for raw in as_list(as_mapping(data, "the /v1/models reply").get("data") or [], "data"):
        entry = as_mapping(raw, "a model entry")
        fact: ServerFacts = {"name": str(field(entry, "id", "a model entry"))}
        meta = optional_mapping(entry.get("meta") or None, "a model's meta")
        if context := count_or_none(meta.get("n_ctx_train")):
            fact["context_length"] = context
        if params := count_or_none(meta.get("n_params")):
            fact["parameter_count"] = params
        if allocated := count_or_none(entry.get("max_model_len")):
            fact["loaded_context_length"] = allocated
            fact.setdefault("context_length", allocated)
        status = entry.get("status")
        state = status.get("value") if isinstance(status, Mapping) else None
        if isinstance(state, str):  # llama-server's router lists every model it can load, with its state
            fact["loaded"] = state == "loaded"
        elif listing_is_loaded:
            fact["loaded"] = True
        facts.append(fact)
    return facts


# --------------------------------------------------------------------------- backend


def _strip_v1(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class OpenAICompatBackend(DrivenBackend):
    """One OpenAI-compatible server. ``flavor`` (from discovery's fingerprint) selects its quirks.

    Each operation is one plan (``*_plan``) handed to the transport's sync or async driver
    (``DrivenBackend``). No I/O happens in ``__init__`` or ``__repr__``.
    """

    kind: ProviderKind = ProviderKind.OPENAI_COMPATIBLE
    default_flavor: str | None = None
    chat_path = "/v1/chat/completions"
    embed_path = "/v1/embeddings"
    models_path = "/v1/models"

    def __init__(self, base_url: str, transport: Transport | None = None, settings: LocalSettings | None = None,
                 *, flavor: str | None = None, gateway: bool = False) -> None:
        self.settings = settings or (transport.settings if transport is not None else LocalSettings())
        self.transport = transport or Transport(self.settings)
        self.base_url = _strip_v1(base_url)
        self.flavor = flavor if flavor is not None else self.default_flavor
        self.spec = spec_for(self.flavor)
        self.quirks = self.spec.quirks
        self.gateway = gateway or self.spec.gateway  # one server: only its own metadata is read
        self.unreachable_hint = self.spec.unreachable_hint
        self.load_state: LoadState | None = None  # the catalogue's, set by the provider

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.base_url)!r}, flavor={self.flavor!r})"

    # -- hooks subclasses refine -----------------------------------------------------------
    def classify(self, status: int | None, body: Any) -> Any:
        return classify_error(status, body)

    def chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if request.completion:
            return completion_to_wire(request, stream=stream)
        return to_wire(request, stream=stream, quirks=self.quirks)

    def chat_url(self, request: ChatRequest, *, stream: bool) -> str:
        return self.base_url + (COMPLETIONS_PATH if request.completion else self.chat_path)

    def embed_body(self, texts: Sequence[str], model: str, opts: Mapping[str, Any]) -> dict[str, Any]:
        return embed_to_wire(texts, model, dimensions=opts.get("dimensions"), extra=opts.get("options"))

    def embed_result(self, data: Any) -> EmbeddingResult:
        return embed_from_wire(data)

    def facts_from_models(self, data: Any) -> list[ServerFacts]:
        return models_from_wire(data, self.flavor)  # marks every model loaded where the listing names only those

    # -- load state and contexts -----------------------------------------------------------
    def timeout_kind(self, model: str | None) -> TimeoutKind:
        """``"cold"`` for a model the catalogue knows not to be resident (it may load first), else ``"normal"``."""
        known = self.load_state.is_loaded(model) if self.load_state is not None and model else None
        return "cold" if known is False else "normal"

    def _ctx(self, model: str | None, *, read: float | None = None, retries: int | None = None,
             kind: TimeoutKind | None = None, headers: dict[str, str] | None = None) -> CallContext:
        kind = kind or self.timeout_kind(model)
        return self.transport.context(self.base_url, self.classify, model=model, kind=kind,
                                      read=read_timeout(self.transport.settings, kind, read),
                                      unreachable_hint=self.unreachable_hint, retries=retries, headers=headers)

    # -- load / unload: llama-server's router mode only (llama_router.py) --------------------
    router_poll_s = 0.5  # seconds between /models polls while a model loads

    def load_plan(self, model: str, keep_alive: str | int | None = None, *, loaded: bool = True,
                  context: int | None = None) -> Operation[ProgressEvent]:
        """Load or unload ``model`` on a llama-server router (no other OpenAI-compatible server can)."""
        if self.flavor != "llama_server":
            raise CapabilityError(f"{self.flavor or 'this OpenAI-compatible server'} at {self.base_url} loads its "
                                  "models itself: patinox cannot load or unload them",
                                  hint="restart the server with the model you want", model=model,
                                  service=self.base_url)
        if context:
            raise ConfigurationError("llama-server's router takes no context per load",
                                     hint="set -c (or a preset) for the router's models", model=model)
        t0 = time.perf_counter()
        max_polls = max(1, int(self.settings.cold_load_timeout / self.router_poll_s))
        allocated = yield from router_load(self._ctx(model, kind="normal", retries=0), self._ctx(None, retries=0),
                                           self.base_url, model, loaded=loaded, keep_alive=keep_alive,
                                           poll_s=self.router_poll_s, max_polls=max_polls)
        if self.load_state is not None:
            self.load_state.mark(model, loaded, allocated)
        return ProgressEvent(model, self.base_url, "loaded" if loaded else "unloaded",
                             seconds=time.perf_counter() - t0, total=allocated)

    def _chat_ctx(self, request: ChatRequest) -> CallContext:
        return self._ctx(request.model, read=request.timeout, retries=request.max_retries, headers=request.headers)

    def _result(self, data: Any, t0: float, forced: ForcedTool | None) -> ChatResult:
        result = from_wire(data, forced=forced)
        result.service = self.base_url
        if result.metrics.total_duration_s is None:
            result.metrics.total_duration_s = time.perf_counter() - t0
        return result

    def _embedded(self, data: Any, model: str) -> EmbeddingResult:
        result = self.embed_result(data)
        result.model, result.service = result.model or model, self.base_url
        return result

    # -- plans -----------------------------------------------------------------------------
    def chat_plan(self, request: ChatRequest) -> Operation[ChatResult]:
        body, t0 = self.chat_body(request, stream=False), time.perf_counter()
        parse = partial(self._result, t0=t0, forced=forced_tool_for(request, self.quirks))
        return (yield from call(self._chat_ctx(request), "POST", self.chat_url(request, stream=False), body, parse))

    def stream_plan(self, request: ChatRequest, *, load_s: float | None = None) -> Operation[None]:
        """SSE deltas; a stream that ends before its first event is asked again without streaming
        (``empty_stream.py``) to learn why. ``load_s``: a load made for this request (final metrics)."""
        body = self.chat_body(request, stream=True)
        parser = OpenAIChatStream(request.model, service=self.base_url, forced=forced_tool_for(request, self.quirks),
                                  think_open=wants_thinking(request), load_s=load_s)
        chunks = stream(self._chat_ctx(request), self.chat_url(request, stream=True), body, parser)
        yield from explain_empty_stream(chunks, parser, lambda: self.chat_plan(diagnosis_request(request)))

    def embed_plan(self, texts: Sequence[str], model: str, opts: Mapping[str, Any]) -> Operation[EmbeddingResult]:
        """One request with every text (batching is the caller's); strings only."""
        if not texts:
            return EmbeddingResult([], model=model, service=self.base_url)
        return (yield from call(self._ctx(model, read=opts.get("timeout")), "POST", self.base_url + self.embed_path,
                                self.embed_body(texts, model, opts), partial(self._embedded, model=model)))

    def facts_plan(self, probed: Mapping[str, Any] | None = None) -> Operation[list[ServerFacts]]:
        """``/v1/models``, then the kind's extra endpoints: server-wide ones (llama-server ``/props``,
        ...; never at a gateway in front of that engine) and per-model ones (LiteLLM ``/model/info``),
        each read from ``probed`` when discovery already fetched it this round, else asked.
        Absent on old builds, so a failure leaves the listing's facts standing."""
        listed = probed.get(self.models_path) if probed else None
        try:
            facts = None if listed is None else self.facts_from_models(listed)
        except MalformedReply:
            facts = None  # asked again below: that listing's error says what is wrong
        if facts is None:
            facts = yield from call(self._ctx(None), "GET", self.base_url + self.models_path,
                                    parse=self.facts_from_models)
        server_wide = () if self.gateway and not self.spec.gateway else self.spec.facts_probes
        for probes, merge in ((server_wide, with_props), (self.spec.models_probes, with_models)):
            for path, parse in probes:
                if probed and path in probed:
                    facts = merge(facts, parse(probed[path]))
                    continue
                try:
                    extra = yield from call(self._ctx(None, retries=0), "GET", self.base_url + path, parse=parse)
                except LocalProviderError:
                    continue
                facts = merge(facts, extra)
        return facts


__all__ = [
    "FLAVORS",
    "OpenAIChatStream",
    "OpenAICompatBackend",
    "Quirks",
    "classify_error",
    "embed_from_wire",
    "embed_to_wire",
    "fingerprint_openai",
    "forced_tool_for",
    "from_wire",
    "metrics_from_wire",
    "models_from_wire",
    "parse_sse_line",
    "props_facts",
    "quirks_for",
    "response_format_to_wire",
    "summarize_server_message",
    "to_wire",
    "tool_choice_to_wire",
    "usage_from_wire",
]

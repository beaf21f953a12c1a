"""LM Studio: the OpenAI-compatible backend plus LM Studio's native model metadata, ``ttl`` and errors.

What differs from ``openai_compat.py``:

* Model metadata comes from ``/api/v1/models`` (LM Studio ≥ 0.4), else ``/api/v0/models``
  (≥ 0.3.6), else plain ``/v1/models``; the first two say type, loaded state, context lengths,
  quantization, architecture and vision / tool-use capabilities; v1 also loaded instances and their
  ``parallel`` (the model's slots, which routing fills). A listing also tells the backend which
  models are resident, so a request for a not-loaded model (JIT loading) gets ``cold_load_timeout``
  as its read timeout, and whether JIT loading is on (``server_notes``, shown by ``patinox status``).
* With "Require Authentication" on, requests carry ``lmstudio_api_token`` (``LM_API_TOKEN``) as a
  Bearer token (``LocalSettings.auth_headers``); a refusal says how to set one.
* Endpoint choice: a non-streaming chat goes to ``/api/v0/chat/completions`` once a native listing
  showed that the REST API exists, because only that route returns server-measured ``stats``
  (tokens/s, time to first token) for ``Metrics``; the reply is otherwise OpenAI-shaped. Streams,
  and everything before the first listing, use ``/v1`` (TTFT is then measured by the client).
* ``keep_alive`` (request, else settings) is sent as ``ttl`` seconds; JSON mode is a permissive
  ``json_schema`` (LM Studio rejects ``json_object``); embedding ``usage`` (always 0) is unknown.
* ``num_ctx`` (LM Studio fixes a model's context at load): a request names a loaded instance whose
  allocated context fits, or first loads one with that context (``lmstudio_context.py``); a load
  made for the request is its ``load_duration_s``.
* Errors: "No models loaded" → ``ModelNotLoadedError`` (``lms load``), "Model is not embedding" →
  ``CapabilityError``, "Invalid model identifier" → ``ModelNotFoundError`` (``lms get``), routing
  errors sent with HTTP 200 → ``CapabilityError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from ..call_context import CallContext
from ..config import ProviderKind
from ..errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    ModelNotLoadedError,
)
from ..exchange import Operation, call
from ..facts import ServerFacts
from ..provisioning.events import ProgressEvent, PullTally
from ..reasoning_options import options_from_wire
from ..timeouts import TimeoutKind
from ..types import ChatRequest, ChatResult, EmbeddingResult, Usage
from .lifecycle_errors import memory_error
from .lmstudio_context import Instances, Known, instance_plan, known_from_listing
from .lmstudio_models import Loaded, classify_download, download, left_in_lmstudio, load_instance
from .lmstudio_models import load as load_model
from .malformed import as_list, as_mapping, count_or_none, field, optional_mapping
from .openai_compat import OpenAICompatBackend, models_from_wire
from .openai_errors import classify_error, error_fields, summarize_server_message

_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|ms|s|m|h)?")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_QUOTED = re.compile(r"[\"“']([^\"”']+)[\"”']")


def ttl_seconds(keep_alive: str | int | float | None) -> int | None:
    """Ollama-style ``keep_alive`` as LM Studio's ``ttl`` (whole seconds, at least 1).

    Negative means "keep loaded", which LM Studio expresses by sending no ``ttl``; ``0`` ("unload
    right after") becomes the shortest ttl, 1 s.

    >>> ttl_seconds(300), ttl_seconds("5m"), ttl_seconds("1.5h"), ttl_seconds("250ms"), ttl_seconds("90")
    (300, 300, 5400, 1, 90)
    >>> ttl_seconds(0), ttl_seconds(-1), ttl_seconds("-1m"), ttl_seconds(None)
    (1, None, None, None)
    >>> ttl_seconds("soon")
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: keep_alive='soon' is not a duration. use seconds or '30s', '5m', '1h'
    """
    if keep_alive is None:
        return None
    if isinstance(keep_alive, (int, float)) and not isinstance(keep_alive, bool):
        seconds = float(keep_alive)
    else:
        match = _DURATION.fullmatch(str(keep_alive).strip())
        if match is None:
            raise ConfigurationError(f"keep_alive={keep_alive!r} is not a duration",
                                     hint="use seconds or '30s', '5m', '1h'")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 0:
        return None
    return max(1, math.ceil(seconds))


#: What to do when LM Studio runs with "Require Authentication" and patinox sent no (valid) token.
TOKEN_HINT = ("create a token in LM Studio (Developer > Server Settings > Manage Tokens) and set LM_API_TOKEN "
              "or PATINOX_LMSTUDIO_API_TOKEN (or lmstudio_api_token in patinox.toml)")


def _quoted_model(message: str) -> str | None:
    match = _QUOTED.search(message)
    return match.group(1) if match else None


def classify_lmstudio_error(status: int | None, body: Any) -> LocalProviderError:
    """LM Studio's error strings (string or object ``error``, any status) to the error tree.

    >>> classify_lmstudio_error(404, {"error": "No models loaded. Please load a model ..."}).hint
    'load one: `lms load <model>` (or enable JIT loading in LM Studio)'
    >>> classify_lmstudio_error(401, {"error": {"type": "invalid_request", "code": "invalid_api_key",
    ...                                         "message": "An LM Studio API token is required ..."}}).hint[:40]
    'create a token in LM Studio (Developer >'
    >>> classify_lmstudio_error(400, {"error": {"message": 'Invalid model identifier "o4-mini". Please ...',
    ...                                         "code": "model_not_found"}}).hint
    'download it: `lms get o4-mini`, or pick one from `lms ls`'
    """
    message, _, code = error_fields(body)
    summary = summarize_server_message(message)
    if status in (401, 403) or code == "invalid_api_key" or "API token" in message:
        return AuthenticationError(f"LM Studio refused the request: it requires a valid API token ({summary})",
                                   hint=TOKEN_HINT, status_code=status)
    name = _quoted_model(message)
    if memory := memory_error(summary, server="LM Studio", model=name):
        return memory
    if "No models loaded" in message:
        return ModelNotLoadedError(f"LM Studio has no model loaded: {summary}",
                                   hint="load one: `lms load <model>` (or enable JIT loading in LM Studio)")
    if "not embedding" in message:
        return CapabilityError(f"{name or 'this model'} is not an embedding model: {summary}",
                               hint="use a model whose type is embeddings (see `lms ls`)", model=name)
    if "must be 'json_schema'" in message:
        return CapabilityError(f"LM Studio accepts only json_schema structured output: {summary}",
                               hint="pass a JSON schema as response_format")
    if "Invalid model identifier" in message or "not found in downloaded models" in message or (
            code == "model_not_found" and name):
        return ModelNotFoundError(f"LM Studio does not have model {name or '(unnamed)'}: {summary}",
                                  hint=f"download it: `lms get {name or '<model>'}`, or pick one from `lms ls`",
                                  model=name)
    return classify_error(status, body)


def _capability_flags(model_type: str, **reported: Any) -> dict[str, bool]:
    flags = {"chat": model_type != "embeddings", "completion": model_type != "embeddings",
             "embeddings": model_type == "embeddings"}
    flags.update({k: v for k, v in reported.items() if isinstance(v, bool)})
    return flags


def _models(data: Any, key: str, what: str) -> list[Mapping[str, Any]]:
    return [as_mapping(m, "a model entry") for m in as_list(field(data, key, what), f"{what}'s {key}")]


def _served_config(instances: list[Any], key: str) -> Mapping[str, Any]:
    """The load config of the instance a request naming ``key`` reaches: the one whose id is the key
    (a second load of a model is ``key:2``, addressed by that id), else the first."""
    configs: dict[str, Mapping[str, Any]] = {}
    for item in instances:
        instance = as_mapping(item, "a loaded instance")
        configs.setdefault(str(instance.get("id")), optional_mapping(instance.get("config") or None,
                                                                    "a loaded instance's config"))
    return configs.get(key) or next(iter(configs.values()), {})


def facts_from_api_v1(data: Any) -> list[ServerFacts]:
    """``GET /api/v1/models`` (LM Studio ≥ 0.4) to ``ServerFacts``: every downloaded model, with
    ``loaded_instances`` giving the loaded state, how many instances (``instance_count``) and, from
    the instance a request reaches, the allocated context and ``parallel`` (its slots)."""
    facts: list[ServerFacts] = []
    for m in _models(data, "models", "the /api/v1/models reply"):
        caps = optional_mapping(m.get("capabilities") or None, "a model's capabilities")
        model_type = "embeddings" if m.get("type") == "embedding" else "vlm" if caps.get("vision") else "llm"
        fact: ServerFacts = {"name": str(field(m, "key", "a model entry")), "model_type": model_type}
        quantization = optional_mapping(m.get("quantization") or None, "a model's quantization")
        _put(fact, family=m.get("architecture"), quantization=quantization.get("name"),
             size_bytes=m.get("size_bytes"), parameter_size=m.get("params_string"),
             context_length=m.get("max_context_length"))
        instances = as_list(m.get("loaded_instances") or [], "loaded_instances")
        fact["loaded"] = bool(instances)
        if instances:
            fact["instance_count"] = len(instances)
        config = _served_config(instances, fact["name"])
        if allocated := count_or_none(config.get("context_length")):
            fact["loaded_context_length"] = allocated
        if slots := count_or_none(config.get("parallel")):
            fact["parallel_slots"] = slots
        reasoning = caps.get("reasoning")
        fact["capabilities"] = _capability_flags(
            model_type, vision=caps.get("vision"), tools=caps.get("trained_for_tool_use"),
            thinking=True if reasoning else None)
        _put_reasoning(fact, reasoning)
        facts.append(fact)
    return facts


def _put_reasoning(fact: ServerFacts, reasoning: Any) -> None:
    """``capabilities.reasoning`` ``{allowed_options, default}`` as the model's reasoning facts.

    >>> fact: ServerFacts = {"name": "m"}
    >>> _put_reasoning(fact, {"allowed_options": ["low", "medium", "high"], "default": "medium"}); fact
    {'name': 'm', 'reasoning_options': ('low', 'medium', 'high'), 'reasoning_default': 'medium'}
    """
    if not isinstance(reasoning, Mapping):
        return
    if options := options_from_wire(reasoning.get("allowed_options")):
        fact["reasoning_options"] = options
    default = options_from_wire([reasoning.get("default")])
    if default:
        fact["reasoning_default"] = default[0]


def facts_from_api_v0(data: Any) -> list[ServerFacts]:
    """``GET /api/v0/models`` (LM Studio ≥ 0.3.6) to ``ServerFacts``."""
    facts: list[ServerFacts] = []
    for m in _models(data, "data", "the /api/v0/models reply"):
        kind = m.get("type")
        model_type = kind if isinstance(kind, str) and kind in ("llm", "vlm", "embeddings") else "llm"
        fact: ServerFacts = {"name": str(field(m, "id", "a model entry")), "model_type": model_type,
                             "loaded": m.get("state") == "loaded"}
        _put(fact, family=m.get("arch"), quantization=m.get("quantization"),
             context_length=m.get("max_context_length"), loaded_context_length=m.get("loaded_context_length"))
        caps = m.get("capabilities")
        fact["capabilities"] = _capability_flags(
            model_type, vision=model_type == "vlm" if model_type != "embeddings" else None,
            tools=("tool_use" in caps) if isinstance(caps, list) else None)
        facts.append(fact)
    return facts


def _put(fact: ServerFacts, **values: Any) -> None:
    """Set the facts the server stated with a usable type: counts positive, texts non-empty strings."""
    for key, value in values.items():
        if key in ("size_bytes", "context_length", "loaded_context_length"):
            value = count_or_none(value)
        elif not isinstance(value, str) or not value:
            value = None
        if value is not None:
            fact[key] = value  # type: ignore[literal-required]


_LISTINGS = (("v1", "/api/v1/models", facts_from_api_v1), ("v0", "/api/v0/models", facts_from_api_v0))
_NOT_THERE = (CapabilityError, InvalidResponseError)  # 200 "Unexpected endpoint", 404, or another shape


def _with_instances(data: Any, *, parse: Callable[[Any], list[ServerFacts]], api: str,
                    ) -> tuple[list[ServerFacts], dict[str, Known]]:
    """A native listing's facts, and every model's loaded instances (for ``num_ctx``)."""
    return parse(data), known_from_listing(api, data)


class LMStudioBackend(OpenAICompatBackend):
    """LM Studio's server (default ``http://127.0.0.1:1234``); see the module docstring."""

    kind: ProviderKind = ProviderKind.LMSTUDIO
    default_flavor = "lmstudio"
    stats_chat_path = "/api/v0/chat/completions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rest_api: str | None = None  # "v1" / "v0" once a native listing answered
        self.jit: bool | None = None  # JIT loading on / off, as the last listing showed; None: cannot tell
        self.instances = Instances()  # loaded instances and their contexts, for num_ctx (lmstudio_context.py)

    def classify(self, status: int | None, body: Any) -> LocalProviderError:
        return classify_lmstudio_error(status, body)

    def _ttl(self, keep_alive: str | int | None) -> dict[str, Any]:
        ttl = ttl_seconds(keep_alive if keep_alive is not None else self.settings.keep_alive)
        return {} if ttl is None else {"ttl": ttl}

    def chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return {**super().chat_body(request, stream=stream), **self._ttl(request.keep_alive)}

    def chat_url(self, request: ChatRequest, *, stream: bool) -> str:
        if request.completion:
            return super().chat_url(request, stream=stream)
        path = self.stats_chat_path if self.rest_api and not stream else self.chat_path
        return self.base_url + path

    # -- num_ctx: the instance a request names (lmstudio_context.py) --------------------------
    def timeout_kind(self, model: str | None) -> TimeoutKind:
        owner = self.instances.model_of(model) if model else None
        if owner is not None and owner != model:
            return "normal"  # an instance patinox knows (``key:2``): loaded
        return super().timeout_kind(model)

    def _sized(self, request: ChatRequest) -> Operation[tuple[ChatRequest, float | None]]:
        """``request`` as sent: naming an instance whose context fits ``num_ctx`` (loaded first when
        none does), and the seconds that load took."""
        if not request.num_ctx or not request.model:
            return request, None
        model = request.model
        instance, seconds = yield from instance_plan(
            self.instances, model, request.num_ctx, service=self.base_url, native_api=lambda: self.rest_api,
            listing=self.facts_plan, load=partial(self._load_context, model))
        if instance == model:
            return request, seconds
        sized = request.renamed(instance)
        sized.num_ctx = None  # the instance has it
        return sized, seconds

    def _load_context(self, model: str, context: int) -> Operation[Loaded]:
        loaded = yield from load_instance(self._ctx(model, kind="cold", retries=0), self.base_url, model, context)
        if self.load_state is not None:  # the catalogue's context is that of the instance the key reaches
            self.load_state.mark(model, True, loaded.context if loaded.instance in (None, model) else None)
        return loaded

    def _gone(self, request: ChatRequest, sent: ChatRequest, err: LocalProviderError) -> bool:
        """Was the instance patinox named gone (unloaded elsewhere)? Then its instances are listed again."""
        if sent is request or not request.model or not isinstance(err, (ModelNotFoundError, ModelNotLoadedError)):
            return False
        self.instances.forget(request.model)
        return True

    def chat_plan(self, request: ChatRequest) -> Operation[ChatResult]:
        """The chat on an instance that fits ``num_ctx``; once more when that instance was gone."""
        sent, seconds = yield from self._sized(request)
        try:
            result: ChatResult = yield from super().chat_plan(sent)
        except LocalProviderError as err:
            if not self._gone(request, sent, err):
                raise
            sent, seconds = yield from self._sized(request)
            result = yield from super().chat_plan(sent)
        if result.metrics.load_duration_s is None:
            result.metrics.load_duration_s = seconds
        return result

    def stream_plan(self, request: ChatRequest, *, load_s: float | None = None) -> Operation[None]:
        """The stream on an instance that fits ``num_ctx``; once more when that instance was gone
        (the server says so before the first chunk)."""
        sent, seconds = yield from self._sized(request)
        try:
            yield from super().stream_plan(sent, load_s=seconds if seconds is not None else load_s)
        except LocalProviderError as err:
            if not self._gone(request, sent, err):
                raise
            sent, seconds = yield from self._sized(request)
            yield from super().stream_plan(sent, load_s=seconds)

    def embed_body(self, texts: Sequence[str], model: str, opts: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().embed_body(texts, model, opts), **self._ttl(opts.get("keep_alive"))}

    def embed_result(self, data: Any) -> EmbeddingResult:
        result = super().embed_result(data)
        if not result.usage.input_tokens and not result.usage.total_tokens:
            result.usage = Usage()  # LM Studio always reports 0: unknown, not zero
        return result

    def _remember(self, api: str | None, facts: list[ServerFacts]) -> list[ServerFacts]:
        self.rest_api = api
        return facts

    def _jit_plan(self, ctx: CallContext, api: str, facts: list[ServerFacts]) -> Operation[bool | None]:
        """JIT loading on or off (LM Studio has no endpoint that says): ``/api/v1/models`` lists every
        downloaded model, ``/v1/models`` and ``/api/v0/models`` only the loaded ones when JIT is off.
        A model not loaded yet listed by those says on; one missing says off; all loaded: unknown."""
        cold = [f["name"] for f in facts if f.get("loaded") is False]
        if not cold:
            return None
        if api == "v0":
            return True  # v0 lists a model not loaded only when JIT may load it
        try:
            listed = yield from call(ctx, "GET", self.base_url + self.models_path, parse=self._openai_facts)
        except LocalProviderError:
            return None
        return bool({f["name"] for f in listed} & set(cold))

    def server_notes(self) -> dict[str, Any]:
        """What the last listing taught about this server, for ``patinox status`` (no I/O): the native
        API, JIT loading, the idle TTL patinox sends (``keep_alive`` as ``ttl``; None: LM Studio's
        default, 60 min for JIT-loaded models) and whether an API token goes with each request."""
        return {"native_api": f"/api/{self.rest_api}" if self.rest_api else None, "jit_loading": self.jit,
                "idle_ttl_s": ttl_seconds(self.settings.keep_alive),
                "api_token": "Authorization" in self.settings.auth_headers(self.base_url)}

    def _openai_facts(self, data: Any) -> list[ServerFacts]:
        return models_from_wire(data, self.flavor)

    def facts_plan(self, probed: Mapping[str, Any] | None = None) -> Operation[list[ServerFacts]]:
        """``/api/v1/models``, else ``/api/v0/models``, else plain ``/v1/models``; remembers which
        answered, whether JIT loading is on and, from a native listing, which models are resident.
        (LM Studio has no fact endpoint discovery fetches: ``probed`` holds nothing for it.)"""
        ctx = self._ctx(None, retries=0)
        for api, path, parse in _LISTINGS:
            try:
                facts, known = yield from call(ctx, "GET", self.base_url + path,
                                               parse=partial(_with_instances, parse=parse, api=api))
            except _NOT_THERE:
                continue
            self.instances.listed(known)
            self.jit = yield from self._jit_plan(ctx, api, facts)
            return self._remember(api, facts)
        facts = yield from call(ctx, "GET", self.base_url + self.models_path, parse=self._openai_facts)
        return self._remember(None, facts)

    # -- model management (lmstudio_models.py) ----------------------------------------------
    download_poll_s = 0.5  # seconds between download status polls

    def pull_plan(self, model: str, tally: PullTally) -> Operation[None]:
        """Download ``model`` (a catalog id or a Hugging Face URL) and follow its job."""
        ctx = self.transport.context(self.base_url, partial(classify_download, model=model,
                                                            fallback=classify_lmstudio_error), model=model,
                                     unreachable_hint=self.unreachable_hint, retries=0)
        yield from download(ctx, self.base_url, model, tally, self.download_poll_s)

    def pull_left(self, model: str, tally: PullTally) -> str:
        return left_in_lmstudio(tally.job, tally)

    def load_plan(self, model: str, keep_alive: str | int | None = None, *, loaded: bool = True,
                  context: int | None = None) -> Operation[ProgressEvent]:
        """Load ``model`` (``keep_alive`` as the idle ttl of an on-demand load; ``context`` through the
        load endpoint) or unload every instance; the catalogue learns the state and allocated context."""
        ttl = ttl_seconds(keep_alive if keep_alive is not None else self.settings.keep_alive) if loaded else None
        ctx = self._ctx(model, kind="cold" if loaded else "normal", retries=0)
        done = yield from load_model(ctx, self._ctx(None, retries=0), self.base_url, model, ttl, context, loaded)
        if not loaded:
            self.instances.unloaded(model)
        elif done.context:
            self.instances.loaded(model, done, context or done.context)
        else:
            self.instances.forget(model)  # the allocation was not said: the next num_ctx request lists first
        if self.load_state is not None:
            self.load_state.mark(model, loaded, done.context if done.instance in (None, model) else None)
        return ProgressEvent(model, self.base_url, "loaded" if loaded else "unloaded", seconds=done.seconds,
                             total=done.context)


__all__ = [
    "LMStudioBackend",
    "classify_lmstudio_error",
    "facts_from_api_v0",
    "facts_from_api_v1",
    "ttl_seconds",
]

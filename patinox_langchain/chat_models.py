"""``ChatPatinox``: a LangChain chat model over every local model server patinox finds.

Each method maps LangChain types to neutral ones (``_convert.py``), calls ``LocalProvider`` and maps
back. The provider is created lazily at the first call, never in ``__init__``; nothing here opens a
socket, parses JSON or probes a capability.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, model_validator

import patinox_core.types as core
from patinox_core.arguments import ArgumentError, field_names, from_validation_error, suggest
from patinox_core.errors import ConfigurationError
from patinox_core.private_state import private
from patinox_core.provisioning.once import Readiness
from patinox_core.request_checks import check_tools

from . import _convert as conv
from ._requires import RequiresMixin
from ._structured import reply_guard, schema_parser

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from patinox_core.capabilities import ModelInfo
    from patinox_core.config import LocalSettings
    from patinox_core.router import LocalProvider

Reasoning = bool | Literal["low", "medium", "high", "max"] | None

#: Sampling/transport knobs that are both fields and per-call keyword arguments.
_PARAMS = ("temperature", "max_tokens", "top_p", "top_k", "seed", "timeout", "max_retries", "keep_alive", "num_ctx",
           "session_id", "logprobs", "top_logprobs", "truncate", "shift")
#: Every keyword argument ``invoke``/``stream``/``bind`` may carry; anything else is an error.
CALL_KWARGS = frozenset({*_PARAMS, "model", "reasoning", "format", "response_format", "tools", "tool_choice",
                         "options", "stream", "parallel_tool_calls", "stream_usage"})
#: The fields that identify a configured model (``_identifying_params``: tracing, cache keys).
_IDENTIFYING = ("model", "base_url", "provider", *_PARAMS, "stop", "reasoning", "format", "options")
_PROVIDER_LOCK = threading.Lock()


def profile_from(info: ModelInfo) -> ModelProfile:
    """A LangChain model profile from the catalogue's facts about one model, by the rule LlamaIndex's
    ``metadata`` follows too (``ModelInfo.supports``: a flag is False only when the model is known to
    lack it). ``max_input_tokens`` is the effective window, left out when unknown."""
    tools = info.supports("tools")
    profile = ModelProfile(
        text_inputs=True,
        text_outputs=True,
        image_inputs=info.supports("vision"),
        image_url_inputs=info.supports("vision"),  # URLs are fetched client-side where the server needs base64
        tool_calling=tools,
        tool_choice=tools,
        tool_call_streaming=tools,
        structured_output=info.supports("structured_output"),
        reasoning_output=info.supports("thinking"),
    )
    context = info.effective_context_length
    if context:
        profile["max_input_tokens"] = int(context)
    if info.capabilities.thinking:
        known = info.reasoning_options  # what the model allows, where known
        levels = [o for o in known or ("low", "medium", "high") if o in ("low", "medium", "high", "max")]
        if levels:
            profile["reasoning_effort_levels"] = levels
            if known and info.reasoning_default in levels:
                profile["reasoning_effort_default"] = info.reasoning_default
    return profile


class _ProviderMixin(BaseModel):
    """Server pinning and the lazily created ``LocalProvider``, shared by the chat model and the
    embeddings."""

    base_url: str | None = None
    """Pin one server, e.g. ``http://127.0.0.1:11434``; no other server is probed."""
    base_url_credentials: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """``user:pass`` split off ``base_url`` (never shown or serialized)."""

    @model_validator(mode="before")
    @classmethod
    def _hide_url_credentials(cls, data: Any) -> Any:
        from patinox_core.urls import hide_url_credentials  # deferred: urls loads the kinds registry (~8 ms)
        return hide_url_credentials(data)

    provider: str | None = None
    """Server kind: ``"ollama"``, ``"lmstudio"``, ``"openai_compatible"`` or ``"local"`` (auto)."""

    _provider: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:  # one clear error naming the argument (and the nearest valid name)
            raise from_validation_error(exc, type(self).__name__, field_names(type(self))) from None

    def _settings(self) -> LocalSettings:
        from patinox_core.pinning import pinned_settings  # deferred: LocalSettings + kinds cost ~12 ms at import
        return pinned_settings(base_url=self.base_url, provider=self.provider, credentials=self.base_url_credentials,
                               api_key=getattr(self, "api_key", None))

    def _get_provider(self) -> LocalProvider:
        client = getattr(self, "client", None)
        if client is not None:
            return cast("LocalProvider", client)  # typed Any so that pydantic need not import LocalProvider
        provider = private(self, "_provider")
        if provider is None:
            from patinox_core.router import LocalProvider

            with _PROVIDER_LOCK:
                if private(self, "_provider") is None:
                    self._provider = LocalProvider(self._settings())
            provider = private(self, "_provider")
        return provider  # type: ignore[no-any-return]


class ChatPatinox(RequiresMixin, _ProviderMixin, BaseChatModel):
    """Chat with a model on Ollama, LM Studio or any OpenAI-compatible server on your machine or network.

    ``model`` may be omitted (the configured default, else the best available chat model), or
    chosen by what it must do with ``requires=`` (``{"tools": True, "min_context": 32768}``);
    ``base_url``/``provider`` pin one server, otherwise every discovered server is used, with
    fallback between servers holding the same model. See ``docs/langchain.md``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = None
    """Model name (exact, ``name:latest`` or a unique prefix). ``None``: the default/best chat model."""
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = Field(default=None, gt=0)
    """Request timeout in seconds: the read timeout of a loaded model's reply; a model that must load
    first gets ``max(timeout, cold_load_timeout)`` (``patinox_core.timeouts``). Connect stays short."""
    max_retries: int | None = Field(default=None, ge=0)
    reasoning: Reasoning = None
    """Thinking: ``True``/``False`` or an effort level (``"low"``, ``"medium"``, ``"high"``, ``"max"``),
    checked against what the model allows (``CapabilityError`` names the allowed values). The
    reasoning text goes to ``additional_kwargs["reasoning_content"]`` (a ``reasoning`` content
    block in ``content_blocks`` and with ``output_version="v1"``), never into ``content``."""
    keep_alive: str | int | None = None
    session_id: str | None = None
    """A conversation's id: its turns go to the server that served the earlier ones (whose prompt
    cache holds the prefix); also a per-call argument. Without it, a hash of the conversation's
    prefix (system messages, tools, first user message) does the same."""
    num_ctx: int | None = Field(default=None, gt=0)
    logprobs: bool | None = None
    """Return each output token's log probability in ``response_metadata["logprobs"]`` (as ChatOpenAI:
    ``{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}``); also a per-call argument."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """How many most likely alternatives to return per token (0-20; implies ``logprobs``)."""
    truncate: bool | None = None
    """Ollama: drop the oldest turns when the prompt does not fit (the server's default); ``False``:
    keep them. Other servers ignore it."""
    shift: bool | None = None
    """Ollama: shift the context when the prompt or reply fills it (default); ``False``: refuse with
    ``ContextOverflowError`` instead of silently losing input. Other servers ignore it."""
    format: Literal["", "json"] | dict[str, Any] | None = None
    """``"json"`` or a JSON schema: constrain the reply."""
    options: dict[str, Any] | None = None
    """Server-specific extras passed through unchanged (e.g. Ollama ``repeat_penalty``)."""
    api_key: SecretStr | None = Field(default_factory=secret_from_env("PATINOX_API_KEY", default=None))
    """For servers behind auth (sent as a Bearer token); never logged."""
    streaming: bool = False
    """``invoke`` streams internally (callbacks see every token)."""
    stream_usage: bool | None = None
    """Accepted so ``ChatOpenAI`` arguments carry over; a no-op: a stream's last chunk always carries
    ``usage_metadata`` when the server reports token counts (llama-cpp-python never does while streaming)."""
    client: Any = Field(default=None, exclude=True)
    """A ``LocalProvider`` to share between models (one catalogue, one connection pool)."""
    pull_if_missing: bool = False
    """Before the first request, download ``model`` when no server has it (Ollama, else LM Studio),
    with a progress bar on stderr. Off by default: a pull can be gigabytes."""
    preload: bool = False
    """Before the first request, load the model (``num_ctx`` allocated, kept for ``keep_alive``), with
    progress on stderr, so the first reply does not wait for a cold load."""

    _resolved: str | None = PrivateAttr(default=None)  # the model the router picked for this instance
    _readiness: Readiness = PrivateAttr(default_factory=Readiness)  # pull_if_missing / preload, once

    # -- LangChain plumbing ----------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "patinox"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    def to_json(self) -> Any:
        """LangChain's serialized form, with ``requires`` as the plain dict ``requires=`` accepts."""
        data = super().to_json()
        if self.requires is not None and data["type"] == "constructor":  # LangChain always sets "type"
            data["kwargs"]["requires"] = self.requires.model_dump(mode="json", exclude_defaults=True)
        return data

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "PATINOX_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {n: v for n in _IDENTIFYING if (v := getattr(self, n)) is not None}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model") or self.model or self._resolved or "auto"
        params = LangSmithParams(ls_provider="patinox", ls_model_name=model, ls_model_type="chat")
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or kwargs.get("stop") or self.stop:
            params["ls_stop"] = list(stop)
        return params

    # -- request building (pure apart from reading fields) ------------------------------------
    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> core.ChatRequest:
        if kwargs and not CALL_KWARGS.issuperset(kwargs):
            unknown = sorted(set(kwargs) - CALL_KWARGS)
            hint = suggest(unknown[0], CALL_KWARGS - {"stream"})
            raise ArgumentError(f"ChatPatinox got unknown argument(s) {unknown}",
                                hint=f"{hint}; server extras go in options={{...}}")
        tools = kwargs.get("tools") or None
        names = [t.get("function", t).get("name", "") for t in tools or ()]
        fmt = kwargs["format"] if "format" in kwargs else kwargs.get("response_format", self.format)
        stop = stop if stop is not None else self.stop
        return core.ChatRequest(
            model=kwargs.get("model") or self.model or self._chosen_name(),
            messages=conv.to_messages(messages),
            tools=tools,
            tool_choice=conv.to_tool_choice(kwargs.get("tool_choice"), names),
            stop=list(stop) if stop else None,
            response_format=conv.to_response_format(fmt),
            think=kwargs.get("reasoning", self.reasoning),
            options={**(self.options or {}), **(kwargs.get("options") or {})},
            **self._params(kwargs),
        )

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``_PARAMS`` from the fields, each overridden by a per-call value when one is given."""
        params = {name: getattr(self, name) for name in _PARAMS}
        if kwargs:
            params.update((name, kwargs[name]) for name in _PARAMS if name in kwargs)
        return params

    def _learn(self, info: ModelInfo | None, own: bool) -> str | None:
        """The answering server's kind (for ``model_provider``) and, for this instance's own model, the
        ``profile``: both from the catalogue entry the reply carries (``ChatResult.info``), no lookup."""
        if info is None:  # a provider that does not say (a bare backend as client)
            from patinox_core.kinds import parse_kind  # deferred: the kinds registry costs ~7 ms at import
            pinned = parse_kind(self.provider).value if self.provider else None
            return pinned if pinned != "local" else None
        if own:
            if private(self, "_resolved") is None:  # once: a pydantic private attribute costs a few µs to set
                self._resolved = info.name
            if self.profile is None:
                self.profile = profile_from(info)
        return info.kind.value

    def _finish(self, message: AIMessage, kwargs: dict[str, Any]) -> AIMessage:
        if kwargs.get("parallel_tool_calls") is False and len(message.tool_calls) > 1:
            message.tool_calls = message.tool_calls[:1]
        return message

    # -- the four native entry points -------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        kwargs.pop("stream", None)
        if self.requires is not None and self._pending(kwargs):
            self._choose()
        req = self._request(messages, stop, kwargs)
        if self.pull_if_missing or self.preload:
            self._ready()
        result = self._get_provider().chat(req)
        kind = self._learn(result.info, own=not kwargs.get("model"))
        return ChatResult(generations=[ChatGeneration(message=self._finish(conv.to_ai_message(result, kind=kind),
                                                                           kwargs))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        kwargs.pop("stream", None)
        if self.requires is not None and self._pending(kwargs):
            await self._achoose()
        req = self._request(messages, stop, kwargs)
        if self.pull_if_missing or self.preload:
            await self._aready()
        result = await self._get_provider().achat(req)
        kind = self._learn(result.info, own=not kwargs.get("model"))
        return ChatResult(generations=[ChatGeneration(message=self._finish(conv.to_ai_message(result, kind=kind),
                                                                           kwargs))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        kwargs.pop("stream", None)
        if self.requires is not None and self._pending(kwargs):
            self._choose()
        req = self._request(messages, stop, kwargs)
        state = _StreamState(self, kwargs)
        if self.pull_if_missing or self.preload:
            self._ready()
        for chunk in self._get_provider().stream_chat(req):
            yield state.convert(chunk)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        kwargs.pop("stream", None)
        if self.requires is not None and self._pending(kwargs):
            await self._achoose()
        req = self._request(messages, stop, kwargs)
        state = _StreamState(self, kwargs)
        if self.pull_if_missing or self.preload:
            await self._aready()
        async for chunk in self._get_provider().astream_chat(req):
            yield state.convert(chunk)

    # -- pull_if_missing / preload (patinox_core.provisioning.once) ---------------------------
    def _ready(self) -> None:
        self._readiness.ready(self._get_provider(), self.model or self._chosen_name(), pull=self.pull_if_missing,
                              load=self.preload, keep_alive=self.keep_alive, context=self.num_ctx)

    async def _aready(self) -> None:
        await self._readiness.aready(self._get_provider(), self.model or self._chosen_name(),
                                     pull=self.pull_if_missing, load=self.preload, keep_alive=self.keep_alive,
                                     context=self.num_ctx)

    # -- catalogue --------------------------------------------------------------------------
    def resolve(self) -> ModelInfo:
        """Ask the catalogue about ``model`` now (network I/O), or make the ``requires=`` choice, and
        fill ``profile`` from it."""
        if self.requires is not None:
            return self._chosen or self._choose()
        info = self._get_provider().get_model(self.model) if self.model else self._default_info()
        self._adopt(info)
        return info

    async def aresolve(self) -> ModelInfo:
        """Async twin of ``resolve``."""
        if self.requires is not None:
            return self._chosen or await self._achoose()
        provider = self._get_provider()
        info = await provider.aget_model(self.model) if self.model else self._default_info()
        self._adopt(info)
        return info

    def _default_info(self) -> ModelInfo:
        raise ConfigurationError("resolve() needs a model name", hint="pass model=... or requires=... to ChatPatinox")

    def _adopt_choice(self, info: ModelInfo) -> ModelInfo:
        """The ``requires=`` choice: this instance's model from now on, and ``profile`` follows it."""
        self._chosen = info
        self._resolved = info.name
        if self.profile is None:
            self.profile = profile_from(info)
        return info

    def _adopt(self, info: ModelInfo) -> None:
        self._resolved = info.name
        if self.profile is None:
            self.profile = profile_from(info)

    # -- tools and structured output ------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; ``tool_choice`` is ``"auto"``, ``"any"``/``"required"``, ``"none"`` or a tool name.

        A required or named choice is always enforced: where a server ignores ``tool_choice``
        the request itself is narrowed, never silently dropped.
        """
        specs = conv.to_tool_specs(tools)
        check_tools(specs)  # a spec without a name or with non-schema parameters fails here, clearly
        choice = conv.to_tool_choice(tool_choice, [s["function"]["name"] for s in specs])
        if choice is not None:
            kwargs["tool_choice"] = choice
        return super().bind(tools=specs, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Replies parsed into ``schema`` (pydantic class, TypedDict or JSON schema).

        ``json_schema`` (default) constrains decoding with the schema; ``function_calling`` forces
        a call of a tool shaped like the schema; ``json_mode`` asks for any JSON (describe the
        shape in the prompt). ``strict`` is accepted for compatibility: both servers already
        enforce the schema with a grammar.
        """
        if kwargs:
            raise ConfigurationError(f"with_structured_output got unknown argument(s) {sorted(kwargs)}",
                                     hint="use schema, method, include_raw or strict")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        ls_format = {"kwargs": {"method": method}, "schema": schema}
        if method == "function_calling":
            if schema is None:
                raise ConfigurationError("method='function_calling' needs a schema", hint="pass a schema")
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, ls_structured_output_format=ls_format)
            parser = schema_parser(schema, is_pydantic, tool_name=name)
        elif method in ("json_schema", "json_mode"):
            if method == "json_schema" and schema is None:
                raise ConfigurationError("method='json_schema' needs a schema", hint="pass a schema or use json_mode")
            fmt = "json" if method == "json_mode" else json_schema_of(schema)
            llm = self.bind(format=fmt, ls_structured_output_format=ls_format)
            parser = schema_parser(schema, is_pydantic)
        else:
            raise ConfigurationError(f"unknown structured output method {method!r}",
                                     hint="use 'json_schema', 'function_calling' or 'json_mode'")
        parser = reply_guard() | parser  # a cut-off reply or an unreadable call is an error, never repaired
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks([fallback], exception_key="parsing_error")



# LangChain calls ``inspect.signature(self._generate)`` (and ``_agenerate``) on every call. Kept on
# measurement: computing it costs 16-22 µs per ``invoke`` on this path, about 5% of the LangChain
# framework floor that ``ChatPatinox.invoke`` must stay within 1.10x of (benchmarks/RESULTS.md).
for _native in (ChatPatinox._generate, ChatPatinox._agenerate):
    _native.__signature__ = inspect.signature(_native)  # type: ignore[union-attr]  # functions take attributes
del _native


def json_schema_of(schema: Any) -> dict[str, Any]:
    """A JSON schema from a pydantic (v1 or v2) class, a TypedDict, or a JSON schema dict."""
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return cast("dict[str, Any]", schema.model_json_schema())
    if isinstance(schema, type) and hasattr(schema, "schema") and is_basemodel_subclass(schema):
        return cast("dict[str, Any]", schema.schema())
    out = convert_to_json_schema(schema)
    if "properties" in out and "required" not in out:
        out["required"] = list(out["properties"])
    return out


class _StreamState:
    """Per-stream bookkeeping: tool-call numbering and the one-call limit of ``parallel_tool_calls=False``."""

    def __init__(self, model: ChatPatinox, kwargs: dict[str, Any]) -> None:
        self.model = model
        self.parallel = kwargs.get("parallel_tool_calls")
        self.own = not kwargs.get("model")
        self.tool_index = 0
        self.blocks = conv.BlockCounter() if model.output_version == "v1" else None

    def convert(self, chunk: core.ChatChunk) -> ChatGenerationChunk:
        if (chunk.finish_reason is None and self.blocks is None and not chunk.thinking and not chunk.tool_calls
                and not chunk.invalid_tool_calls and chunk.logprobs is None):  # most chunks: text and nothing else
            return ChatGenerationChunk(message=AIMessageChunk(content=chunk.content))
        if self.parallel is False and chunk.tool_calls:
            chunk.tool_calls = chunk.tool_calls[: max(0, 1 - self.tool_index)]
        kind = self.model._learn(chunk.info, self.own) if chunk.is_final else None
        message = conv.to_ai_chunk(chunk, kind=kind, tool_index=self.tool_index, v1=self.blocks)
        self.tool_index += len(chunk.tool_calls) + len(chunk.invalid_tool_calls)
        return ChatGenerationChunk(message=message)


__all__ = ["CALL_KWARGS", "ChatPatinox", "json_schema_of", "profile_from"]

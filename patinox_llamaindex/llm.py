"""``Patinox``: a LlamaIndex ``FunctionCallingLLM`` backed by patinox's ``LocalProvider``.

Only LlamaIndex <-> neutral mapping lives here (``_convert.py``); discovery, routing, wire formats,
timeouts and errors belong to ``patinox_core``. Nothing touches the network in ``__init__`` or in
``metadata``: the catalogue entry is looked up once, explicitly with ``resolve()``/``aresolve()`` or
lazily at the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.generic_utils import (
    astream_chat_response_to_completion_response,
    chat_response_to_completion_response,
    stream_chat_response_to_completion_response,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]  # documented, no __all__
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.llm import ToolSelection
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr

from patinox_core import types as core
from patinox_core.arguments import construct
from patinox_core.errors import LocalProviderError
from patinox_core.private_state import private
from patinox_core.provisioning.once import Readiness

from . import _convert as cv
from . import _runtime as choice
from ._runtime import PinnedServer, RequiresField, _check_exclusive, _Runtime, build_local_provider
from ._structured import StructuredOutputLLM

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

    from patinox_core.capabilities import ModelInfo
    from patinox_core.config import LocalSettings
    from patinox_core.router import LocalProvider

dispatcher = get_dispatcher(__name__)

ThinkSetting = bool | Literal["low", "medium", "high", "max"] | None


#: Fields that are a request's defaults (``timeout`` lives in the settings' ``read_timeout``: same meaning).
_DEFAULT_FIELDS = (*(n for n in cv.REQUEST_FIELDS if n != "timeout"), "model", "thinking", "format",
                   "additional_kwargs")


class Patinox(RequiresField, PinnedServer, StructuredOutputLLM):
    """Any chat model on the local servers patinox finds (Ollama, LM Studio, OpenAI-compatible).

    ``model=None`` lets the router pick (``PATINOX_DEFAULT_MODEL`` or the best chat model found);
    ``requires=`` chooses by what the model must do (``{"tools": True, "min_context": 32768}``).
    ``base_url`` pins one server; ``provider`` restricts discovery to one server kind. Unset
    sampling fields are not sent, so the server's own defaults apply.
    """

    model: str | None = Field(default=None, description="Model name; None: the router's default chat model.")
    temperature: float | None = Field(default=None, ge=0.0)
    max_tokens: int | None = Field(default=None, gt=0, description="Maximum tokens to generate.")
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = Field(
        default=None, gt=0, description="Request timeout (s): the read timeout of a loaded model's reply; a model "
                                        "that must load first gets max(timeout, cold_load_timeout)."
    )
    max_retries: int | None = Field(default=None, ge=0, le=10)
    thinking: ThinkSetting = Field(
        default=None,
        validation_alias=AliasChoices("thinking", "reasoning"),
        description="Reasoning: True/False or 'low'/'medium'/'high'/'max', checked against what the model "
                    "allows; a per-call think=... wins.",
    )
    keep_alive: str | int | None = Field(default=None, description="How long the server keeps the model loaded.")
    session_id: str | None = Field(default=None, description="A conversation's id: its turns go to the server that "
                                   "served the earlier ones (its prompt cache); by default a hash of the prefix.")
    num_ctx: int | None = Field(default=None, gt=0, description="Context to allocate; None: the server's choice.")
    logprobs: bool | None = Field(default=None, description="Output tokens' log probabilities (ChatResponse.logprobs).")
    top_logprobs: int | None = Field(default=None, ge=0, le=20, description="0-20 alternatives per token.")
    truncate: bool | None = Field(default=None, description="Ollama: drop the oldest turns of a too long prompt.")
    shift: bool | None = Field(default=None, description="Ollama: False refuses an overflowing prompt (no shifting).")
    format: Literal["json"] | dict[str, Any] | None = Field(default=None, description="'json' or a JSON schema.")
    context_window: int | None = Field(default=None, gt=0, description="Override metadata.context_window.")
    is_function_calling_model: bool | None = Field(default=None, description="Override the catalogue's tools flag.")
    is_chat_model: bool | None = Field(
        default=None, description="Override the catalogue's chat flag; False: complete() sends a raw prompt."
    )
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, description="Server-specific options.")
    api_key: SecretStr | None = Field(default=None, exclude=True, description="For servers behind auth (or env).")
    pull_if_missing: bool = Field(default=False, description="Before the first request, download the model when "
                                  "no server has it, with a progress bar (off by default: gigabytes).")
    preload: bool = Field(default=False, description="Before the first request, load the model (num_ctx, "
                          "keep_alive) with progress, so the first reply does not wait for a cold load.")

    _rt: _Runtime = PrivateAttr(default_factory=_Runtime)
    _readiness: Readiness = PrivateAttr(default_factory=Readiness)

    def __init__(
        self,
        model: str | None = None,
        *,
        local_provider: LocalProvider | None = None,
        settings: LocalSettings | None = None,
        **kwargs: Any,
    ) -> None:
        """``local_provider`` shares one catalogue between several LLMs/embeddings; ``settings``
        replaces environment-derived settings. Neither is contacted here."""
        construct(super().__init__, type(self), model=model, **kwargs)
        _check_exclusive(self, local_provider, settings)
        self._rt = _Runtime(local_provider, settings)

    @classmethod
    def class_name(cls) -> str:
        return "Patinox_llm"

    # -- provider and catalogue ---------------------------------------------------------
    @property
    def local_provider(self) -> LocalProvider:
        """The ``LocalProvider`` (created on first use; creating it does no network I/O)."""
        rt: _Runtime = private(self, "_rt")
        return rt.local if rt.local is not None else rt.provider(self._build)

    def _build(self, settings: LocalSettings | None) -> LocalProvider:
        return build_local_provider(self, settings)

    @property
    def model_info(self) -> ModelInfo | None:
        """The resolved catalogue entry, or None before ``resolve()`` / the first request."""
        return self._rt.info.get(self.model)

    def resolve(self, model: str | None = None) -> ModelInfo:
        """Look the model up in the catalogue (network I/O) and keep it for ``metadata``.
        ``model=None``: this LLM's model, or its ``requires=`` choice, else the router's default."""
        if model is None and self.requires is not None:
            return self._rt.info.get(None) or choice.choose(self)
        info = self._rt.info[self.model] = self.local_provider.get_model(model or self.model)
        return info

    async def aresolve(self, model: str | None = None) -> ModelInfo:
        """Async ``resolve()``."""
        if model is None and self.requires is not None:
            return self._rt.info.get(None) or await choice.achoose(self)
        info = self._rt.info[self.model] = await self.local_provider.aget_model(model or self.model)
        return info

    def _ready(self) -> None:
        """``pull_if_missing`` / ``preload``: ``ensure_model`` once, before the first request (callers check
        that one of them is set: the check stays off the per-call path)."""
        self._readiness.ready(self.local_provider, choice.own_model(self), pull=self.pull_if_missing,
                              load=self.preload, keep_alive=self.keep_alive, context=self.num_ctx)

    async def _aready(self) -> None:
        await self._readiness.aready(self.local_provider, await choice.aown_model(self), pull=self.pull_if_missing,
                                     load=self.preload, keep_alive=self.keep_alive, context=self.num_ctx)

    def _after(self, request: core.ChatRequest, info: ModelInfo | None) -> None:
        """Resolve lazily: the first reply to a request for this LLM's own model (not a per-call
        ``model=``) carries the catalogue entry that answered; ``metadata`` reads it from then on."""
        if info is not None and request.model == self.model and self.model not in (rt := private(self, "_rt")).info:
            rt.info[self.model] = info

    @property
    def metadata(self) -> LLMMetadata:
        """Effective context window and capability flags; no network I/O (defaults until resolved)."""
        return cv.to_metadata(
            self.model_info,
            model=self.model,
            context_window=self.context_window or self.num_ctx,  # num_ctx is what the server allocates
            num_output=self.max_tokens,
            is_function_calling_model=self.is_function_calling_model,
            is_chat_model=self.is_chat_model,
        )

    def to_payload(self) -> dict[str, Any]:
        """``{"class_name", **metadata}`` for LlamaIndex's events (asked on every call): rebuilt only
        when the resolved entry or a field ``metadata`` reads changes."""
        if type(self).metadata is not Patinox.metadata:  # a subclass computes its own
            return super().to_payload()
        rt = private(self, "_rt")
        info = rt.info.get(self.model)
        fields = (self.model, self.context_window, self.num_ctx, self.max_tokens, self.is_function_calling_model,
                  self.is_chat_model)
        cached = rt.payload
        if cached is None or cached[0] is not info or cached[1] != fields:
            cached = rt.payload = (info, fields, super().to_payload())
        return dict(cached[2])

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> core.ChatRequest:
        defaults = {name: getattr(self, name) for name in _DEFAULT_FIELDS}
        defaults["model"] = choice.own_model(self, kwargs)  # requires= chooses here (the async paths before)
        return cv.to_chat_request(messages, defaults=defaults, call=kwargs)

    # -- chat: one implementation, sync and async differ only in the provider call -------
    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        request = self._request(messages, kwargs)
        if self.pull_if_missing or self.preload:
            self._ready()
        result = self.local_provider.chat(request)
        self._after(request, result.info)
        return cv.from_core_result(result)

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        await choice.aown_model(self, kwargs)
        request = self._request(messages, kwargs)
        if self.pull_if_missing or self.preload:
            await self._aready()
        result = await self.local_provider.achat(request)
        self._after(request, result.info)
        return cv.from_core_result(result)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_requested(self._request(messages, kwargs))  # bad input fails here, before any I/O

    def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        if choice.choice_pending(self, kwargs):  # choose inside the stream, without blocking the loop
            return choice.chosen_first(self, kwargs, lambda: self._astream_requested(self._request(messages, kwargs)))
        return self._astream_requested(self._request(messages, kwargs))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return self._astream_chat(messages, **kwargs)

    # -- completion: one user message, or a raw prompt for a model that is no chat model ----
    @staticmethod
    def _prompt(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    def _completion_request(self, prompt: str, kwargs: dict[str, Any], raw: bool) -> core.ChatRequest:
        request = self._request(self._prompt(prompt), kwargs)
        return replace(request, completion=True) if raw else request

    def _raw_prompt(self) -> bool:
        """``cv.uses_completions`` on the catalogue entry, looked up first when not known yet."""
        choice.own_model(self)  # requires= chooses first
        if self.is_chat_model is None and self.model_info is None and self.model:
            try:
                self.resolve()
            except LocalProviderError:
                pass  # the request itself will say what is wrong
        return cv.uses_completions(self.model_info, self.is_chat_model)

    async def _araw_prompt(self) -> bool:
        await choice.aown_model(self)
        if self.is_chat_model is None and self.model_info is None and self.model:
            try:
                await self.aresolve()
            except LocalProviderError:
                pass
        return cv.uses_completions(self.model_info, self.is_chat_model)

    def _complete(self, prompt: str, kwargs: dict[str, Any]) -> CompletionResponse:
        request = self._completion_request(prompt, kwargs, self._raw_prompt())
        if self.pull_if_missing or self.preload:
            self._ready()
        result = self.local_provider.chat(request)
        self._after(request, result.info)
        return chat_response_to_completion_response(cv.from_core_result(result))

    async def _acomplete(self, prompt: str, kwargs: dict[str, Any]) -> CompletionResponse:
        request = self._completion_request(prompt, kwargs, await self._araw_prompt())
        if self.pull_if_missing or self.preload:
            await self._aready()
        result = await self.local_provider.achat(request)
        self._after(request, result.info)
        return chat_response_to_completion_response(cv.from_core_result(result))

    def _stream_requested(self, request: core.ChatRequest) -> ChatResponseGen:
        def gen() -> ChatResponseGen:
            acc = cv.StreamAccumulator()
            if self.pull_if_missing or self.preload:
                self._ready()
            for chunk in self.local_provider.stream_chat(request):
                if chunk.info is not None:  # the last chunk carries the entry that answered
                    self._after(request, chunk.info)
                yield acc.feed(chunk)

        return gen()

    def _astream_requested(self, request: core.ChatRequest) -> ChatResponseAsyncGen:
        async def gen() -> ChatResponseAsyncGen:
            acc = cv.StreamAccumulator()
            if self.pull_if_missing or self.preload:
                await self._aready()
            async for chunk in self.local_provider.astream_chat(request):
                if chunk.info is not None:  # the last chunk carries the entry that answered
                    self._after(request, chunk.info)
                yield acc.feed(chunk)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._complete(prompt, kwargs)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await self._acomplete(prompt, kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        request = self._completion_request(prompt, kwargs, self._raw_prompt())
        return stream_chat_response_to_completion_response(self._stream_requested(request))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        request = self._completion_request(prompt, kwargs, await self._araw_prompt())
        return astream_chat_response_to_completion_response(self._astream_requested(request))

    # -- tools --------------------------------------------------------------------------
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Chat kwargs for ``chat_with_tools``; the caller's ``chat_history`` is not modified."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        specs = cv.tool_specs(tools)
        choice = cv.tool_choice(kwargs.pop("tool_choice", None), required=tool_required)
        return {"messages": messages, "tools": specs or None, "tool_choice": choice, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return response if allow_parallel_tool_calls else cv.keep_first_tool_call(response)

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """Each ``ToolCallBlock`` as a ``ToolSelection`` whose ``tool_id`` is the call's unique id."""
        selections = cv.tool_selections(response)
        if not selections and error_on_no_tool_call:
            raise ValueError(f"Expected at least one tool call, but got 0 tool calls: {response.message.content!r}")
        return selections


# LlamaIndex's span wrapper runs ``inspect.signature(method).bind(...)`` on every call. Kept on
# measurement: computing it costs 13-19 µs per ``chat`` on this path, about 4% of the LlamaIndex
# framework floor that ``Patinox.chat`` must stay within 1.10x of (benchmarks/RESULTS.md).
for _name in ("chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete", "stream_complete",
              "astream_complete"):
    _fn = inspect.getattr_static(Patinox, _name)
    _fn = getattr(_fn, "__wrapped__", _fn)  # under the dispatcher's span wrapper, when there is one
    _fn.__signature__ = inspect.signature(_fn)
del _name, _fn

__all__ = ["Patinox"]

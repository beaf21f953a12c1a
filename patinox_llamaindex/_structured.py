"""``Patinox.structured_predict`` and its variants through the server's JSON-schema mode, and their
reply check (``patinox_core.structured``'s rule).

A reply cut off by ``max_tokens`` is never validated into the output class, not even by the
streaming variants' partial-JSON repair: ``StructuredOutputError`` (an ``InvalidResponseError``
with a hint, and a ``ValueError`` as LlamaIndex's programs expect of a bad output) says to raise
``max_tokens``. Unreadable tool-call arguments need no check here: they reach the output class as
raw text and fail its (pydantic) validation, as in LlamaIndex's own function-calling program.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]  # documented, no __all__
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.types import PydanticProgramMode

from patinox_core.errors import InvalidResponseError, RecoveryStrategy
from patinox_core.structured import structured_reply_problem

if TYPE_CHECKING:
    from llama_index.core.prompts import PromptTemplate
    from pydantic import BaseModel

dispatcher = get_dispatcher(__name__)


class StructuredOutputError(InvalidResponseError, ValueError):
    """A reply that cannot be structured output (cut off by ``max_tokens``)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


def check_response(response: ChatResponse | None) -> None:
    """Raise ``StructuredOutputError`` when ``response`` (a complete or final streamed one) stopped for length."""
    extra = response.additional_kwargs if response is not None else {}
    problem = structured_reply_problem(extra.get("finish_reason"))
    if problem is not None:
        text, hint = problem
        raise StructuredOutputError(text, hint=hint, model=extra.get("model"), service=extra.get("service"))


def _start_event(output_cls: type[BaseModel], prompt: PromptTemplate, prompt_args: dict[str, Any]) -> None:
    dispatcher.event(LLMStructuredPredictStartEvent(output_cls=output_cls, template=prompt, template_args=prompt_args))


def _validated(output_cls: type[BaseModel], response: ChatResponse) -> Any:
    """A complete reply checked and validated into ``output_cls`` (the end event sent)."""
    check_response(response)
    result = output_cls.model_validate_json(response.message.content or "")
    dispatcher.event(LLMStructuredPredictEndEvent(output=result))
    return result


class _Partials:
    """A stream's partial objects, one per response (the in-progress event sent for each)."""

    def __init__(self, output_cls: type[BaseModel]) -> None:
        from llama_index.core.program.utils import process_streaming_objects

        self.parse, self.output_cls = process_streaming_objects, output_cls
        self.current: list[Any] | None = None
        self.last: Any = None

    def add(self, response: ChatResponse) -> Any:
        check_response(response)  # the last response carries the finish reason
        obj = self.parse(response, self.output_cls, cur_objects=self.current, flexible_mode=True)
        self.current, self.last = (obj if isinstance(obj, list) else [obj]), obj
        dispatcher.event(LLMStructuredPredictInProgressEvent(output=obj))
        return obj


class StructuredOutputLLM(FunctionCallingLLM):
    """A ``FunctionCallingLLM`` whose structured output is one chat with the JSON schema as
    ``response_format`` (``pydantic_program_mode`` DEFAULT; other modes are LlamaIndex's own)."""

    def _native_structured(self) -> bool:
        return self.pydantic_program_mode == PydanticProgramMode.DEFAULT

    @staticmethod
    def _structured_kwargs(output_cls: type[BaseModel], llm_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        return {**(llm_kwargs or {}), "response_format": output_cls.model_json_schema()}

    @dispatcher.span
    def structured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """One chat with ``response_format`` = the class's JSON schema, validated into the class."""
        if not self._native_structured():
            return super().structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        _start_event(output_cls, prompt, prompt_args)
        messages = prompt.format_messages(**prompt_args)
        return _validated(output_cls, self.chat(messages, **self._structured_kwargs(output_cls, llm_kwargs)))

    @dispatcher.span
    async def astructured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """Async ``structured_predict``."""
        if not self._native_structured():
            return await super().astructured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        _start_event(output_cls, prompt, prompt_args)
        messages = prompt.format_messages(**prompt_args)
        return _validated(output_cls, await self.achat(messages, **self._structured_kwargs(output_cls, llm_kwargs)))

    def stream_structured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Any, None, None]:
        """Partial objects (LlamaIndex ``FlexibleModel``) as the JSON arrives, then the full object."""
        if not self._native_structured():
            return super().stream_structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        messages = prompt.format_messages(**prompt_args)
        kwargs = self._structured_kwargs(output_cls, llm_kwargs)

        def gen() -> Generator[Any, None, None]:
            _start_event(output_cls, prompt, prompt_args)
            partials = _Partials(output_cls)
            for response in self.stream_chat(messages, **kwargs):
                yield partials.add(response)
            dispatcher.event(LLMStructuredPredictEndEvent(output=partials.last))

        return gen()

    async def astream_structured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Any, None]:
        """Async ``stream_structured_predict``."""
        if not self._native_structured():
            return await super().astream_structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        messages = prompt.format_messages(**prompt_args)
        kwargs = self._structured_kwargs(output_cls, llm_kwargs)

        async def gen() -> AsyncGenerator[Any, None]:
            _start_event(output_cls, prompt, prompt_args)
            partials = _Partials(output_cls)
            async for response in await self.astream_chat(messages, **kwargs):
                yield partials.add(response)
            dispatcher.event(LLMStructuredPredictEndEvent(output=partials.last))

        return gen()


__all__ = ["StructuredOutputError", "StructuredOutputLLM", "check_response"]

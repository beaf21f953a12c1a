"""What LangChain and LlamaIndex cost by themselves: chat models that answer at once, with no I/O.

A 200-call burst of ``ainvoke`` / ``achat`` on these is the framework's own share of any adapter's
burst; an adapter over a client that costs ``c`` per burst cannot beat ``c`` plus this.
"""

from __future__ import annotations

from typing import Any

from .floors import PROMPT


def langchain_alone(base: str) -> Any:
    """A ``BaseChatModel`` whose reply is ready: ``ainvoke`` costs only LangChain's own machinery."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class AloneChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "alone"

        def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=PROMPT))])

        async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                             **kwargs: Any) -> ChatResult:
            return self._generate(messages)

    return AloneChatModel()


def llamaindex_alone(base: str) -> Any:
    """A ``CustomLLM`` whose reply is ready: ``achat`` costs only LlamaIndex's own machinery."""
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

    class AloneLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="alone", is_chat_model=True)

        @llm_chat_callback()
        async def achat(self, messages: Any, **kwargs: Any) -> ChatResponse:
            return ChatResponse(message=ChatMessage(role="assistant", content=PROMPT))

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text=PROMPT)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
            return iter([CompletionResponse(text=PROMPT, delta=PROMPT)])

    return AloneLLM()


__all__ = ["langchain_alone", "llamaindex_alone"]

"""``Learning``: what one candidate's replies teach the catalogue, as a wrapper over its provider.

A reply (or a stream's final chunk) carries the measured speed, shows the model is loaded now, and
from Ollama may show a silently truncated prompt (``routing.context.truncation_warning``); the reply
also gets the catalogue entry that answered (``ChatResult.info``, ``.flavor``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from ..capabilities import ModelInfo
from ..catalogue import Catalogue
from ..config import LocalSettings
from ..kinds import spec_for_kind
from ..provider import Provider, WrapperProvider
from ..types import ChatChunk, ChatRequest, ChatResult, Metrics, Usage
from .context import truncation_warning
from .fallback import aclose, close


class Learning(WrapperProvider):
    """One candidate's replies teach the catalogue (measured speed, the model now loaded, Ollama's
    silent truncation) and carry the entry that answered (``ChatResult.info``, ``.flavor``)."""

    def __init__(self, wrapped: Provider, catalogue: Catalogue, settings: LocalSettings, info: ModelInfo,
                 flavor: str | None) -> None:
        super().__init__(wrapped)
        self.catalogue, self.settings = catalogue, settings
        self.info, self.flavor = info, flavor
        self.truncates = spec_for_kind(info.kind).truncates_prompt  # its replies may show a truncated prompt

    def learn(self, usage: Usage | None, metrics: Metrics | None, request: ChatRequest) -> None:
        info, catalogue = self.info, self.catalogue
        if metrics is not None and metrics.tokens_per_second:
            catalogue.record_speed(info.service, info.name, metrics.tokens_per_second)
        if not info.loaded:
            catalogue.mark_loaded(info.service, info.name)
        if self.truncates:
            truncation_warning(info, request, usage, self.settings, stacklevel=5)

    def last(self, chunk: ChatChunk, request: ChatRequest) -> ChatChunk:
        """The final chunk: it carries usage and metrics."""
        self.learn(chunk.usage, chunk.metrics, request)
        chunk.info, chunk.flavor = self.info, self.flavor
        return chunk

    def chat(self, request: ChatRequest) -> ChatResult:
        result = self.wrapped.chat(request)
        self.learn(result.usage, result.metrics, request)
        result.info, result.flavor = self.info, self.flavor
        return result

    async def achat(self, request: ChatRequest) -> ChatResult:
        result = await self.wrapped.achat(request)
        self.learn(result.usage, result.metrics, request)
        result.info, result.flavor = self.info, self.flavor
        return result

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        chunks = iter(self.wrapped.stream_chat(request))
        try:
            for chunk in chunks:
                yield chunk if chunk.finish_reason is None else self.last(chunk, request)
        finally:  # a caller that stops early closes the server's stream now
            close(chunks)

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chunks = aiter(self.wrapped.astream_chat(request))
        try:
            async for chunk in chunks:
                yield chunk if chunk.finish_reason is None else self.last(chunk, request)
        finally:
            await aclose(chunks)


__all__ = ["Learning"]

"""``ReasoningGuard``: one server's reasoning rules applied to a request before it is sent.

Wraps a fallback candidate when a request sets ``think`` or asks for structured output (other
requests skip it): the ``think`` value is checked against what the model allows and mapped to what
it takes (``reasoning.resolve_think``), a server that cannot turn thinking off refuses
``think=False`` on a thinking model, thinking and a JSON schema are ordered where they interfere
(``reasoning.guard_structured``), and a JSON answer the server left in the reasoning is moved to
the answer (``reasoning.recover_json``), in streams on the final chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import CapabilityError
from ..kinds.spec import Quirks
from ..provider import Provider, WrapperProvider
from ..reasoning import guard_structured, json_text, recover_json, resolve_think, structured
from ..types import ChatChunk, ChatRequest, ChatResult
from .fallback import aclose, close

if TYPE_CHECKING:
    from ..capabilities import ModelInfo


def needs_guard(request: ChatRequest) -> bool:
    """Whether a request has anything for ``ReasoningGuard`` to do."""
    return request.think is not None or request.response_format is not None


def prepare(request: ChatRequest, info: ModelInfo, quirks: Quirks) -> ChatRequest:
    """``request`` as ``info``'s server should get it (see the module docstring)."""
    think = resolve_think(request.think, info)
    if think is False and quirks.think_off_unsupported and info.can("thinking"):
        raise CapabilityError(
            f"{quirks.flavor or 'this server'} has no request field that turns reasoning off for {info.name}",
            hint="turn reasoning off in the server's model settings, or leave reasoning unset",
            model=info.name, service=info.service)
    if think != request.think:
        request = replace(request, think=think)
    return guard_structured(request, info, quirks)


class _JsonInReasoning:
    """A stream's side of ``recover_json``: the final chunk carries the JSON left in the reasoning."""

    __slots__ = ("answered", "thinking")

    def __init__(self) -> None:
        self.answered = False
        self.thinking: list[str] = []

    def see(self, chunk: ChatChunk) -> ChatChunk:
        self.answered = self.answered or bool(chunk.content.strip() or chunk.tool_calls)
        self.thinking.append(chunk.thinking)
        if chunk.is_final and not self.answered and (text := json_text("".join(self.thinking))) is not None:
            chunk.content = text
        return chunk


class ReasoningGuard(WrapperProvider):
    """Applies ``prepare`` to every request and ``recover_json`` to every structured reply."""

    def __init__(self, wrapped: Provider, info: ModelInfo, quirks: Quirks) -> None:
        super().__init__(wrapped)
        self.info, self.quirks = info, quirks

    def chat(self, request: ChatRequest) -> ChatResult:
        request = prepare(request, self.info, self.quirks)
        return recover_json(self.wrapped.chat(request), request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        request = prepare(request, self.info, self.quirks)
        return recover_json(await self.wrapped.achat(request), request)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        request = prepare(request, self.info, self.quirks)
        chunks = iter(self.wrapped.stream_chat(request))
        if not structured(request):
            return chunks
        return self._recovered(chunks)

    @staticmethod
    def _recovered(chunks: Iterator[ChatChunk]) -> Iterator[ChatChunk]:
        seen = _JsonInReasoning()
        try:
            yield from map(seen.see, chunks)
        finally:
            close(chunks)

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        request = prepare(request, self.info, self.quirks)
        chunks = aiter(self.wrapped.astream_chat(request))
        if not structured(request):
            return chunks
        return self._arecovered(chunks)

    @staticmethod
    async def _arecovered(chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        seen = _JsonInReasoning()
        try:
            async for chunk in chunks:
                yield seen.see(chunk)
        finally:
            await aclose(chunks)


__all__ = ["ReasoningGuard", "needs_guard", "prepare"]

"""``DrivenBackend``: the ``Backend`` protocol's methods, each one line handing the backend's plan for
that operation (``exchange.py``) to the transport's sync or async driver. A backend writes only its
plans (``chat_plan``, ``stream_plan``, ``embed_plan``, ``facts_plan``); nothing is written twice."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..facts import ServerFacts
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult

if TYPE_CHECKING:
    from ..exchange import Operation
    from ..transport import Transport


class DrivenBackend(ABC):
    """One server whose operations are plans run by ``self.transport``."""

    transport: Transport

    @abstractmethod
    def chat_plan(self, request: ChatRequest) -> Operation[ChatResult]:
        """One complete reply."""

    @abstractmethod
    def stream_plan(self, request: ChatRequest) -> Operation[None]:
        """The reply's chunks; the last carries finish_reason, usage and metrics."""

    @abstractmethod
    def embed_plan(self, texts: Sequence[str], model: str, opts: Mapping[str, Any]) -> Operation[EmbeddingResult]:
        """Every text in one request (batching is ``patinox_core.embedding``'s job)."""

    @abstractmethod
    def facts_plan(self, probed: Mapping[str, Any] | None = None) -> Operation[list[ServerFacts]]:
        """What the server says about each of its models; ``probed``: replies discovery already has
        (decoded, by path), not asked again."""

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.transport.driver.run(self.chat_plan(request))

    async def achat(self, request: ChatRequest) -> ChatResult:
        return await self.transport.adriver.run(self.chat_plan(request))

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        return self.transport.driver.iterate(self.stream_plan(request))

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.transport.adriver.iterate(self.stream_plan(request))

    def embed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        return self.transport.run(self.embed_plan(texts, model, opts))

    async def aembed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        return await self.transport.arun(self.embed_plan(texts, model, opts))

    def list_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]:
        return self.transport.run(self.facts_plan(probed))

    async def alist_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]:
        return await self.transport.arun(self.facts_plan(probed))


__all__ = ["DrivenBackend"]

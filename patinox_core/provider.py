"""The provider protocol, and ``WrapperProvider``, the base of every wrapper over it.

``LocalProvider`` (every server), ``routing.server.ServerProvider`` (one server) and
``routing.fallback.FallbackProvider`` (candidates in order) implement ``Provider``. A wrapper
(instrumentation, caching, policy) subclasses ``WrapperProvider`` and overrides only the calls it
cares about; the rest are forwarded unchanged (pydantic-ai's ``WrapperModel``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult

if TYPE_CHECKING:
    from .capabilities import ModelInfo


class Provider(Protocol):
    """Chat, stream and embed with the models one or more servers hold; ``a``-prefixed async twins."""

    def chat(self, request: ChatRequest) -> ChatResult: ...

    async def achat(self, request: ChatRequest) -> ChatResult: ...

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]: ...

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    def embed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
              max_concurrency: int | None = None, dimensions: int | None = None, truncate: bool | None = None,
              keep_alive: str | int | None = None,
              progress: Callable[[int], None] | None = None) -> EmbeddingResult: ...

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
                     max_concurrency: int | None = None, dimensions: int | None = None,
                     truncate: bool | None = None, keep_alive: str | int | None = None,
                     progress: Callable[[int], None] | None = None) -> EmbeddingResult: ...

    def list_models(self, refresh: bool = False) -> list[ModelInfo]: ...

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]: ...


class WrapperProvider:
    """Forwards every ``Provider`` call to ``wrapped``; subclasses override what they change.

    Calls outside the protocol (``get_model``, ``health``, ``close``, ``settings``, ...) reach the
    wrapped provider through attribute lookup, so a wrapper can stand in for a ``LocalProvider``.
    """

    def __init__(self, wrapped: Provider) -> None:
        self.wrapped = wrapped

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.wrapped!r})"

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.wrapped.chat(request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        return await self.wrapped.achat(request)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        return self.wrapped.stream_chat(request)

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.wrapped.astream_chat(request)

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        return self.wrapped.embed(texts, model, **opts)

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        return await self.wrapped.aembed(texts, model, **opts)

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        return self.wrapped.list_models(refresh)

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return await self.wrapped.alist_models(refresh)


__all__ = ["Provider", "WrapperProvider"]

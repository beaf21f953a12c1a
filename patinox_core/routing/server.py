"""``ServerProvider``: one server's backend as a ``Provider``, each embedding call one job on it.

A fallback candidate is a ``ServerProvider`` (possibly wrapped): every request it gets already names
the resolved model, and an ``embed`` call runs its whole job (``embedding.py``: batched once by the
caller's ``batch_size``) on this one server, so one call never mixes vectors from two servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from ..backends.base import Backend
from ..capabilities import ModelInfo
from ..catalogue import Catalogue
from ..embedding import Progress, arun_job, plan_batches, run_job
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult


class ServerProvider:
    """The ``Provider`` calls of one server (``backend``); the catalogue answers ``list_models``."""

    def __init__(self, backend: Backend, catalogue: Catalogue) -> None:
        self.backend = backend
        self.catalogue = catalogue
        # the chat calls are the backend's own: no pass-through frame per request (the methods
        # below say the same, for readers and type checkers)
        self.chat = backend.chat  # type: ignore[method-assign]
        self.achat = backend.achat  # type: ignore[method-assign]
        self.stream_chat = backend.stream_chat  # type: ignore[method-assign]
        self.astream_chat = backend.astream_chat  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"ServerProvider({self.backend!r})"

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.backend.chat(request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        return await self.backend.achat(request)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        return self.backend.stream_chat(request)

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.backend.astream_chat(request)

    def _job(self, texts: Sequence[str] | str, batch_size: int | None, max_concurrency: int | None,
             opts: dict[str, Any]) -> tuple[list[list[str]], int, dict[str, Any]]:
        size = self.catalogue.settings.embed_batch_size if batch_size is None else batch_size
        batches, workers = plan_batches(texts, size, max_concurrency)
        return batches, workers, {k: v for k, v in opts.items() if v is not None}

    def embed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
              max_concurrency: int | None = None, progress: Progress | None = None,
              **opts: Any) -> EmbeddingResult:
        """The whole job on this server; ``opts`` (dimensions, truncate, keep_alive) go to each batch."""
        name = _named(model)
        batches, workers, sent = self._job(texts, batch_size, max_concurrency, opts)
        return run_job(lambda batch: self.backend.embed(batch, name, **sent), batches, workers, name,
                       self.backend.base_url, progress)

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, *, batch_size: int | None = None,
                     max_concurrency: int | None = None, progress: Progress | None = None,
                     **opts: Any) -> EmbeddingResult:
        name = _named(model)
        batches, workers, sent = self._job(texts, batch_size, max_concurrency, opts)
        return await arun_job(lambda batch: self.backend.aembed(batch, name, **sent), batches, workers, name,
                              self.backend.base_url, progress)

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """This server's catalogue entries (what the last refresh found; no I/O)."""
        return self.catalogue.entries([self.backend.base_url])

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return self.list_models(refresh)


def _named(model: str | None) -> str:
    if not model:
        raise ValueError("a ServerProvider embeds with a resolved model name")
    return model


__all__ = ["ServerProvider"]

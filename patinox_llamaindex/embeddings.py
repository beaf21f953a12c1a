"""``PatinoxEmbedding``: a LlamaIndex ``BaseEmbedding`` backed by patinox's ``LocalProvider``.

LlamaIndex cuts the input into ``embed_batch_size`` batches (default 2048, its maximum, so its
sequential loop turns over rarely); each batch is one ``LocalProvider.embed`` call, which splits it
into requests of at most ``request_batch_size`` texts and keeps ``num_workers`` of them in flight.
Sync and async paths differ only in ``embed`` vs ``aembed``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr, SecretStr

from patinox_core.arguments import construct
from patinox_core.provisioning.once import Readiness

from . import _runtime as choice
from ._runtime import PinnedServer, RequiresField, _check_exclusive, _Runtime, build_local_provider

if TYPE_CHECKING:
    from patinox_core.capabilities import ModelInfo
    from patinox_core.config import LocalSettings
    from patinox_core.router import LocalProvider
    from patinox_core.types import EmbeddingResult

DEFAULT_EMBED_BATCH_SIZE = 2048  # LlamaIndex's own loop; HTTP requests are request_batch_size

#: The notebook-aware progress bar of the running ``aget_text_embedding_batch`` call, if any.
_PROGRESS: ContextVar[Any] = ContextVar("patinox_embedding_progress", default=None)


class PatinoxEmbedding(RequiresField, PinnedServer, BaseEmbedding):
    """Embeddings from any embedding model on the local servers patinox finds.

    ``model_name=None`` lets the router pick (``PATINOX_DEFAULT_EMBEDDING_MODEL`` or the best
    embedding model found); ``requires=`` chooses an embedding model that meets it.
    ``query_instruction``/``text_instruction`` are prefixes some models need (nomic:
    ``"search_query: "`` / ``"search_document: "``).
    """

    # None (the router picks) widens BaseEmbedding's str; LlamaIndex only reports model_name (to_payload)
    model_name: str | None = Field(  # type: ignore[assignment]
        default=None, description="Embedding model; None: the router's default."
    )
    embed_batch_size: int = Field(default=DEFAULT_EMBED_BATCH_SIZE, gt=0, le=2048)
    request_batch_size: int | None = Field(
        default=None, gt=0, le=4096, description="Texts per HTTP request; None: settings.embed_batch_size (256)."
    )
    query_instruction: str | None = Field(default=None, description="Prefix for queries.")
    text_instruction: str | None = Field(default=None, description="Prefix for documents.")
    dimensions: int | None = Field(default=None, gt=0, description="Ask for shorter vectors (if the model can).")
    truncate: bool | None = Field(default=None, description="Let the server cut inputs longer than the context.")
    keep_alive: str | int | None = None
    timeout: float | None = Field(default=None, gt=0, description="Request timeout (s) as for Patinox: a cold "
                                                                  "load gets max(timeout, cold_load_timeout).")
    max_retries: int | None = Field(default=None, ge=0, le=10)
    show_progress: bool = Field(default=False, description="Progress bar (tqdm.auto) for batch embedding.")
    api_key: SecretStr | None = Field(default=None, exclude=True, description="For servers behind auth (or env).")

    pull_if_missing: bool = Field(default=False, description="Before the first request, download the model when "
                                  "no server has it, with a progress bar (off by default).")
    preload: bool = Field(default=False, description="Before the first request, load the model (keep_alive), "
                          "with progress.")

    _rt: _Runtime = PrivateAttr(default_factory=_Runtime)
    _readiness: Readiness = PrivateAttr(default_factory=Readiness)

    def __init__(
        self,
        model_name: str | None = None,
        *,
        local_provider: LocalProvider | None = None,
        settings: LocalSettings | None = None,
        **kwargs: Any,
    ) -> None:
        construct(super().__init__, type(self), model_name=model_name, **kwargs)
        _check_exclusive(self, local_provider, settings)
        self._rt = _Runtime(local_provider, settings)

    @classmethod
    def class_name(cls) -> str:
        return "PatinoxEmbedding"

    @property
    def local_provider(self) -> LocalProvider:
        """The ``LocalProvider`` (created on first use; creating it does no network I/O)."""
        return self._rt.provider(self._build)

    def _build(self, settings: LocalSettings | None) -> LocalProvider:
        return build_local_provider(self, settings)

    @property
    def model_info(self) -> ModelInfo | None:
        """The model ``requires=`` chose (after the first request), else None."""
        return self._rt.info.get(None) if self.requires is not None else None

    # -- one call shape for every path ---------------------------------------------------
    def _opts(self) -> dict[str, Any]:
        return {
            "batch_size": self.request_batch_size,
            "max_concurrency": self.num_workers,
            "dimensions": self.dimensions,
            "truncate": self.truncate,
            "keep_alive": self.keep_alive,
        }

    @staticmethod
    def _prefixed(prefix: str | None, texts: list[str]) -> list[str]:
        return [f"{prefix}{t}" for t in texts] if prefix else texts

    def _embed(self, texts: list[str], prefix: str | None) -> list[Embedding]:
        model = choice.own_model(self, embeddings=True)  # requires= chooses first
        if self.pull_if_missing or self.preload:
            self._readiness.ready(self.local_provider, model, pull=self.pull_if_missing, load=self.preload,
                                  keep_alive=self.keep_alive, capability="embeddings")
        result: EmbeddingResult = self.local_provider.embed(self._prefixed(prefix, texts), model, **self._opts())
        return result.vectors

    async def _aembed(self, texts: list[str], prefix: str | None) -> list[Embedding]:
        model = await choice.aown_model(self, embeddings=True)
        if self.pull_if_missing or self.preload:
            await self._readiness.aready(self.local_provider, model, pull=self.pull_if_missing,
                                         load=self.preload, keep_alive=self.keep_alive, capability="embeddings")
        result: EmbeddingResult = await self.local_provider.aembed(self._prefixed(prefix, texts), model, **self._opts())
        bar = _PROGRESS.get()
        if bar is not None:
            bar.update(len(texts))
        return result.vectors

    # -- BaseEmbedding hooks ---------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query], self.query_instruction)[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed([query], self.query_instruction))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text], self.text_instruction)[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed([text], self.text_instruction))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts, self.text_instruction)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(texts, self.text_instruction)

    # -- progress: tqdm.auto (a widget in notebooks with ipywidgets, else text) ---------------------
    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        return super().get_text_embedding_batch(texts, show_progress=show_progress or self.show_progress, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        if not (show_progress or self.show_progress):
            return await super().aget_text_embedding_batch(texts, show_progress=False, **kwargs)
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), desc="Generating embeddings") as bar:
            token = _PROGRESS.set(bar)
            try:
                return await super().aget_text_embedding_batch(texts, show_progress=False, **kwargs)
            finally:
                _PROGRESS.reset(token)


__all__ = ["PatinoxEmbedding"]

"""``PatinoxEmbeddings``: LangChain embeddings from any local model server patinox finds.

Batching, concurrency and the one server per call are ``LocalProvider.embed``'s job (one call per
``embed_documents``, progress bar or not); this class adds the query/document prefixes and an
optional progress bar, and keeps vectors in input order.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar

from langchain_core.embeddings import Embeddings
from langchain_core.utils import secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from patinox_core.errors import InvalidResponseError
from patinox_core.provisioning.once import Readiness

from ._requires import RequiresMixin
from .chat_models import _ProviderMixin

_TQDM_WARNED = False


def _progress_bar(total: int) -> Any:
    """A ``tqdm.auto`` bar (a Jupyter widget when ipywidgets is installed, else text), or ``None`` with one
    warning if tqdm is missing."""
    global _TQDM_WARNED
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if not _TQDM_WARNED:
            _TQDM_WARNED = True
            warnings.warn("show_progress=True needs tqdm: pip install tqdm (or patinox[all])", stacklevel=3)
        return None
    return tqdm(total=total, desc="Embedding", unit="text")


class PatinoxEmbeddings(RequiresMixin, _ProviderMixin, BaseModel, Embeddings):
    """Embed texts with a model on Ollama, LM Studio or any OpenAI-compatible server.

    ``model`` may be omitted (the configured default embedding model, else the best available
    one), or chosen with ``requires=`` (an embedding model that meets it, e.g. ``{"min_context":
    8192}``). Vectors come back in the order of the inputs, whatever the batching.
    """

    _wants_embeddings: ClassVar[bool] = True

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = None
    batch_size: int | None = Field(default=None, ge=1)
    """Texts per request (default: ``LocalSettings.embed_batch_size``)."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Batches in flight at once."""
    dimensions: int | None = Field(default=None, ge=1)
    """Truncate vectors to this many dimensions where the model supports it."""
    truncate: bool | None = None
    """Let the server cut inputs longer than the context (``False``: such inputs raise)."""
    keep_alive: str | int | None = None
    query_prefix: str = ""
    """Prepended to queries, e.g. ``"search_query: "`` for nomic-embed-text."""
    document_prefix: str = ""
    """Prepended to documents, e.g. ``"search_document: "``."""
    show_progress: bool = False
    """A tqdm progress bar for long jobs (``tqdm.auto``: a widget in notebooks with ipywidgets)."""
    api_key: SecretStr | None = Field(default_factory=secret_from_env("PATINOX_API_KEY", default=None))
    client: Any = Field(default=None, exclude=True)
    """A ``LocalProvider`` to share (one catalogue, one connection pool)."""
    pull_if_missing: bool = False
    """Before the first request, download ``model`` when no server has it (progress on stderr)."""
    preload: bool = False
    """Before the first request, load the model (kept for ``keep_alive``), with progress on stderr."""

    _readiness: Readiness = PrivateAttr(default_factory=Readiness)  # pull_if_missing / preload, once

    def _options(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "max_concurrency": self.max_concurrency,
                "dimensions": self.dimensions, "truncate": self.truncate, "keep_alive": self.keep_alive}

    @contextmanager
    def _progress(self, texts: list[str], show: bool) -> Iterator[dict[str, Any]]:
        """``{"progress": callback}`` for ``LocalProvider.embed`` when a bar is shown, else ``{}``."""
        bar = _progress_bar(len(texts)) if show and self.show_progress and texts else None
        try:
            yield {} if bar is None else {"progress": partial(_advance, bar)}
        finally:
            if bar is not None:
                bar.close()

    def _embed(self, texts: Sequence[str], progress: bool = True) -> list[list[float]]:
        texts = list(texts)
        if self._pending():
            self._choose()
        if self.pull_if_missing or self.preload:
            self._readiness.ready(self._get_provider(), self.model or self._chosen_name(), pull=self.pull_if_missing,
                                  load=self.preload, keep_alive=self.keep_alive, capability="embeddings")
        with self._progress(texts, progress) as report:
            vectors = self._get_provider().embed(texts, self.model or self._chosen_name(), **self._options(),
                                                 **report).vectors
        return _checked(texts, vectors)

    async def _aembed(self, texts: Sequence[str], progress: bool = True) -> list[list[float]]:
        texts = list(texts)
        if self._pending():
            await self._achoose()
        if self.pull_if_missing or self.preload:
            await self._readiness.aready(self._get_provider(), self.model or self._chosen_name(),
                                         pull=self.pull_if_missing, load=self.preload, keep_alive=self.keep_alive,
                                         capability="embeddings")
        with self._progress(texts, progress) as report:
            vectors = (await self._get_provider().aembed(texts, self.model or self._chosen_name(), **self._options(),
                                                         **report)).vectors
        return _checked(texts, vectors)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in input order (``document_prefix`` prepended)."""
        return self._embed([self.document_prefix + t for t in texts])

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query (``query_prefix`` prepended)."""
        return self._embed([self.query_prefix + text], progress=False)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of ``embed_documents``."""
        return await self._aembed([self.document_prefix + t for t in texts])

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of ``embed_query``."""
        return (await self._aembed([self.query_prefix + text], progress=False))[0]


def _advance(bar: Any, done: int) -> None:
    """Show ``done`` texts embedded (a job that moved to the next server starts again from 0)."""
    bar.n = done
    bar.refresh()


def _checked(texts: list[str], vectors: list[list[float]]) -> list[list[float]]:
    if len(vectors) != len(texts):
        raise InvalidResponseError(f"asked for {len(texts)} embeddings but got {len(vectors)}",
                                   hint="the server dropped inputs; check its logs")
    return vectors


__all__ = ["PatinoxEmbeddings"]

"""``PatinoxEmbeddings``: LangChain embeddings from any local model server patinox finds.

Batching and concurrency are ``LocalProvider.embed``'s job; this class adds the query/document
prefixes and an optional progress bar, and keeps vectors in input order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.utils import secret_from_env
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from patinox_core.errors import InvalidResponseError

from .chat_models import _ProviderMixin

_TQDM_WARNED = False


Vectors = list[list[float]]
#: (windows to send, done(window, vectors) callback, the collected vectors)
_Job = tuple[list[list[str]], Callable[[list[str], Vectors], None], Vectors]


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


class PatinoxEmbeddings(_ProviderMixin, BaseModel, Embeddings):
    """Embed texts with a model on Ollama, LM Studio or any OpenAI-compatible server.

    ``model`` may be omitted (the configured default embedding model, else the best available
    one). Vectors come back in the order of the inputs, whatever the batching.
    """

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

    def _options(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "max_concurrency": self.max_concurrency,
                "dimensions": self.dimensions, "truncate": self.truncate, "keep_alive": self.keep_alive}

    def _windows(self, texts: list[str]) -> list[list[str]]:
        """One call for everything, or (with a progress bar) windows of batch_size x max_concurrency."""
        if not self.show_progress or not texts:
            return [texts]
        batch = self.batch_size or self._get_provider_batch_size()
        step = batch * (self.max_concurrency or 1)
        return [texts[i : i + step] for i in range(0, len(texts), step)]

    def _get_provider_batch_size(self) -> int:
        settings = getattr(self._get_provider(), "settings", None)
        return int(getattr(settings, "embed_batch_size", 256))

    @contextmanager
    def _job(self, texts: Sequence[str], progress: bool) -> Iterator[_Job]:
        """The windows to send and a ``done(window, vectors)`` callback that checks the count,
        collects the vectors and advances the progress bar (shared by the sync and async paths)."""
        texts = list(texts)
        bar = _progress_bar(len(texts)) if progress and self.show_progress and texts else None
        out: list[list[float]] = []

        def done(window: list[str], vectors: list[list[float]]) -> None:
            _check_count(window, vectors)
            out.extend(vectors)
            if bar is not None:
                bar.update(len(window))

        try:
            yield (self._windows(texts) if progress else [texts]), done, out
        finally:
            if bar is not None:
                bar.close()

    def _embed(self, texts: Sequence[str], progress: bool = True) -> list[list[float]]:
        with self._job(texts, progress) as (windows, done, out):
            for window in windows:
                done(window, self._get_provider().embed(window, self.model, **self._options()).vectors)
        return out

    async def _aembed(self, texts: Sequence[str], progress: bool = True) -> list[list[float]]:
        with self._job(texts, progress) as (windows, done, out):
            for window in windows:
                done(window, (await self._get_provider().aembed(window, self.model, **self._options())).vectors)
        return out

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


def _check_count(texts: list[str], vectors: list[list[float]]) -> None:
    if len(vectors) != len(texts):
        raise InvalidResponseError(f"asked for {len(texts)} embeddings but got {len(vectors)}",
                                   hint="the server dropped inputs; check its logs")


__all__ = ["PatinoxEmbeddings"]

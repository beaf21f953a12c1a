"""``FallbackProvider``: try candidates in order; the first that answers wins.

Each candidate is a ``Provider`` for one server holding the model (``routing.server``, possibly
wrapped) with the resolved model name. An error whose recovery is RETRY or FALLBACK
(``errors.should_fall_back``) before any output moves on to the next candidate and cools the failed
server down; any other error reaches the caller at once. When every candidate failed, the most
actionable error is raised, carrying every attempt in ``.attempts``. A stream commits to a server
after its first chunk (pydantic-ai's ``FallbackModel``). The four loops below differ only in their
I/O: every decision is ``_Attempt``'s.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import LocalProviderError, most_actionable, should_fall_back
from ..transport import CONNECT_RETRIES
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult
from .health import Health

if TYPE_CHECKING:
    from ..capabilities import ModelInfo
    from ..provider import Provider


def with_model(request: ChatRequest, name: str) -> ChatRequest:
    """``request`` for the resolved model name: the same object when the name already matches,
    else a shallow copy (no re-validation: only the name changes).

    >>> req = ChatRequest(model="llama3.2", messages=[], temperature=0.2)
    >>> renamed = with_model(req, "llama3.2:latest")
    >>> (renamed.model, renamed.temperature, renamed.messages is req.messages, req.model)
    ('llama3.2:latest', 0.2, True, 'llama3.2')
    """
    if request.model == name:
        return request
    clone = copy.copy(request)
    clone.model = name
    return clone


class Candidate(NamedTuple):
    """One server to try: its URL, the model's name there, and the provider that reaches it."""

    service: str
    model: str
    provider: Provider


class _Attempt:
    """One try of one candidate, as a context manager: while a later candidate is usable, a refused
    connection is not retried (``Health.fail_fast``); on leaving, an error that calls for fallback
    is recorded, the server cooled down and the error swallowed (the loop goes on to the next)."""

    def __init__(self, run: _Run, n: int) -> None:
        self.run = run
        self.candidate = run.candidates[n]
        self.later = [c.service for c in run.candidates[n + 1:]]
        self.failed = False
        self._token: Token[int | None] | None = None

    @property
    def provider(self) -> Provider:
        return self.candidate.provider

    def request(self, request: ChatRequest) -> ChatRequest:
        return with_model(request, self.candidate.model)

    def __enter__(self) -> _Attempt:
        self._token = self.run.health.fail_fast(self.later)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if self._token is not None:
            CONNECT_RETRIES.reset(self._token)
        if not isinstance(err, LocalProviderError) or not should_fall_back(err):
            return False
        self.failed = True
        self.run.errors.append(err)
        self.run.health.cool(self.candidate.service, err)
        return True


class _Run:
    """One call's pass over the candidates: the attempts in order, then the error when all failed."""

    def __init__(self, candidates: Sequence[Candidate], health: Health) -> None:
        self.candidates = candidates
        self.health = health
        self.errors: list[LocalProviderError] = []

    def __iter__(self) -> Iterator[_Attempt]:
        return (_Attempt(self, n) for n in range(len(self.candidates)))

    def exhausted(self) -> LocalProviderError:
        return most_actionable(self.errors)


class FallbackProvider:
    """The ``Provider`` calls over ``candidates`` (in try order), falling back as the module says."""

    def __init__(self, candidates: Sequence[Candidate], health: Health) -> None:
        self.candidates = list(candidates)
        self.health = health

    def __repr__(self) -> str:
        return f"FallbackProvider({[c.service for c in self.candidates]})"

    def _run(self) -> _Run:
        return _Run(self.candidates, self.health)

    def chat(self, request: ChatRequest) -> ChatResult:
        run = self._run()
        for attempt in run:
            with attempt:
                return attempt.provider.chat(attempt.request(request))
        raise run.exhausted()

    async def achat(self, request: ChatRequest) -> ChatResult:
        run = self._run()
        for attempt in run:
            with attempt:
                return await attempt.provider.achat(attempt.request(request))
        raise run.exhausted()

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Chunks of the first candidate that yields one; later failures reach the caller."""
        run = self._run()
        for attempt in run:
            with attempt:
                chunks = iter(attempt.provider.stream_chat(attempt.request(request)))
                first = next(chunks, None)  # a failed generator is finished: nothing to close
            if attempt.failed:
                continue
            try:
                if first is not None:
                    yield first
                yield from chunks
            finally:  # a caller that stops early closes the server's stream now
                close(chunks)
            return
        raise run.exhausted()

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        run = self._run()
        for attempt in run:
            with attempt:
                chunks = aiter(attempt.provider.astream_chat(attempt.request(request)))
                first = await anext(chunks, None)
            if attempt.failed:
                continue
            try:
                if first is not None:
                    yield first
                async for chunk in chunks:
                    yield chunk
            finally:
                await aclose(chunks)
            return
        raise run.exhausted()

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        """The whole job on the first candidate that completes it (a failure mid-job reruns it on
        the next one, so vectors of two servers are never mixed)."""
        run = self._run()
        for attempt in run:
            with attempt:
                return attempt.provider.embed(texts, attempt.candidate.model, **opts)
        raise run.exhausted()

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        run = self._run()
        for attempt in run:
            with attempt:
                return await attempt.provider.aembed(texts, attempt.candidate.model, **opts)
        raise run.exhausted()

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every candidate's models (a candidate's provider answers for its server)."""
        return [i for c in self.candidates for i in c.provider.list_models(refresh)]

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return [i for c in self.candidates for i in await c.provider.alist_models(refresh)]


def close(chunks: Iterator[ChatChunk]) -> None:
    """Close a stream that is a generator (a plain iterator has nothing to close)."""
    getattr(chunks, "close", lambda: None)()


async def aclose(chunks: AsyncIterator[ChatChunk]) -> None:
    """Close an async stream that is an async generator."""
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


__all__ = ["Candidate", "FallbackProvider", "aclose", "close", "with_model"]

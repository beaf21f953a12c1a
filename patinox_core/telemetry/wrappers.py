"""The two wrappers over the provider protocol that instrumentation adds.

- ``OperationSpans`` wraps the provider the caller uses (``LocalProvider``): one ``Operation`` (a
  span, then the metrics) per chat, stream or embedding call.
- ``AttemptEvents`` wraps each server a request may try (built once per server, like the rest of a
  candidate's chain): a failed attempt becomes an event on the span of the operation running in this
  context (``CURRENT``, read when the attempt ends), and the attempt that answers names the server on it.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextvars import Token
from typing import TYPE_CHECKING, Any, cast

from ..errors import LocalProviderError
from ..provider import Provider, WrapperProvider
from ..routing.fallback import aclose, close
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, merge_chunks
from .operation import CURRENT, Instruments, Operation, start_chat, start_embeddings

if TYPE_CHECKING:
    from ..capabilities import ModelInfo


def _count(texts: Sequence[str] | str) -> int:
    return 1 if isinstance(texts, str) else len(texts)


def _final(kept: list[ChatChunk] | None, last: ChatChunk | None) -> ChatResult:
    """The reply a stream made: every chunk joined when content is recorded, else the last chunk's totals."""
    if kept is not None:
        return merge_chunks(kept)
    last = last or ChatChunk()
    return merge_chunks([ChatChunk(finish_reason=last.finish_reason, usage=last.usage, model=last.model,
                                   service=last.service, info=last.info, flavor=last.flavor)])


class _Watch:
    """What a stream's span keeps while its chunks pass, sync and async alike: the operation is
    current until the first chunk (fallback attempts happen before it), each chunk is counted, and
    the last one (or all of them, when content is recorded) makes the reply the span ends with.

    ``watch(stream)`` ties the span to the stream object: when the stream is garbage-collected
    before it ended or was closed (never iterated, or dropped half-read), the span ends then,
    marked abandoned (``Operation.abandoned``); the finalizer holds the watch, never the stream."""

    def __init__(self, op: Operation | None, capture: bool) -> None:
        self.op = op  # None until an async stream starts (its span starts with its first chunk asked for)
        self.kept: list[ChatChunk] | None = [] if capture else None
        self.last: ChatChunk | None = None

    def watch(self, stream: object) -> None:
        weakref.finalize(stream, self.abandoned).atexit = False

    def abandoned(self) -> None:
        if self.op is not None:
            self.op.abandoned()

    def before(self) -> Token[Operation | None] | None:
        return CURRENT.set(self.op) if self.last is None else None

    @staticmethod
    def after(token: Token[Operation | None] | None) -> None:
        if token is not None:
            CURRENT.reset(token)

    def seen(self, chunk: ChatChunk) -> ChatChunk:
        if self.last is None:
            cast(Operation, self.op).chunk()
        self.last = chunk
        if self.kept is not None:
            self.kept.append(chunk)
        return chunk

    def finish(self) -> None:
        cast(Operation, self.op).succeeded(_final(self.kept, self.last))


class OperationSpans(WrapperProvider):
    """One span and its metrics per call of the wrapped provider (the public operations)."""

    def __init__(self, wrapped: Provider, telemetry: Instruments) -> None:
        self.wrapped = wrapped
        self.telemetry = telemetry

    def chat(self, request: ChatRequest) -> ChatResult:
        with start_chat(self.telemetry, request, stream=False) as op:
            result = self.wrapped.chat(request)
        op.succeeded(result)
        return result

    async def achat(self, request: ChatRequest) -> ChatResult:
        with start_chat(self.telemetry, request, stream=False) as op:
            result = await self.wrapped.achat(request)
        op.succeeded(result)
        return result

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        with start_chat(self.telemetry, request, stream=True) as op:  # a request that cannot be routed fails here
            chunks = iter(self.wrapped.stream_chat(request))
        watch = _Watch(op, self.telemetry.capture_content)
        stream = self._stream(watch, chunks)
        next(stream)  # to its first ``yield``: closing or collecting the stream from now on ends the span
        watch.watch(stream)
        return cast(Iterator[ChatChunk], stream)

    @staticmethod
    def _stream(watch: _Watch, chunks: Iterator[ChatChunk]) -> Generator[ChatChunk | None, None, None]:
        op = cast(Operation, watch.op)
        try:
            yield None  # primed by ``stream_chat``: never reaches the caller
            while True:
                token = watch.before()
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                finally:
                    watch.after(token)
                yield watch.seen(chunk)
        except GeneratorExit:  # the caller stopped early (or dropped the stream): the span ends, not as an error
            op.end()
            raise
        except Exception as err:
            op.failed(err)
            raise
        finally:
            close(chunks)
        watch.finish()

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        watch = _Watch(None, self.telemetry.capture_content)
        stream = self._astream(watch, request)
        watch.watch(stream)
        return stream

    async def _astream(self, watch: _Watch, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        op = watch.op = start_chat(self.telemetry, request, stream=True)
        chunks = aiter(self.wrapped.astream_chat(request))
        try:
            while True:
                token = watch.before()
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                finally:
                    watch.after(token)
                yield watch.seen(chunk)
        except GeneratorExit:
            op.end()
            raise
        except Exception as err:
            op.failed(err)
            raise
        finally:
            await aclose(chunks)
        watch.finish()

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        with start_embeddings(self.telemetry, model, _count(texts), opts.get("dimensions")) as op:
            result = self.wrapped.embed(texts, model, **opts)
        op.embedded(result)
        return result

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        with start_embeddings(self.telemetry, model, _count(texts), opts.get("dimensions")) as op:
            result = await self.wrapped.aembed(texts, model, **opts)
        op.embedded(result)
        return result


class AttemptEvents(WrapperProvider):
    """One server's attempts within operations: a failure is an event on the current operation's span,
    an answer names the server on it (outside an operation, both are no-ops)."""

    def __init__(self, wrapped: Provider, info: ModelInfo | None, flavor: str | None) -> None:
        self.wrapped, self.info, self.flavor = wrapped, info, flavor

    def _failed(self, err: LocalProviderError) -> None:
        op = CURRENT.get()
        if op is not None:
            op.attempt_failed(self.info, self.flavor, err)

    def _answered(self) -> None:
        op = CURRENT.get()
        if op is not None:
            op.answered_by(self.info, self.flavor)

    def chat(self, request: ChatRequest) -> ChatResult:
        try:
            result = self.wrapped.chat(request)
        except LocalProviderError as err:
            self._failed(err)
            raise
        self._answered()
        return result

    async def achat(self, request: ChatRequest) -> ChatResult:
        try:
            result = await self.wrapped.achat(request)
        except LocalProviderError as err:
            self._failed(err)
            raise
        self._answered()
        return result

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        chunks = iter(self.wrapped.stream_chat(request))
        try:
            try:
                first = next(chunks)
            except StopIteration:
                return
            except LocalProviderError as err:
                self._failed(err)
                raise
            self._answered()
            yield first
            yield from chunks
        finally:
            close(chunks)

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chunks = aiter(self.wrapped.astream_chat(request))
        try:
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                return
            except LocalProviderError as err:
                self._failed(err)
                raise
            self._answered()
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await aclose(chunks)

    def embed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        try:
            result = self.wrapped.embed(texts, model, **opts)
        except LocalProviderError as err:
            self._failed(err)
            raise
        self._answered()
        return result

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, **opts: Any) -> EmbeddingResult:
        try:
            result = await self.wrapped.aembed(texts, model, **opts)
        except LocalProviderError as err:
            self._failed(err)
            raise
        self._answered()
        return result


__all__ = ["AttemptEvents", "OperationSpans"]

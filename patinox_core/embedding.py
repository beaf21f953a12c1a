"""An embedding job: one ``LocalProvider.embed`` call, cut into batches once.

The caller's ``batch_size`` is what each request carries: backends send the texts they are given
in one request and never re-batch. The router (``routing.fallback``) spreads a job's batches over
the servers holding the same build of the model (one vector space, one size), one slot per batch;
when that build fails, the whole job runs again on the next one, so one call never mixes vectors
of two models.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import ConfigurationError
from .types import EmbeddingResult, Usage

#: Batches in flight at once when the caller does not say.
DEFAULT_EMBED_CONCURRENCY = 4

Batch = list[str]


def plan_batches(texts: Sequence[str] | str, batch_size: int, max_concurrency: int | None
                 ) -> tuple[list[Batch], int]:
    """The job's batches (at most ``batch_size`` texts each, in input order) and its concurrency.

    >>> plan_batches(["a", "b", "c"], 2, None)
    ([['a', 'b'], ['c']], 4)
    >>> plan_batches("one", 256, 1)
    ([['one']], 1)
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    workers = DEFAULT_EMBED_CONCURRENCY if max_concurrency is None else max_concurrency
    if batch_size < 1 or workers < 1:
        raise ConfigurationError(f"batch_size={batch_size} and max_concurrency={workers} must both be >= 1",
                                 hint="pass positive values")
    return [items[i:i + batch_size] for i in range(0, len(items), batch_size)], workers


def merge_embeddings(parts: Sequence[EmbeddingResult], model: str | None, service: str | None) -> EmbeddingResult:
    """The batches of one job as one result (``service``: the given one, else the first batch's),
    vectors in batch order; tokens summed only when every batch reported them (an embedding's
    total is its input).

    >>> a = EmbeddingResult([[1.0]], model="m:latest", usage=Usage(input_tokens=3))
    >>> b = EmbeddingResult([[2.0]], usage=Usage(input_tokens=4))
    >>> merged = merge_embeddings([a, b], "m", "http://h")
    >>> merged.vectors, merged.model, merged.usage.input_tokens, merged.usage.total_tokens, merged.service
    ([[1.0], [2.0]], 'm:latest', 7, 7, 'http://h')
    >>> merge_embeddings([a, EmbeddingResult([[3.0]])], "m", "http://h").usage.input_tokens is None
    True
    """
    counts = [p.usage.input_tokens for p in parts]
    tokens = sum(c for c in counts if c is not None) if counts and None not in counts else None
    name = next((p.model for p in parts if p.model), model)
    service = service or next((p.service for p in parts if p.service), None)
    return EmbeddingResult([v for p in parts for v in p.vectors], model=name,
                           usage=Usage(input_tokens=tokens, total_tokens=tokens), service=service)


Progress = Callable[[int], None]


def _tally(progress: Progress | None) -> Callable[[int], None]:
    """Counts the texts embedded in one run of a job and reports the total so far to ``progress``
    (a run on the next server starts again from 0). Thread-safe."""
    lock, done = threading.Lock(), [0]

    def step(n: int) -> None:
        if progress is None:
            return
        with lock:
            done[0] += n
            total = done[0]
        progress(total)

    return step


def run_job(embed: Callable[[Batch], EmbeddingResult], batches: list[Batch], workers: int,
            model: str | None, service: str | None, progress: Progress | None = None) -> EmbeddingResult:
    """Every batch through ``embed`` (one server), up to ``workers`` at once in threads that see
    the caller's context variables; the first failure cancels the batches not yet started.
    ``progress(n)`` hears how many texts are embedded so far."""
    step = _tally(progress)

    def one(batch: Batch) -> EmbeddingResult:
        result = embed(batch)
        step(len(batch))
        return result

    if len(batches) <= 1 or workers <= 1:
        return merge_embeddings([one(b) for b in batches], model, service)
    with ThreadPoolExecutor(min(workers, len(batches)), thread_name_prefix="patinox-embed") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, b) for b in batches]
        try:
            return merge_embeddings([f.result() for f in futures], model, service)
        except BaseException:
            for f in futures:
                f.cancel()
            raise


async def arun_job(embed: Callable[[Batch], Awaitable[EmbeddingResult]], batches: list[Batch], workers: int,
                   model: str | None, service: str | None, progress: Progress | None = None) -> EmbeddingResult:
    """Async twin of ``run_job``: up to ``workers`` batches in flight, the rest cancelled on failure."""
    gate, failed, step = asyncio.Semaphore(workers), asyncio.Event(), _tally(progress)

    async def one(batch: Batch) -> EmbeddingResult:
        async with gate:
            if failed.is_set():  # a batch failed: start no other before the cancellation lands
                raise asyncio.CancelledError
            try:
                result = await embed(batch)
            except BaseException:
                failed.set()
                raise
            step(len(batch))
            return result

    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(one(b)) for b in batches]
    try:
        parts = await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # none still sends once the next server starts
        raise
    return merge_embeddings(parts, model, service)


__all__ = ["DEFAULT_EMBED_CONCURRENCY", "arun_job", "merge_embeddings", "plan_batches", "run_job"]

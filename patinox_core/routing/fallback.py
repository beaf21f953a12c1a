"""``FallbackProvider``: try candidates in order; the first that answers wins.

Each candidate is a ``Provider`` for one server holding the model (``routing.server``, possibly
wrapped) with the resolved model name. An error whose recovery is RETRY or FALLBACK
(``errors.should_fall_back``) before any output moves on to the next candidate and cools the failed
server down; any other error reaches the caller at once. When every candidate failed, the most
actionable error is raised, carrying every attempt in ``.attempts``. A stream commits to a server
after its first chunk (pydantic-ai's ``FallbackModel``). The four loops below differ only in their
I/O: every decision is ``_Run``'s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Hashable, Iterator, Sequence
from contextvars import Token
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from ..embedding import Batch, Progress, arun_job, plan_batches, run_job
from ..errors import LocalProviderError, ServerBusyError, ServiceUnavailableError, most_actionable, should_fall_back
from ..retry import BUSY_RETRIES
from ..transport import CONNECT_RETRIES
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult
from .affinity import Session
from .health import Health
from .load import Choice, Expired, Lane, Scheduler
from .policy import NO_SERVER_HINT

#: Slots assumed for a candidate nobody said anything about (``kinds``' ``default_slots``).
DEFAULT_CAPACITY = 4

if TYPE_CHECKING:
    from ..capabilities import ModelInfo
    from ..provider import Provider


def with_model(request: ChatRequest, name: str) -> ChatRequest:
    """``request`` for the resolved model name: the same object when the name already matches,
    else a shallow copy (``ChatRequest.renamed``)."""
    return request if request.model == name else request.renamed(name)


def for_candidate(request: ChatRequest, candidate: Candidate) -> ChatRequest:
    """``request`` as sent to ``candidate``: its model name there, and its headers (a gateway's
    affinity header) added to the request's own.

    >>> req = ChatRequest(model="m", messages=[], headers={"x-team": "a"})
    >>> sent = for_candidate(req, Candidate("http://gw:4000", "m", None, headers={"x-session-id": "k"}))
    >>> sent.headers, req.headers
    ({'x-team': 'a', 'x-session-id': 'k'}, {'x-team': 'a'})
    """
    request = with_model(request, candidate.model)
    if not candidate.headers:
        return request
    clone = request.renamed(candidate.model)
    clone.headers = {**(request.headers or {}), **candidate.headers}
    return clone


class Candidate(NamedTuple):
    """One server to try: its URL, the model's name there, the provider that reaches it, how many
    requests it serves at once (``capacity``) and whether the model is loaded there."""

    service: str
    model: str
    provider: Provider
    capacity: int = DEFAULT_CAPACITY
    loaded: bool = True
    build: Hashable = None  # equal on servers holding the same model build (embedding jobs split there)
    headers: dict[str, str] | None = None  # sent with a chat request there (a gateway's affinity header)


def _solo_choice(c: Candidate) -> Choice:
    """The scheduler's choice of a call with one candidate (nothing to rank: usable or not, it is tried)."""
    return Choice(c.service, c.model, max(1, c.capacity), True, c.loaded)


class _Lease:
    """A stream's slot, given back when the stream ends (``ok`` only when it ran to its end)."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    def __enter__(self) -> _Lease:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.run.scheduler.release(self.run.ticket, ok=err is None)


class _Run:
    """One call's attempts: a ticket with the scheduler, tried until a candidate answers, every
    candidate failed (``exhausted``) or the deadline passed while the servers were busy.

    Iterating yields the run itself once per attempt, as a (sync or async) context manager (one
    object per call, not one per attempt): entering waits for a slot (``ServerBusyError`` when the
    deadline passes first) and sets ``candidate``/``provider``; while another candidate is usable a
    refused connection is not retried (``Health.fail_fast``), and a busy reply is never resent by
    the transport (the scheduler decides). On leaving, the slot is given back (unless a stream keeps
    it, ``keep``); a busy reply (503/429) holds that server off and lets the loop try again, any
    other error that calls for fallback excludes the server from this request and cools it down;
    such errors are swallowed (``failed``; the loop goes on)."""

    def __init__(self, provider: FallbackProvider, candidates: Sequence[Candidate] | None = None) -> None:
        self.candidates = provider.candidates if candidates is None else list(candidates)  # read, never changed
        self.health = provider.health
        self.scheduler = provider.scheduler
        if len(self.candidates) == 1:  # nothing to rank: whether it is usable does not matter
            choices = provider.solo_choices if candidates is None else [_solo_choice(self.candidates[0])]
        else:
            now = time.monotonic()
            choices = [Choice(c.service, c.model, max(1, c.capacity), self.health.usable(c.service, now), c.loaded)
                       for c in self.candidates]
        self.session = provider.session
        prefer = provider.session.prefer() if provider.session is not None else None
        self.ticket = self.scheduler.ticket(choices, provider.timeout_s, prefer)
        self.timeout_s = provider.timeout_s
        self.errors: list[LocalProviderError] = []
        self.candidate = self.candidates[0]
        self.provider: Provider = self.candidate.provider
        self.failed = False
        self.kept = False
        self._tokens: tuple[Token[int | None] | None, Token[int | None]] | None = None

    def __iter__(self) -> Iterator[_Run]:
        return self

    def __next__(self) -> _Run:
        """The next attempt while a choice is not excluded yet (the run itself, reset)."""
        if not self.scheduler.has_choices(self.ticket):
            raise StopIteration
        self.failed = self.kept = False
        return self

    def request(self, request: ChatRequest) -> ChatRequest:
        """``request`` as sent to this attempt's candidate."""
        return for_candidate(request, self.candidate)

    def _granted(self, lane: Lane) -> _Run:
        """The candidate the scheduler granted; with several, a refused connection is not retried
        while another is usable."""
        if len(self.candidates) == 1:
            self._tokens = (None, BUSY_RETRIES.set(0))
            return self
        self.candidate = next(c for c in self.candidates if (c.service, c.model) == (lane.service, lane.model))
        self.provider = self.candidate.provider
        later = [c.service for c in self.candidates
                 if c is not self.candidate and (c.service, c.model) not in self.ticket.excluded]
        self._tokens = (self.health.fail_fast(later) if later else None, BUSY_RETRIES.set(0))
        return self

    def __enter__(self) -> _Run:
        try:
            lane = self.scheduler.acquire(self.ticket)
        except Expired:
            raise self.busy_error() from None
        return self._granted(lane)

    async def __aenter__(self) -> _Run:
        try:
            lane = await self.scheduler.aacquire(self.ticket)
        except Expired:
            raise self.busy_error() from None
        return self._granted(lane)

    def keep(self) -> _Lease:
        """The slot stays taken after the block (a stream holds it until it ends)."""
        self.kept = True
        return _Lease(self)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if self._tokens is not None:
            connect, busy = self._tokens
            if connect is not None:
                CONNECT_RETRIES.reset(connect)
            BUSY_RETRIES.reset(busy)
            self._tokens = None
        ticket = self.ticket
        if err is None:
            if self.session is not None:  # the conversation's next turns prefer the server that answered
                self.session.remember((self.candidate.service, self.candidate.model))
            if not self.kept:
                self.scheduler.release(ticket)
            return False
        if not isinstance(err, LocalProviderError) or not should_fall_back(err):
            self.scheduler.release(ticket, ok=False)
            return False
        self.failed = True
        self.errors.append(err)
        if isinstance(err, ServerBusyError):
            self.scheduler.busy(ticket, err.retry_after)
        else:
            self.scheduler.exclude(ticket)
            self.health.cool(self.candidate.service, err)
        return True

    async def __aexit__(self, kind: type[BaseException] | None, err: BaseException | None,
                        tb: TracebackType | None) -> bool:
        return self.__exit__(kind, err, tb)

    def busy_error(self) -> ServerBusyError:
        """The wait for a slot ended at the deadline: ``ServerBusyError``."""
        last = next((e for e in reversed(self.errors) if isinstance(e, ServerBusyError)), None)
        first = self.candidates[0]
        what = ("answered busy (503/429)" if last is not None
                else "had every slot taken")
        err = ServerBusyError(
            f"every server with {first.model} {what} until the request's deadline ({self.timeout_s:g}s) ran out",
            hint="retry later, raise total_timeout (PATINOX_TOTAL_TIMEOUT), send fewer requests at once, "
                 "or add servers (or max_concurrency) for this model",
            service=last.service if last is not None else first.service, model=first.model,
            status_code=last.status_code if last is not None else None,
            retry_after=last.retry_after if last is not None else None, attempts=self.errors)
        return err

    def exhausted(self) -> LocalProviderError:
        return exhausted_error(self.errors)


def exhausted_error(errors: Sequence[LocalProviderError]) -> LocalProviderError:
    """The error once every candidate failed (``most_actionable``), or that none could be tried."""
    if errors:
        return most_actionable(errors)
    return ServiceUnavailableError("no server could serve this request", hint=NO_SERVER_HINT)


class FallbackProvider:
    """The ``Provider`` calls over ``candidates`` (plan order), load-aware and falling back as the
    module says. ``scheduler`` is the provider's (``routing.load``; a private one when None);
    ``timeout_s`` bounds the wait for a slot and for busy servers; ``session`` is the conversation's
    affinity (``routing.affinity``)."""

    def __init__(self, candidates: Sequence[Candidate], health: Health, scheduler: Scheduler | None = None,
                 timeout_s: float | None = None, session: Session | None = None) -> None:
        self.candidates = list(candidates)
        self.health = health
        self.scheduler = scheduler if scheduler is not None else Scheduler()
        self.timeout_s = health.settings.total_timeout if timeout_s is None else timeout_s
        self.session = session
        # a one-candidate call's scheduler choice, made once (a ticket never changes its choices)
        self.solo_choices = [_solo_choice(self.candidates[0])] if len(self.candidates) == 1 else []

    def __repr__(self) -> str:
        return f"FallbackProvider({[c.service for c in self.candidates]})"

    def chat(self, request: ChatRequest) -> ChatResult:
        run = _Run(self)
        for attempt in run:
            with attempt:
                return attempt.provider.chat(attempt.request(request))
        raise run.exhausted()

    async def achat(self, request: ChatRequest) -> ChatResult:
        run = _Run(self)
        for attempt in run:
            async with attempt:
                return await attempt.provider.achat(attempt.request(request))
        raise run.exhausted()

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Chunks of the first candidate that yields one; later failures reach the caller."""
        run = _Run(self)
        for attempt in run:
            with attempt:
                chunks = iter(attempt.provider.stream_chat(attempt.request(request)))
                first = next(chunks, None)  # a failed generator is finished: nothing to close
                lease = attempt.keep()
            if attempt.failed:
                continue
            with lease:  # the slot is held until the stream ends
                try:
                    if first is not None:
                        yield first
                    yield from chunks
                finally:  # a caller that stops early closes the server's stream now
                    close(chunks)
            return
        raise run.exhausted()

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        run = _Run(self)
        for attempt in run:
            async with attempt:
                chunks = aiter(attempt.provider.astream_chat(attempt.request(request)))
                first = await anext(chunks, None)
                lease = attempt.keep()
            if attempt.failed:
                continue
            with lease:  # the slot is held until the stream ends
                try:
                    if first is not None:
                        yield first
                    async for chunk in chunks:
                        yield chunk
                finally:
                    await aclose(chunks)
            return
        raise run.exhausted()

    def _builds(self) -> list[list[Candidate]]:
        """The candidates by model build: equal ``build`` facts and the same vector size seen there
        (a server whose size is not known yet is a build of its own). Usable builds first, then the
        least loaded, then plan order."""
        groups: dict[Hashable, list[Candidate]] = {}
        for c in self.candidates:
            dims = self.scheduler.dimensions((c.service, c.model))
            key = (c.build, dims) if c.build is not None and dims else (c.service, c.model)
            groups.setdefault(key, []).append(c)
        now = time.monotonic()
        return sorted(groups.values(), key=lambda g: (not any(self.health.usable(c.service, now) for c in g),
                                                      min(self.scheduler.load((c.service, c.model)) for c in g)))

    def _job(self, texts: Sequence[str] | str, opts: dict[str, Any]) -> tuple[list[Batch], int, dict[str, Any]]:
        size = opts.pop("batch_size", None)
        size = self.health.settings.embed_batch_size if size is None else size
        batches, workers = plan_batches(texts, size, opts.pop("max_concurrency", None))
        return batches, workers, {k: v for k, v in opts.items() if v is not None}

    def _batch(self, group: Sequence[Candidate], sent: dict[str, Any], batch: Batch) -> EmbeddingResult:
        run = _Run(self, group)
        for attempt in run:
            with attempt:
                return self._seen(attempt, attempt.provider.embed(batch, attempt.candidate.model, batch_size=len(batch),
                                                                  max_concurrency=1, **sent))
        raise run.exhausted()

    async def _abatch(self, group: Sequence[Candidate], sent: dict[str, Any], batch: Batch) -> EmbeddingResult:
        run = _Run(self, group)
        for attempt in run:
            async with attempt:
                return self._seen(attempt, await attempt.provider.aembed(
                    batch, attempt.candidate.model, batch_size=len(batch), max_concurrency=1, **sent))
        raise run.exhausted()

    def _seen(self, attempt: _Run, result: EmbeddingResult) -> EmbeddingResult:
        self.scheduler.learn_dimensions((attempt.candidate.service, attempt.candidate.model), result.dimensions)
        return result

    def embed(self, texts: Sequence[str] | str, model: str | None = None, *, progress: Progress | None = None,
              **opts: Any) -> EmbeddingResult:
        """Vectors in input order. The batches are spread over the servers holding the same build of
        the model (each batch one slot, so in proportion to their capacity); a failed batch moves to
        another server of that build; when the whole build fails, the job runs again on the next
        build, so vectors of two different models are never mixed."""
        batches, workers, sent = self._job(texts, dict(opts))
        tries = _BuildTries(self._builds())
        for group, members in tries:
            try:
                result = run_job(partial(self._batch, members, sent), batches, workers, group[0].model, None,
                                 progress)
            except LocalProviderError as err:
                tries.failed(err)
                continue
            if _one_size(result):
                return result
        raise tries.exhausted()

    async def aembed(self, texts: Sequence[str] | str, model: str | None = None, *, progress: Progress | None = None,
                     **opts: Any) -> EmbeddingResult:
        batches, workers, sent = self._job(texts, dict(opts))
        tries = _BuildTries(self._builds())
        for group, members in tries:
            try:
                result = await arun_job(partial(self._abatch, members, sent), batches, workers, group[0].model,
                                        None, progress)
            except LocalProviderError as err:
                tries.failed(err)
                continue
            if _one_size(result):
                return result
        raise tries.exhausted()

    def list_models(self, refresh: bool = False) -> list[ModelInfo]:
        """Every candidate's models (a candidate's provider answers for its server)."""
        return [i for c in self.candidates for i in c.provider.list_models(refresh)]

    async def alist_models(self, refresh: bool = False) -> list[ModelInfo]:
        return [i for c in self.candidates for i in await c.provider.alist_models(refresh)]


class _BuildTries:
    """An embedding job's tries, sync or async alike: each build of the model in turn, each split of
    it (``_split_or_pinned``); a failure that calls for fallback moves on to the next build, any
    other is raised; the errors are kept for the end."""

    def __init__(self, builds: Sequence[list[Candidate]]) -> None:
        self.builds = builds
        self.errors: list[LocalProviderError] = []
        self._failed = False

    def __iter__(self) -> Iterator[tuple[list[Candidate], list[Candidate]]]:
        for group in self.builds:
            self._failed = False
            for members in _split_or_pinned(group):
                yield group, members
                if self._failed:
                    break

    def failed(self, err: LocalProviderError) -> None:
        if not should_fall_back(err):
            raise err
        self.errors.append(err)
        self._failed = True

    def exhausted(self) -> LocalProviderError:
        return exhausted_error(self.errors)


def _split_or_pinned(group: list[Candidate]) -> list[list[Candidate]]:
    """How a build runs a job: over all its servers, then (vectors of two sizes came back: not one
    model after all) on its first server alone."""
    return [group, group[:1]] if len(group) > 1 else [group]


def _one_size(result: EmbeddingResult) -> bool:
    return len({len(v) for v in result.vectors}) <= 1


def close(chunks: Iterator[Any]) -> None:
    """Close a stream that is a generator (a plain iterator has nothing to close)."""
    getattr(chunks, "close", lambda: None)()


async def aclose(chunks: AsyncIterator[Any]) -> None:
    """Close an async stream that is an async generator."""
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


__all__ = ["Candidate", "FallbackProvider", "aclose", "close", "for_candidate", "with_model"]

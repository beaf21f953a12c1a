"""In-process ``Backend``s for router and adapter tests: no HTTP, no sleeps.

``ScriptedBackend(*replies)`` answers chat calls from a script consumed in order; each reply is a
``ChatResult``, a ``str`` (the assistant's text), a ``LocalProviderError`` (raised before any
output), a ``MidStreamError`` (fails after some chunks), or a callable ``request -> reply``.
``FunctionBackend(fn)`` answers every call with ``fn(request)``. Both record chat requests in
``.requests`` and embedding calls in ``.embed_calls``, report ``models`` as their ``ServerFacts``,
embed deterministically (a hash of each text), and can be ``kill()``-ed like a server.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import ProviderKind
from ..errors import LocalProviderError, ServiceUnavailableError
from ..facts import ServerFacts
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Message, Metrics, Usage

_COUNTER = itertools.count(1)
DEFAULT_MODELS: tuple[ServerFacts, ...] = (
    {"name": "scripted", "capabilities": {"chat": True, "completion": True, "tools": True, "embeddings": False}},
)


@dataclass(slots=True)
class MidStreamError:
    """A reply that streams ``after`` chunks of ``result`` and then raises ``error``.
    A non-stream ``chat`` raises ``error`` at once (nothing was shown yet)."""

    result: ChatResult | str
    after: int
    error: LocalProviderError


Reply = ChatResult | str | LocalProviderError | MidStreamError | Callable[[ChatRequest], Any]


@dataclass(slots=True)
class EmbedCall:
    """One recorded ``embed`` call."""

    texts: list[str]
    model: str
    opts: dict[str, Any] = field(default_factory=dict)


class ScriptExhaustedError(AssertionError):
    """A scripted backend was called more often than its script allows."""


def estimate_tokens(text: str) -> int:
    """Deterministic token estimate used by the fakes: about four characters per token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def fake_vector(text: str, dimensions: int = 8) -> list[float]:
    """A unit vector derived from ``sha256(text)``: equal texts, equal vectors.

    >>> fake_vector("hi", 3) == fake_vector("hi", 3), len(fake_vector("x", 5))
    (True, 5)
    """
    raw = hashlib.sha256(text.encode()).digest()
    while len(raw) < dimensions:
        raw += hashlib.sha256(raw).digest()
    values = [b / 255.0 - 0.5 for b in raw[:dimensions]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def split_text(text: str, size: int = 3) -> list[str]:
    """Split a reply into stream deltas of about ``size`` words (whitespace kept).

    >>> split_text("one two three four", 2)
    ['one two ', 'three four']
    """
    words = text.split(" ")
    return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "") for i in range(0, len(words), size)]


class _InProcessBackend:
    """What both fakes share: identity, catalogue, failure switches, embeddings, async twins."""

    __test__ = False

    def __init__(self, *, kind: ProviderKind | str = ProviderKind.OLLAMA, base_url: str | None = None,
                 models: Sequence[ServerFacts] | None = None, dimensions: int = 8, chunk_words: int = 3) -> None:
        self.kind = ProviderKind(kind)
        self.base_url = base_url or f"scripted://backend-{next(_COUNTER)}"
        self.models: list[ServerFacts] = [dict(m) for m in (DEFAULT_MODELS if models is None else models)]  # type: ignore[misc]
        self.load_state: Any = None  # the catalogue's, set by the provider
        self.dimensions = dimensions
        self.chunk_words = chunk_words
        self.requests: list[ChatRequest] = []
        self.embed_calls: list[EmbedCall] = []
        self.list_calls = 0
        self.down = False
        self._failures: deque[LocalProviderError] = deque()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind.value}, base_url={self.base_url!r})"

    # -- failure switches ----------------------------------------------------------------
    def kill(self) -> None:
        """Every call raises ``ServiceUnavailableError`` until ``restart()``."""
        self.down = True

    def restart(self) -> None:
        self.down = False

    def fail_next(self, error: LocalProviderError, times: int = 1) -> None:
        """The next ``times`` calls of any kind (chat, stream, embed, listing) raise ``error``."""
        self._failures.extend([error] * times)

    def _gate(self) -> None:
        if self.down:
            raise ServiceUnavailableError(f"cannot connect to {self.base_url} (killed)", service=self.base_url,
                                          hint="start it again")
        if self._failures:
            err = self._failures.popleft()
            err.service = err.service or self.base_url
            raise err

    # -- catalogue -----------------------------------------------------------------------
    def list_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]:
        """The scripted models (an injected backend is never probed by discovery: no ``probed``)."""
        self.list_calls += 1
        self._gate()
        return [dict(m) for m in self.models]  # type: ignore[misc]

    async def alist_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]:
        return self.list_model_facts(probed)

    # -- chat ----------------------------------------------------------------------------
    def _reply(self, request: ChatRequest) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _result(self, request: ChatRequest, reply: Any) -> ChatResult:
        if isinstance(reply, str):
            prompt = "".join(m.content for m in request.messages)
            usage = Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(reply))
            reply = ChatResult(message=Message(role="assistant", content=reply), usage=usage)
        if not isinstance(reply, ChatResult):
            raise TypeError(f"{type(self).__name__} reply must be a ChatResult or str, got {type(reply).__name__}")
        return replace(reply, model=reply.model or request.model, service=reply.service or self.base_url)

    def _next(self, request: ChatRequest) -> Any:
        self._gate()
        self.requests.append(request)
        reply = self._reply(request)
        while callable(reply) and not isinstance(reply, (ChatResult, LocalProviderError)):
            reply = reply(request)
        if isinstance(reply, LocalProviderError):
            reply.service = reply.service or self.base_url
            reply.model = reply.model or request.model
            raise reply
        return reply

    def chat(self, request: ChatRequest) -> ChatResult:
        reply = self._next(request)
        if isinstance(reply, MidStreamError):
            raise reply.error
        return self._result(request, reply)

    async def achat(self, request: ChatRequest) -> ChatResult:
        return self.chat(request)

    def _chunks(self, request: ChatRequest, result: ChatResult) -> list[ChatChunk]:
        ident: dict[str, Any] = {"model": result.model, "service": result.service}
        thinking = result.message.thinking or ""
        out = [ChatChunk(thinking=t, **ident) for t in split_text(thinking, self.chunk_words) if t]
        out += [ChatChunk(content=c, **ident) for c in split_text(result.message.content, self.chunk_words) if c]
        if result.message.tool_calls:
            out.append(ChatChunk(tool_calls=list(result.message.tool_calls), **ident))
        out.append(ChatChunk(finish_reason=result.finish_reason or "stop", usage=result.usage,
                             metrics=result.metrics or Metrics(), **ident))
        return out

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        reply = self._next(request)  # raises before the first chunk, like a refused connection
        if isinstance(reply, MidStreamError):
            return _failing(self._chunks(request, self._result(request, reply.result))[: reply.after], reply.error)
        return iter(self._chunks(request, self._result(request, reply)))

    async def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for chunk in self.stream_chat(request):
            yield chunk

    # -- embeddings ----------------------------------------------------------------------
    def _vectors(self, texts: list[str], model: str, opts: dict[str, Any]) -> list[list[float]]:
        return [fake_vector(t, opts.get("dimensions") or self.dimensions) for t in texts]

    def embed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        self._gate()
        batch = list(texts)
        self.embed_calls.append(EmbedCall(batch, model, dict(opts)))
        usage = Usage(input_tokens=sum(estimate_tokens(t) for t in batch), output_tokens=0)
        return EmbeddingResult(vectors=self._vectors(batch, model, opts), model=model, usage=usage,
                               service=self.base_url)

    async def aembed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        return self.embed(texts, model, **opts)


def _failing(chunks: Iterable[ChatChunk], error: LocalProviderError) -> Iterator[ChatChunk]:
    yield from chunks
    raise error


class ScriptedBackend(_InProcessBackend):
    """Replies consumed in order; running out raises ``ScriptExhaustedError``."""

    def __init__(self, *replies: Reply, kind: ProviderKind | str = ProviderKind.OLLAMA, base_url: str | None = None,
                 models: Sequence[ServerFacts] | None = None, dimensions: int = 8, chunk_words: int = 3) -> None:
        super().__init__(kind=kind, base_url=base_url, models=models, dimensions=dimensions, chunk_words=chunk_words)
        self.script: deque[Reply] = deque(replies)

    def add(self, *replies: Reply) -> ScriptedBackend:
        self.script.extend(replies)
        return self

    def _reply(self, request: ChatRequest) -> Any:
        if not self.script:
            raise ScriptExhaustedError(f"{self!r} has no reply left for request #{len(self.requests)} "
                                       f"(model {request.model!r})")
        return self.script.popleft()


class FunctionBackend(_InProcessBackend):
    """``fn(request)`` answers every chat call; ``embed_fn(texts, model, **opts)`` (optional)
    returns the vectors, else deterministic hash vectors."""

    def __init__(self, fn: Callable[[ChatRequest], Any], *, embed_fn: Callable[..., list[list[float]]] | None = None,
                 kind: ProviderKind | str = ProviderKind.OLLAMA, base_url: str | None = None,
                 models: Sequence[ServerFacts] | None = None, dimensions: int = 8, chunk_words: int = 3) -> None:
        super().__init__(kind=kind, base_url=base_url, models=models, dimensions=dimensions, chunk_words=chunk_words)
        self.fn = fn
        self.embed_fn = embed_fn

    def _reply(self, request: ChatRequest) -> Any:
        return self.fn(request)

    def _vectors(self, texts: list[str], model: str, opts: dict[str, Any]) -> list[list[float]]:
        if self.embed_fn is None:
            return super()._vectors(texts, model, opts)
        return self.embed_fn(texts, model, **opts)


__all__ = ["EmbedCall", "FunctionBackend", "MidStreamError", "ScriptExhaustedError", "ScriptedBackend",
           "fake_vector", "split_text"]

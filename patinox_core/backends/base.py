"""The ``Backend`` protocol (one server) plus the small pure helpers the backends share."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LocalProviderError, ServiceUnavailableError
from ..facts import ServerFacts
from ..types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult

if TYPE_CHECKING:
    from ..config import ProviderKind

#: classify_error(status, body) -> the typed error. ``status`` is None for in-stream error lines;
#: ``body`` is the parsed JSON (dict) or the raw text of the reply.
ErrorClassifier = Callable[[int | None, Any], LocalProviderError]


class ErrorPayload(Exception):
    """Raised by a pure parser when the server sent an error object (e.g. a mid-stream
    ``{"error": ...}`` line). ``transport.py`` turns it into a typed error via the classifier."""

    def __init__(self, body: Any, status: int | None = None) -> None:
        super().__init__(str(body)[:200])
        self.body = body
        self.status = status


class StreamParser(Protocol):
    """Pure, synchronous stream parser: lines in, neutral chunks out.

    ``t0`` is set by the transport (``time.perf_counter()``) just before the request is sent, so
    the parser can report client-measured time to first token.
    """

    t0: float

    def feed(self, line: str) -> list[ChatChunk]: ...

    def close(self) -> list[ChatChunk]:
        """Called at end of body: the final chunk(s), or raise if the stream was truncated."""
        ...


class LineParser(Protocol):
    """Any line parser ``exchange.stream`` drives: a ``StreamParser`` (chat chunks) or a progress
    parser (``ProgressEvent``s of a pull)."""

    t0: float

    def feed(self, line: str) -> Sequence[Any]: ...

    def close(self) -> Sequence[Any]: ...


class LoadState(Protocol):
    """Load state on one server, owned by the catalogue (``catalogue.ServiceLoadState``): a backend
    asks it to choose the cold-load read timeout and tells it what it loaded or unloaded itself."""

    def is_loaded(self, model: str | None) -> bool | None:
        """True / False as last known; None when the server does not report load state."""

    def mark(self, model: str, loaded: bool, context: int | None = None) -> None:
        """``model`` was loaded (with ``context`` tokens allocated, when the server said) or unloaded."""


class Backend(Protocol):
    """One server. Same calls as ``LocalProvider`` except the catalogue: a backend reports raw
    ``ServerFacts`` and ``capabilities.py`` turns them into ``ModelInfo``.

    ``load_state`` (set by the provider; ``None`` for a backend used alone: load state unknown)
    says what is resident; a request for a model not known to be loaded gets the cold-load read
    timeout.
    """

    kind: ProviderKind
    base_url: str
    load_state: LoadState | None

    def chat(self, request: ChatRequest) -> ChatResult: ...

    async def achat(self, request: ChatRequest) -> ChatResult: ...

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]: ...

    def astream_chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    def embed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult:
        """Every text in one request (batching is ``patinox_core.embedding``'s job, never a backend's)."""

    async def aembed(self, texts: Sequence[str], model: str, **opts: Any) -> EmbeddingResult: ...

    def list_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]:
        """``probed``: replies this server's endpoints gave discovery in the same round (decoded JSON,
        by path, ``Service.probed``), to use instead of asking again; passed only when there are some."""

    async def alist_model_facts(self, probed: Mapping[str, Any] | None = None) -> list[ServerFacts]: ...


def tool_call_id(name: str, arguments_json: str, index: int) -> str:
    """Deterministic tool-call id from (name, canonical JSON arguments, position).

    >>> tool_call_id("get_weather", '{"city":"Paris"}', 0)
    'call_d88a5dba120dfb68'
    """
    digest = hashlib.sha256(f"{index}\x00{name}\x00{arguments_json}".encode()).hexdigest()
    return f"call_{digest[:16]}"


def token_count(value: Any) -> int | None:
    """A plausible token count, else None (NaN, negatives, strings, absurd sizes are not counts).

    >>> token_count(12), token_count(12.0), token_count(float("nan")), token_count(-1), token_count(10**400)
    (12, 12, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # a tuple: 3x faster than int | float
        return None
    if isinstance(value, float) and not value.is_integer():  # NaN and inf are not integers either
        return None
    return int(value) if 0 <= value < 2**53 else None


def stream_stopped_error(model: str | None, service: str | None) -> ServiceUnavailableError:
    """A stream whose body ended cleanly, between events, before the reply was finished: the server
    stopped sending (SIGTERM, a restart, or an error it could not report after HTTP 200), the same
    type as a connection reset mid-stream (``docs/reliability.md``)."""
    return ServiceUnavailableError("the server stopped sending before the reply was finished",
                                   hint="it was stopped or restarted, or failed after answering HTTP 200; check "
                                        "that it is running and its log, then retry", model=model, service=service)

"""``Operation``: one call's span, its fallback-attempt events and, at its end, the GenAI metrics.

A CLIENT span named ``{gen_ai.operation.name} {gen_ai.request.model}``; ``CURRENT`` is the operation
being recorded in this context (read when a request's candidate servers are wrapped).

What it costs is mostly the OpenTelemetry SDK's, which locks, cleans and hashes every attribute
dict it gets; so an operation gives it two dicts (the request's at the start, everything learned
at the end) and the metric label sets cached per server and model (``labels``). The span is never
made the current one (nothing patinox runs under it makes spans), and the happy path adds no event.
A span the sampler dropped gets no attributes or events, only the metrics are recorded.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import SpanKind, Status, StatusCode

from . import attributes as attrs
from .labels import NO_SERVER, Server, Servers

if TYPE_CHECKING:
    from types import TracebackType

    from ..capabilities import ModelInfo
    from ..types import ChatRequest, ChatResult, EmbeddingResult, Usage

#: a stream dropped unfinished and unclosed: its span ends when it is garbage-collected, marked so
ABANDONED = "patinox.stream.abandoned"


class Instruments(Protocol):
    """Where an operation records (``recorder.Telemetry``)."""

    capture_content: bool
    tracer: Any
    duration: Any
    tokens: Any
    first_chunk: Any
    servers: Servers


CURRENT: ContextVar[Operation | None] = ContextVar("patinox_operation", default=None)

_perf_counter = time.perf_counter


def start_chat(tel: Instruments, request: ChatRequest, *, stream: bool) -> Operation:
    values = attrs.request_attributes(request)
    if tel.capture_content:
        values["gen_ai.input.messages"] = attrs.messages_json(request.messages)
    return Operation(tel, values, request.model or None, stream=stream)


def start_embeddings(tel: Instruments, model: str | None, count: int, dimensions: int | None) -> Operation:
    return Operation(tel, attrs.embed_request_attributes(model, count, dimensions), model or None, stream=False)


class Operation:
    """One logical call's span and measurements; fallback attempts are events on it.

    Used as a context manager, it is ``CURRENT`` for the block, and an error leaving the block fails it.
    """

    __slots__ = ("_token", "ended", "failures", "first_chunk_at", "model", "name", "recording", "server", "span",
                 "start", "stream", "tel", "where")

    def __init__(self, tel: Instruments, values: attrs.Attributes, model: str | None, *, stream: bool) -> None:
        self.tel, self.stream, self.model = tel, stream, model
        self.name: str = values["gen_ai.operation.name"]
        self.span = tel.tracer.start_span(f"{self.name} {model}" if model else self.name, kind=SpanKind.CLIENT,
                                          attributes=values)
        self.recording: bool = self.span.is_recording()  # a span the sampler dropped: the metrics only
        self.start = _perf_counter()
        self.first_chunk_at: float | None = None
        self.failures = 0  # failed attempts (events)
        self.where: tuple[ModelInfo | None, str | None, str | None] | None = None  # the server that answered
        self.server: Server = NO_SERVER  # the server named on the span: the one that answered, else the last tried
        self.ended = False
        self._token: Token[Operation | None] | None = None

    def __enter__(self) -> Operation:
        self._token = CURRENT.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            CURRENT.reset(self._token)
            self._token = None
        if isinstance(err, Exception):
            self.failed(err)

    # -- what happened -------------------------------------------------------------------
    def answered_by(self, info: ModelInfo | None, flavor: str | None, service: str | None = None) -> None:
        """The server that answered (named on the span at its end, unless the reply names it)."""
        self.where = (info, flavor, service)

    def attempt_failed(self, info: ModelInfo | None, flavor: str | None, err: BaseException) -> None:
        """A fallback attempt that failed: an event with the server and the error. Until another
        answers, the span names this server (the last one tried)."""
        self.failures += 1
        self.server = self.tel.servers.get(info, flavor)
        if self.recording:
            event = dict(self.server.attributes)
            event.update({"error.type": type(err).__name__, "patinox.attempt": self.failures,
                          "patinox.error.message": str(err)[:500]})
            self.span.add_event("patinox.fallback.attempt", event)

    def chunk(self) -> None:
        """A streamed chunk arrived (the first one sets the time to first chunk)."""
        if self.first_chunk_at is None:
            self.first_chunk_at = _perf_counter()

    # -- the end: exactly once -----------------------------------------------------------
    def succeeded(self, result: ChatResult) -> None:
        if self.ended:
            return
        values = attrs.result_attributes(result) if self.recording else {}
        if result.info is not None or result.flavor is not None:
            self.where = (result.info, result.flavor, result.service)
        if self.tel.capture_content and self.recording:
            values["gen_ai.output.messages"] = attrs.output_json(result.message, result.finish_reason)
        self._end(values, result.model or None, result.usage)

    def embedded(self, result: EmbeddingResult) -> None:
        if self.ended:
            return
        values = attrs.usage_attributes(result.usage)
        if result.model:
            values["gen_ai.response.model"] = result.model
        if result.dimensions is not None:
            values["gen_ai.embeddings.dimension.count"] = result.dimensions
        if result.service and "server.address" not in self._resolve().attributes:  # the reply names it
            info, flavor = self.where[:2] if self.where is not None else (None, None)
            self.where = (info, flavor, result.service)
        self._end(values, result.model or None, result.usage)

    def failed(self, err: BaseException) -> None:
        if self.ended:
            return
        self.span.record_exception(err)
        self.span.set_status(Status(StatusCode.ERROR, str(err)[:500]))
        self._end({}, None, None, type(err).__name__)

    def end(self) -> None:
        """A stream closed before its end: the span ends here, without an error."""
        if not self.ended:
            self._end({}, None, None)

    def abandoned(self) -> None:
        """A stream garbage-collected before it ended or was closed: the span ends marked ``ABANDONED``
        and no duration is recorded (the time until collection measures nothing)."""
        if not self.ended:
            self._end({ABANDONED: True}, None, None, abandoned=True)

    def _resolve(self) -> Server:
        """The server to name: the one that answered, else the last one tried, else none."""
        if self.where is not None:
            self.server = self.tel.servers.get(*self.where)
        return self.server

    def _end(self, values: attrs.Attributes, response_model: str | None, usage: Usage | None,
             error_type: str | None = None, *, abandoned: bool = False) -> None:
        """Close the span with ``values`` and what the operation learned, then record the metrics."""
        now = _perf_counter()
        self.ended = True
        server = self._resolve()
        first = self.first_chunk_at
        if self.recording:
            values.update(server.attributes)
            if error_type is not None:
                values["error.type"] = error_type
            if self.failures:
                values["patinox.attempts"] = self.failures + (self.where is not None)
            if first is not None:
                values["gen_ai.response.time_to_first_chunk"] = first - self.start
            self.span.set_attributes(values)
        self.span.end()
        tel = self.tel
        duration, inputs, outputs = server.labels(self.name, self.model, response_model, error_type)
        if not abandoned:
            tel.duration.record(now - self.start, duration)
        if first is not None and self.stream:
            tel.first_chunk.record(first - self.start, duration)
        if usage is not None:
            if usage.input_tokens is not None:
                tel.tokens.record(usage.input_tokens, inputs)
            if usage.output_tokens is not None:
                tel.tokens.record(usage.output_tokens, outputs)


__all__ = ["ABANDONED", "CURRENT", "Instruments", "Operation", "start_chat", "start_embeddings"]

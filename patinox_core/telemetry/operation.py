"""``Operation``: one call's span, its fallback-attempt events and, at its end, the GenAI metrics.

A CLIENT span named ``{gen_ai.operation.name} {gen_ai.request.model}``; ``CURRENT`` is the operation
being recorded in this context (read when a request's candidate servers are wrapped).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import SpanKind, Status, StatusCode

from . import attributes as attrs

if TYPE_CHECKING:
    from ..capabilities import ModelInfo
    from ..types import ChatRequest, ChatResult, EmbeddingResult, Usage


class Instruments(Protocol):
    """Where an operation records (``recorder.Telemetry``)."""

    capture_content: bool
    tracer: Any
    duration: Any
    tokens: Any
    first_chunk: Any


CURRENT: ContextVar[Operation | None] = ContextVar("patinox_operation", default=None)


def start_chat(tel: Instruments, request: ChatRequest, *, stream: bool) -> Operation:
    op = Operation(tel, attrs.request_attributes(request), stream=stream)
    if tel.capture_content:
        op.span.set_attribute("gen_ai.input.messages", attrs.messages_json(request.messages))
    return op


def start_embeddings(tel: Instruments, model: str | None, count: int, dimensions: int | None) -> Operation:
    return Operation(tel, attrs.embed_request_attributes(model, count, dimensions), stream=False)


class Operation:
    """One logical call's span and measurements; fallback attempts are events on it."""

    __slots__ = ("_ended", "answered", "failures", "first_chunk_at", "pending", "span", "start", "stream", "tel",
                 "values")

    def __init__(self, tel: Instruments, values: attrs.Attributes, *, stream: bool) -> None:
        self.tel, self.stream, self.values = tel, stream, values
        values["gen_ai.provider.name"] = attrs.NO_SERVER
        name = attrs.span_name(values["gen_ai.operation.name"], values.get("gen_ai.request.model"))
        self.span = tel.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=values)
        self.start = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.pending: attrs.Attributes = {}  # set on the span once, at its end (one validation pass)
        self.failures = 0  # failed attempts (events)
        self.answered = False  # a server answered (an embedding job's batches each answer: counted once)
        self._ended = False

    # -- what happened -------------------------------------------------------------------
    def _server(self, info: ModelInfo | None, flavor: str | None, service: str | None = None) -> attrs.Attributes:
        kind = info.kind.value if info is not None else None
        out = {"gen_ai.provider.name": attrs.provider_name(kind, flavor)}
        out.update(attrs.server_attributes(service or (info.service if info is not None else None)))
        return out

    def answered_by(self, info: ModelInfo | None, flavor: str | None, service: str | None = None) -> None:
        """The server that answered: provider name, address and port (the candidate that succeeded)."""
        self.answered = True
        self._set(self._server(info, flavor, service))

    def attempt_failed(self, info: ModelInfo | None, flavor: str | None, err: BaseException) -> None:
        """A fallback attempt that failed: an event with the server and the error. Until another
        answers, the span names this server (the last one tried)."""
        self.failures += 1
        server = self._server(info, flavor)
        self._set(server)
        event = dict(server)
        event.update({"error.type": type(err).__name__, "patinox.attempt": self.failures,
                      "patinox.error.message": str(err)[:500]})
        self.span.add_event("patinox.fallback.attempt", event)

    def chunk(self) -> None:
        """A streamed chunk arrived (the first one sets the time to first chunk)."""
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()
            self.pending["gen_ai.response.time_to_first_chunk"] = self.first_chunk_at - self.start

    def _set(self, values: attrs.Attributes) -> None:
        self.values.update(values)
        self.pending.update(values)

    # -- the end: exactly once -----------------------------------------------------------
    def succeeded(self, result: ChatResult) -> None:
        self._set(attrs.result_attributes(result))
        if result.info is not None or result.flavor is not None:
            self._set(self._server(result.info, result.flavor, result.service))
        if self.tel.capture_content:
            self.pending["gen_ai.output.messages"] = attrs.output_json(result.message, result.finish_reason)
        self.end(result.usage)

    def embedded(self, result: EmbeddingResult) -> None:
        values: attrs.Attributes = attrs.usage_attributes(result.usage)
        if result.model:
            values["gen_ai.response.model"] = result.model
        if result.dimensions is not None:
            values["gen_ai.embeddings.dimension.count"] = result.dimensions
        if result.service and "server.address" not in self.values:
            values.update(attrs.server_attributes(result.service))
        self._set(values)
        self.end(result.usage)

    def failed(self, err: BaseException) -> None:
        self._set({"error.type": type(err).__name__})
        self.span.set_attributes(self.pending)
        self.pending = {}
        self.span.record_exception(err)
        self.span.set_status(Status(StatusCode.ERROR, str(err)[:500]))
        self.end(None)

    def end(self, usage: Usage | None) -> None:
        """Close the span and record the metrics (a stream closed early ends here, without an error)."""
        if self._ended:
            return
        self._ended = True
        now = time.perf_counter()
        if self.failures:
            self.pending["patinox.attempts"] = self.failures + self.answered
        if self.pending:
            self.span.set_attributes(self.pending)
        self.span.end()
        labels = attrs.metric_attributes(self.values)
        self.tel.duration.record(now - self.start, labels)
        if self.stream and self.first_chunk_at is not None:
            self.tel.first_chunk.record(self.first_chunk_at - self.start, labels)
        if usage is not None:
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
                if count is not None:
                    self.tel.tokens.record(count, {**labels, "gen_ai.token.type": kind})


__all__ = ["CURRENT", "Instruments", "Operation", "start_chat", "start_embeddings"]

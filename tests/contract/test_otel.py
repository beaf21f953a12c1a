"""OpenTelemetry GenAI instrumentation, read back through the SDK's in-memory span and metric
exporters: invoke, stream, embeddings, a fallback and errors, on real loopback fakes."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from typing import Any, cast

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from patinox_core import (
    ChatRequest,
    ConfigurationError,
    LocalProvider,
    LocalSettings,
    Message,
    ModelNotFoundError,
    ServerError,
    instrument,
    uninstrument,
)
from patinox_core.testing import FakeOllamaServer, OllamaModel, ScriptedBackend

CHAT, EMBED = "llama3.2", "nomic-embed-text"


class Telemetry:
    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_out.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Every data point of metric ``name`` (histograms: count, sum, attributes)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    t = Telemetry()
    instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        yield t
    finally:
        uninstrument()


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    models = [OllamaModel(CHAT, loaded=True, reply="Hello there friend"),
              OllamaModel(EMBED, capabilities=["embedding"], loaded=True, embedding_dim=16)]
    with FakeOllamaServer(models) as srv:
        yield srv


def _provider(url: str) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=[{"url": url, "kind": "ollama"}], discover_defaults=False))


def _ask(model: str = CHAT, text: str = "say hello", **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], **kw)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _chat_span_is_complete(span: ReadableSpan, server: FakeOllamaServer) -> dict[str, Any]:
    a = dict(span.attributes or {})
    assert span.name == f"chat {CHAT}" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "ollama"
    assert a["gen_ai.request.model"] == CHAT and a["gen_ai.response.model"] == f"{CHAT}:latest"
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == _port(server.url)
    assert "error.type" not in a and "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    return a


async def test_invoke_sync_and_async_make_one_span_each_with_the_genai_attributes_and_metrics(
        otel: Telemetry, ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url) as p:
        result = p.chat(_ask(max_tokens=50, temperature=0.5))
        await p.achat(_ask(max_tokens=50, temperature=0.5))
    spans = otel.spans()
    assert len(spans) == 2
    for span in spans:
        a = _chat_span_is_complete(span, ollama)
        assert "gen_ai.response.time_to_first_chunk" not in a  # not a stream
    assert spans[0].attributes["gen_ai.usage.output_tokens"] == result.usage.output_tokens
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.attributes["gen_ai.provider.name"] == "ollama"
    assert duration.attributes["gen_ai.request.model"] == CHAT
    assert duration.attributes["server.port"] == _port(ollama.url)
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert tokens["output"].sum == 2 * result.usage.output_tokens and tokens["input"].count == 2
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []  # streams only


async def test_a_stream_is_one_span_with_the_time_to_first_chunk(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url) as p:
        text = "".join(c.content for c in p.stream_chat(_ask(max_tokens=50, temperature=0.5)))
        assert text == "Hello there friend"
        assert [c async for c in p.astream_chat(_ask(max_tokens=50, temperature=0.5))]
    spans = otel.spans()
    assert len(spans) == 2
    for span in spans:
        a = _chat_span_is_complete(span, ollama)
        assert 0 < a["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9
    [first] = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 2 and first.attributes["gen_ai.operation.name"] == "chat"


def test_a_stream_stopped_early_ends_its_span_without_an_error(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url) as p:
        chunks = p.stream_chat(_ask())
        next(chunks)
        chunks.close()  # type: ignore[attr-defined]
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in (span.attributes or {})


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Warnings are errors, and what the interpreter reports as ignored in a finalizer is collected."""
    ignored: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield ignored


def _abandoned(span: ReadableSpan) -> bool:
    a = dict(span.attributes or {})
    assert span.end_time is not None and span.status.status_code is StatusCode.UNSET and "error.type" not in a
    return bool(a.get("patinox.stream.abandoned"))


def test_a_stream_dropped_unread_or_half_read_ends_its_span_when_collected(
        otel: Telemetry, ollama: FakeOllamaServer, quiet: list[Any]) -> None:
    with _provider(ollama.url) as p:
        unread = p.stream_chat(_ask(text="one"))
        del unread
        gc.collect()
        assert len(otel.spans()) == 1
        half = p.stream_chat(_ask(text="two"))
        next(half)
        del half
        gc.collect()
        closed = p.stream_chat(_ask(text="three"))
        closed.close()  # type: ignore[attr-defined]  # closed unread: ends now, as a stream stopped early
        assert len(otel.spans()) == 3
        assert p.chat(_ask()).message.content  # the dropped streams' connections went back to the pool
    spans = otel.spans()
    assert [_abandoned(s) for s in spans[:3]] == [True, True, False]
    assert "gen_ai.response.time_to_first_chunk" in (spans[1].attributes or {})
    assert "gen_ai.response.time_to_first_chunk" not in (spans[0].attributes or {})
    durations = otel.points("gen_ai.client.operation.duration")
    assert sum(d.count for d in durations) == 2  # the closed stream, the chat: no time for a collected one
    assert quiet == []


async def test_an_async_stream_dropped_half_read_ends_its_span_when_collected(
        otel: Telemetry, ollama: FakeOllamaServer, quiet: list[Any]) -> None:
    with _provider(ollama.url) as p:
        unread = p.astream_chat(_ask(text="one"))  # its span starts with the first chunk asked for: none
        del unread
        half = p.astream_chat(_ask(text="two"))
        assert (await anext(half)).content
        del half
        gc.collect()
        assert [_abandoned(s) for s in otel.spans()] == [True]
        for _ in range(5):  # the loop's own finalizer closes the dropped stream's server stream
            await asyncio.sleep(0)
        assert [c async for c in p.astream_chat(_ask(text="three"))]
    assert [_abandoned(s) for s in otel.spans()] == [True, False]
    assert quiet == []


async def test_embeddings_are_one_span_per_call(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url) as p:
        p.embed(["a", "b", "c"], EMBED, batch_size=2)
        await p.aembed("a", EMBED)
    spans = otel.spans()
    assert [s.name for s in spans] == [f"embeddings {EMBED}"] * 2
    a = dict(spans[0].attributes or {})
    assert a["gen_ai.operation.name"] == "embeddings" and a["gen_ai.provider.name"] == "ollama"
    assert a["gen_ai.request.model"] == EMBED and a["gen_ai.response.model"] == f"{EMBED}:latest"
    assert a["gen_ai.embeddings.dimension.count"] == 16 and a["patinox.embeddings.input_count"] == 3
    assert a["server.port"] == _port(ollama.url)
    assert "patinox.attempts" not in a and spans[0].events == ()  # two batches, one server, no failure
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.attributes["gen_ai.operation.name"] == "embeddings"


def _two_servers() -> tuple[ScriptedBackend, LocalProvider]:
    models = [{"name": "llama3.2:latest", "loaded": True, "capabilities": {"chat": True, "completion": True}},
              {"name": "nomic-embed-text:latest", "loaded": True, "capabilities": {"embeddings": True}}]
    a = ScriptedBackend(base_url="http://a.test:8081", models=models)
    b = ScriptedBackend("from b", "from b", base_url="http://b.test:8082", models=models)
    local = LocalProvider(LocalSettings(discover_defaults=False, cooldown=0), backends=[a, b])
    local.list_models()
    a.kill()  # every call to a is refused: each request tries a, then falls back to b
    return a, local


async def test_a_fallback_attempt_is_an_event_with_the_server_and_the_error(otel: Telemetry) -> None:
    _, p = _two_servers()
    assert p.chat(_ask(text="one")).message.content == "from b"
    assert [c.content async for c in p.astream_chat(_ask(text="two"))]  # a new conversation: no affinity to b
    # one batch at a time: concurrent batches would each record their failed try of a
    assert p.embed(["x", "y"], "nomic-embed-text", batch_size=1, max_concurrency=1).service == "http://b.test:8082"
    spans = otel.spans()
    assert [s.name for s in spans] == ["chat llama3.2", "chat llama3.2", "embeddings nomic-embed-text"]
    for span in spans:
        a = dict(span.attributes or {})
        assert a["server.address"] == "b.test" and a["server.port"] == 8082 and a["patinox.attempts"] == 2
        assert span.status.status_code is StatusCode.UNSET
        [event] = span.events
        e = dict(event.attributes or {})
        assert event.name == "patinox.fallback.attempt"
        assert (e["server.address"], e["server.port"], e["error.type"]) == ("a.test", 8081, "ServiceUnavailableError")
        assert e["patinox.attempt"] == 1 and e["patinox.error.message"]


async def test_attempt_events_reach_the_span_of_the_call_they_belong_to() -> None:
    """A candidate's attempt events are built once per server and find their operation when the
    attempt ends: concurrent calls, a provider used before ``instrument()`` and a second
    ``instrument()`` each record on the right spans, and nothing outside an operation."""
    _, p = _two_servers()
    cast(ScriptedBackend, p.fleet.backends["http://b.test:8082"]).add(*["from b"] * 7)
    assert p.chat(_ask(text="before")).message.content == "from b"  # uninstrumented: its plan is cached
    first, second = Telemetry(), Telemetry()
    try:
        instrument(tracer_provider=first.tracer_provider, meter_provider=first.meter_provider)
        replies = await asyncio.gather(*(p.achat(_ask(text=f"n{i}")) for i in range(6)))
        assert {r.message.content for r in replies} == {"from b"}
        instrument(tracer_provider=second.tracer_provider, meter_provider=second.meter_provider)
        p.chat(_ask(text="after"))
    finally:
        uninstrument()
    p.chat(_ask(text="off again"))
    assert len(first.spans()) == 6 and len(second.spans()) == 1
    for span in [*first.spans(), *second.spans()]:
        [event] = span.events  # exactly its own failed attempt, none of the other calls'
        assert dict(event.attributes or {})["server.address"] == "a.test"
        assert dict(span.attributes or {})["server.address"] == "b.test"


def test_concurrent_embedding_batches_record_their_attempts_on_the_calls_span(otel: Telemetry) -> None:
    _, p = _two_servers()  # the batches run in worker threads, each seeing the caller's operation
    assert p.embed(["w", "x", "y", "z"], "nomic-embed-text", batch_size=1, max_concurrency=4).service.endswith("8082")
    [span] = otel.spans()
    assert dict(span.attributes or {})["server.address"] == "b.test" and span.events
    assert {dict(e.attributes or {})["server.address"] for e in span.events} == {"a.test"}


def test_a_span_the_sampler_drops_still_records_the_metrics() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    t = Telemetry()
    t.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    t.tracer_provider.add_span_processor(SimpleSpanProcessor(t.spans_out))
    _, p = _two_servers()
    instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        assert p.chat(_ask(text="sampled out")).message.content == "from b"  # a fallback, unseen by the span
    finally:
        uninstrument()
    assert t.spans() == []
    [duration] = t.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.attributes["server.address"] == "b.test"
    assert {p.attributes["gen_ai.token.type"] for p in t.points("gen_ai.client.token.usage")} == {"input", "output"}


def test_a_server_error_marks_the_span_and_the_duration(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    ollama.fail_next(500, "boom", times=None)
    with _provider(ollama.url) as p, pytest.raises(ServerError):
        p.chat(_ask())
    [span] = otel.spans()
    a = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR and a["error.type"] == "ServerError"
    assert a["patinox.attempts"] == 1
    assert a["gen_ai.provider.name"] == "ollama" and span.events[0].name == "patinox.fallback.attempt"
    assert any(e.name == "exception" for e in span.events)
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "ServerError"
    assert otel.points("gen_ai.client.token.usage") == []


async def test_an_unknown_model_fails_in_routing_with_no_server(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    with _provider(ollama.url) as p:
        with pytest.raises(ModelNotFoundError):
            p.stream_chat(_ask("no-such-model"))
        with pytest.raises(ModelNotFoundError):
            await p.aembed(["x"], "no-such-model")
    spans = otel.spans()
    assert [s.name for s in spans] == ["chat no-such-model", "embeddings no-such-model"]
    for span in spans:
        a = dict(span.attributes or {})
        assert a["error.type"] == "ModelNotFoundError" and a["gen_ai.provider.name"] == "patinox"
        assert "server.address" not in a and span.status.status_code is StatusCode.ERROR


def test_message_content_is_recorded_only_on_opt_in(ollama: FakeOllamaServer) -> None:
    t = Telemetry()
    instrument(capture_content=True, tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        with _provider(ollama.url) as p:
            p.chat(_ask())
            list(p.stream_chat(_ask()))
    finally:
        uninstrument()
    for span in t.spans():
        a = dict(span.attributes or {})
        assert json.loads(a["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "say hello"}]}]
        assert json.loads(a["gen_ai.output.messages"]) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello there friend"}],
             "finish_reason": "stop"}]


def test_off_records_nothing(ollama: FakeOllamaServer) -> None:
    t = Telemetry()
    instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    uninstrument()
    with _provider(ollama.url) as p:
        p.chat(_ask())
        p.embed(["x"], EMBED)
    assert t.spans() == [] and t.points("gen_ai.client.operation.duration") == []


def test_the_adapters_calls_are_spans_too(otel: Telemetry, ollama: FakeOllamaServer) -> None:
    from patinox_langchain import ChatPatinox
    from patinox_llamaindex import Patinox

    ChatPatinox(model=CHAT, base_url=ollama.url).invoke("hi")
    llm = Patinox(model=CHAT, base_url=ollama.url)
    llm.complete("hi")
    assert [s.name for s in otel.spans()] == [f"chat {CHAT}"] * 2


def test_without_opentelemetry_instrument_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "patinox_core.telemetry.recorder", raising=False)
    with pytest.raises(ConfigurationError, match=r"patinox\[otel\]"):
        instrument()


def test_patinox_otel_env_uses_the_global_providers(ollama: FakeOllamaServer) -> None:
    script = textwrap.dedent(f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message
        out = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(out))
        trace.set_tracer_provider(provider)
        p = LocalProvider(LocalSettings(endpoints=[{{"url": "{ollama.url}", "kind": "ollama"}}],
                                        discover_defaults=False))
        p.chat(ChatRequest(model="{CHAT}", messages=[Message(role="user", content="hi")]))
        print([s.name for s in out.get_finished_spans()])
    """)
    env = {"PATH": "", "PATINOX_OTEL": "true", "PATINOX_CACHE_DIR": "/nonexistent-patinox-cache"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"['chat {CHAT}']"

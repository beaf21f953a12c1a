"""The rows of the chat sections (invoke, stream per chunk, 200 concurrent async calls).

Each builder imports its package and makes its client when called (untimed) and returns one
operation; a package that is missing or not built yet turns its row into "n/a" with the reason.
Every client talks to the same loopback server: Ollama's native API at ``base``, the
OpenAI-compatible one at ``base/v1``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import floors, framework_alone
from .floors import CHAT_MODEL, CONCURRENCY, PROMPT, STREAM_PROMPT, burst
from .harness import Case

LC_FLOOR = "LangChain framework floor"
LI_FLOOR = "LlamaIndex framework floor"
LC_ALONE = "LangChain alone (a model that answers at once, no I/O)"
LI_ALONE = "LlamaIndex alone (a model that answers at once, no I/O)"
TRANSPORT = "patinox Transport (HTTP layer only)"
BACKEND = "patinox OllamaBackend (no routing)"
PROVIDER = "patinox LocalProvider"
CHAT_PATINOX = "patinox ChatPatinox"
LI_PATINOX = "patinox Patinox (LlamaIndex)"
CHAT_OLLAMA = "langchain-ollama ChatOllama"
LI_OLLAMA = "llama-index Ollama"
CHAT_OPENAI = "langchain-openai ChatOpenAI (/v1)"
LI_LMSTUDIO = "llama-index LMStudio (/v1)"
OLLAMA_PY = "ollama-python Client"
BACKEND_HTTPX = "patinox OllamaBackend over httpx's async pool (no aiohttp)"
PROVIDER_HTTPX = "patinox LocalProvider over httpx's async pool (no aiohttp)"
PROVIDER_NO_HOOK = "patinox LocalProvider without the instrumentation hook"
PROVIDER_OTEL = "patinox LocalProvider, OpenTelemetry on"
PROVIDER_SDK = "patinox LocalProvider + the SDK's own share (a bare span, three records)"
PROVIDER_OTEL_API = "patinox LocalProvider, OpenTelemetry on, no SDK (the API's no-op providers)"


# -- constructors (shared by the three sections) --------------------------------------------
def patinox_provider(base: str, *, aiohttp: bool = True) -> Any:
    """``aiohttp=False``: async calls through httpx's own pool (what patinox does without aiohttp)."""
    from patinox_core import LocalSettings
    from patinox_core.router import LocalProvider
    from patinox_core.transport import Transport

    settings = LocalSettings(ollama_url=base, discover_defaults=False)
    if aiohttp:
        return LocalProvider(settings)
    return LocalProvider(settings, transport=Transport(settings, async_transport_factory=lambda: None))


def otel_telemetry(*, sdk: bool = True) -> Any:
    """What ``patinox_core.instrument()`` sets up, over the OpenTelemetry SDK: spans through a
    processor to an exporter that drops them, metrics aggregated in memory (the SDK's own cost
    included, the export's not). ``sdk=False``: the API's no-op providers (patinox's own cost)."""
    if not sdk:
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        from patinox_core.telemetry.recorder import Telemetry as NoSdk

        return NoSdk(capture_content=False, tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from patinox_core.telemetry.recorder import Telemetry

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return Telemetry(capture_content=False, tracer_provider=tracer_provider, meter_provider=meters)


def patinox_request(prompt: str = PROMPT) -> Any:
    from patinox_core import ChatRequest, Message

    return ChatRequest(model=CHAT_MODEL, messages=[Message(role="user", content=prompt)])


def patinox_transport(base: str) -> tuple[Any, Any]:
    """patinox's HTTP layer alone (``Transport`` + a call context), without routing or wire mapping."""
    from patinox_core import LocalSettings, ServerError
    from patinox_core.transport import Transport

    transport = Transport(LocalSettings(ollama_url=base, discover_defaults=False))
    return transport, transport.context(base, lambda status, body: ServerError(str(body)))


class _LinesParser:
    """A stream parser that only decodes each line (what the raw NDJSON floor does)."""

    t0 = 0.0

    def __init__(self) -> None:
        from patinox_core.transport import loads

        self.loads = loads

    def feed(self, line: str) -> list[Any]:
        self.loads(line)
        return []

    def close(self) -> list[Any]:
        return []


def patinox_backend(base: str, *, aiohttp: bool = True) -> Any:
    """patinox's Ollama backend alone (wire mapping + transport), without discovery or routing;
    ``aiohttp=False``: async calls through httpx's own pool."""
    from patinox_core import LocalSettings
    from patinox_core.backends.ollama import OllamaBackend
    from patinox_core.catalogue import known_loaded
    from patinox_core.transport import Transport

    settings = LocalSettings(ollama_url=base, discover_defaults=False)
    transport = Transport(settings) if aiohttp else Transport(settings, async_transport_factory=lambda: None)
    backend = OllamaBackend(base, transport, settings)
    backend.load_state = known_loaded(base, backend.kind, [CHAT_MODEL])
    return backend


def chat_patinox(base: str) -> Any:
    from patinox_langchain import ChatPatinox

    return ChatPatinox(model=CHAT_MODEL, base_url=base)


def li_patinox(base: str) -> Any:
    from patinox_llamaindex import Patinox

    return Patinox(model=CHAT_MODEL, base_url=base)


def chat_ollama(base: str) -> Any:
    from langchain_ollama import ChatOllama

    return ChatOllama(model=CHAT_MODEL, base_url=base)


def li_ollama(base: str) -> Any:
    from llama_index.llms.ollama import Ollama

    return Ollama(model=CHAT_MODEL, base_url=base, request_timeout=60)


def chat_openai(base: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=CHAT_MODEL, base_url=base + "/v1", api_key="bench", max_retries=0)  # type: ignore[arg-type]


def li_lmstudio(base: str) -> Any:
    from llama_index.llms.lmstudio import LMStudio

    return LMStudio(model_name=CHAT_MODEL, base_url=base + "/v1", request_timeout=60)


def li_messages(prompt: str = PROMPT) -> list[Any]:
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content=prompt)]


def _lc_invoke(make: Callable[[str], Any], base: str) -> Callable[[], Any]:
    model = make(base)
    return lambda: model.invoke(PROMPT)


def _li_chat(make: Callable[[str], Any], base: str) -> Callable[[], Any]:
    llm, msgs = make(base), li_messages()
    return lambda: llm.chat(msgs)


def _lc_stream(make: Callable[[str], Any], base: str) -> Callable[[], int]:
    model = make(base)
    return lambda: sum(1 for _ in model.stream(STREAM_PROMPT))


def _li_stream(make: Callable[[str], Any], base: str) -> Callable[[], int]:
    llm, msgs = make(base), li_messages(STREAM_PROMPT)
    return lambda: sum(1 for _ in llm.stream_chat(msgs))


def _ollama_py(base: str) -> Any:
    import ollama

    return ollama.Client(host=base)


# -- invoke ---------------------------------------------------------------------------------
def invoke_cases(base: str) -> tuple[Case, list[Case]]:
    def provider() -> Callable[[], Any]:
        p, req = patinox_provider(base), patinox_request()
        return lambda: p.chat(req)

    def ollama_py() -> Callable[[], Any]:
        client, msgs = _ollama_py(base), [{"role": "user", "content": PROMPT}]
        return lambda: client.chat(model=CHAT_MODEL, messages=msgs)

    def transport() -> Callable[[], Any]:
        t, ctx = patinox_transport(base)
        url, body = base + "/api/chat", floors.chat_body(False)
        return lambda: t.request(ctx, "POST", url, body)

    def backend() -> Callable[[], Any]:
        b, req = patinox_backend(base), patinox_request()
        return lambda: b.chat(req)

    def no_hook() -> Callable[[], Any]:  # what the off switch costs: this row against PROVIDER
        p, req = patinox_provider(base), patinox_request()
        return lambda: p._unobserved.chat(req)

    def otel_on(sdk: bool = True) -> Callable[[], Any]:  # on only inside the op: the other rows stay uninstrumented
        from patinox_core import instrumentation

        p, req, telemetry = patinox_provider(base), patinox_request(), otel_telemetry(sdk=sdk)

        def op() -> Any:
            instrumentation.active = telemetry
            try:
                return p.chat(req)
            finally:
                instrumentation.active = None
        return op

    def sdk_share() -> Callable[[], Any]:  # what any GenAI instrumentation pays the SDK (the rest is patinox)
        from opentelemetry.trace import SpanKind

        p, req, telemetry = patinox_provider(base), patinox_request(), otel_telemetry()
        labels = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "ollama", "gen_ai.request.model": CHAT_MODEL,
                  "gen_ai.response.model": CHAT_MODEL, "server.address": "127.0.0.1", "server.port": 11434}

        def op() -> Any:
            span = telemetry.tracer.start_span(f"chat {CHAT_MODEL}", kind=SpanKind.CLIENT, attributes=labels)
            result = p.chat(req)
            span.set_attributes({"gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 16,
                                 "gen_ai.response.finish_reasons": ["stop"]})
            span.end()
            telemetry.duration.record(0.001, labels)
            telemetry.tokens.record(1, {**labels, "gen_ai.token.type": "input"})
            telemetry.tokens.record(16, {**labels, "gen_ai.token.type": "output"})
            return result
        return op

    floor = Case("raw httpx POST + json.loads", lambda: floors.raw_invoke(base))
    return floor, [
        Case(TRANSPORT, transport, note="`request` only: no routing, no wire mapping"),
        Case(BACKEND, backend, note="`chat`: wire mapping, no routing"),
        Case(LC_FLOOR, lambda: _lc_invoke(floors.langchain_floor, base)),
        Case(LI_FLOOR, lambda: _li_chat(floors.llamaindex_floor, base)),
        Case(PROVIDER, provider, note="`chat`"),
        Case(PROVIDER_NO_HOOK, no_hook, note="`chat` past the `instrument()` check (its cost when off)"),
        Case(PROVIDER_OTEL, otel_on, note="`chat`: a span and three histograms, SDK, export dropped"),
        Case(PROVIDER_SDK, sdk_share, note="`chat` + the same span and records made by hand"),
        Case(PROVIDER_OTEL_API, lambda: otel_on(sdk=False), note="`chat`: patinox's own instrumentation work"),
        Case(CHAT_PATINOX, lambda: _lc_invoke(chat_patinox, base), note="`invoke`"),
        Case(LI_PATINOX, lambda: _li_chat(li_patinox, base), note="`chat`"),
        Case(OLLAMA_PY, ollama_py, note="`chat`"),
        Case(CHAT_OLLAMA, lambda: _lc_invoke(chat_ollama, base), note="`invoke`"),
        Case(LI_OLLAMA, lambda: _li_chat(li_ollama, base), note="`chat`"),
        Case(CHAT_OPENAI, lambda: _lc_invoke(chat_openai, base), note="`invoke`"),
        Case(LI_LMSTUDIO, lambda: _li_chat(li_lmstudio, base), note="`chat`; new httpx client per call",
             scale=0.1),
    ]


# -- stream (one op = one whole 500-chunk stream) --------------------------------------------
def stream_cases(base: str) -> tuple[Case, list[Case]]:
    def provider() -> Callable[[], int]:
        p, req = patinox_provider(base), patinox_request(STREAM_PROMPT)
        return lambda: sum(1 for _ in p.stream_chat(req))

    def ollama_py() -> Callable[[], int]:
        client, msgs = _ollama_py(base), [{"role": "user", "content": STREAM_PROMPT}]
        return lambda: sum(1 for _ in client.chat(model=CHAT_MODEL, messages=msgs, stream=True))

    def transport() -> Callable[[], int]:
        t, ctx = patinox_transport(base)
        url, body = base + "/api/chat", floors.chat_body(True)
        return lambda: sum(1 for _ in t.stream(ctx, url, body, _LinesParser()))

    def backend() -> Callable[[], int]:
        b, req = patinox_backend(base), patinox_request(STREAM_PROMPT)
        return lambda: sum(1 for _ in b.stream_chat(req))

    floor = Case("raw httpx NDJSON loop + json.loads", lambda: floors.raw_stream(base))
    return floor, [
        Case(TRANSPORT, transport, note="`stream` + a parser that only decodes lines"),
        Case(BACKEND, backend, note="`stream_chat`: wire mapping, no routing"),
        Case(LC_FLOOR, lambda: _lc_stream(floors.langchain_floor, base)),
        Case(LI_FLOOR, lambda: _li_stream(floors.llamaindex_floor, base)),
        Case(PROVIDER, provider, note="`stream_chat`"),
        Case(CHAT_PATINOX, lambda: _lc_stream(chat_patinox, base), note="`stream`"),
        Case(LI_PATINOX, lambda: _li_stream(li_patinox, base), note="`stream_chat`"),
        Case(OLLAMA_PY, ollama_py, note="`chat(stream=True)`"),
        Case(CHAT_OLLAMA, lambda: _lc_stream(chat_ollama, base), note="`stream`"),
        Case(LI_OLLAMA, lambda: _li_stream(li_ollama, base), note="`stream_chat`"),
        Case(CHAT_OPENAI, lambda: _lc_stream(chat_openai, base), note="`stream` (SSE)"),
        Case(LI_LMSTUDIO, lambda: _li_stream(li_lmstudio, base), note="`stream_chat` (SSE)"),
    ]


# -- 200 concurrent async calls (one op = one burst) ------------------------------------------
def async_cases(base: str, n: int = CONCURRENCY) -> tuple[Case, list[Case]]:
    def lc(make: Callable[[str], Any]) -> Callable[[], Awaitable[Any]]:
        model = make(base)
        return burst(lambda: model.ainvoke(PROMPT), n)

    def li(make: Callable[[str], Any]) -> Callable[[], Awaitable[Any]]:
        llm, msgs = make(base), li_messages()
        return burst(lambda: llm.achat(msgs), n)

    def provider(aiohttp: bool = True) -> Callable[[], Awaitable[Any]]:
        p, req = patinox_provider(base, aiohttp=aiohttp), patinox_request()
        return burst(lambda: p.achat(req), n)

    def ollama_py() -> Callable[[], Awaitable[Any]]:
        import ollama

        client, msgs = ollama.AsyncClient(host=base), [{"role": "user", "content": PROMPT}]
        return burst(lambda: client.chat(model=CHAT_MODEL, messages=msgs), n)

    def transport() -> Callable[[], Awaitable[Any]]:
        t, ctx = patinox_transport(base)
        url, body = base + "/api/chat", floors.chat_body(False)
        return burst(lambda: t.arequest(ctx, "POST", url, body), n)

    def backend(aiohttp: bool = True) -> Callable[[], Awaitable[Any]]:
        b, req = patinox_backend(base, aiohttp=aiohttp), patinox_request()
        return burst(lambda: b.achat(req), n)

    floor = Case("raw httpx.AsyncClient", lambda: floors.raw_async_httpx(base, n))
    return floor, [
        Case(TRANSPORT, transport, note="`arequest` only"),
        Case(BACKEND, backend, note="`achat`: wire mapping, no routing"),
        Case(BACKEND_HTTPX, lambda: backend(aiohttp=False), note="`achat` without aiohttp"),
        Case("raw aiohttp ClientSession", lambda: floors.raw_async_aiohttp(base, n)),
        Case(LC_FLOOR, lambda: lc(floors.langchain_floor)),
        Case(LI_FLOOR, lambda: li(floors.llamaindex_floor)),
        Case(LC_ALONE, lambda: lc(framework_alone.langchain_alone), note="`ainvoke`: the framework's own share"),
        Case(LI_ALONE, lambda: li(framework_alone.llamaindex_alone), note="`achat`: the framework's own share"),
        Case(PROVIDER, provider, note="`achat`"),
        Case(PROVIDER_HTTPX, lambda: provider(aiohttp=False), note="`achat` without aiohttp"),
        Case(CHAT_PATINOX, lambda: lc(chat_patinox), note="`ainvoke`"),
        Case(LI_PATINOX, lambda: li(li_patinox), note="`achat`"),
        Case(OLLAMA_PY, ollama_py, note="`AsyncClient.chat`"),
        Case(CHAT_OLLAMA, lambda: lc(chat_ollama), note="`ainvoke`"),
        Case(LI_OLLAMA, lambda: li(li_ollama), note="`achat`"),
        Case(CHAT_OPENAI, lambda: lc(chat_openai), note="`ainvoke`"),
        Case(LI_LMSTUDIO, lambda: li(li_lmstudio), note="`achat`; new httpx client per call"),
    ]


__all__ = ["async_cases", "invoke_cases", "stream_cases"]

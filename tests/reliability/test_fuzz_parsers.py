"""Property-based fuzzing of every wire parser: nothing but a ``LocalProviderError`` (or a clean
result) ever reaches the caller.

Pure parsers raise only ``MalformedReply`` (a reply of the wrong shape) or ``ErrorPayload`` on junk:
``funnel.py`` maps those and nothing else, so any other exception is a patinox bug. Replies are fuzzed
directly and *through the funnel* (an ``httpx.MockTransport`` serving
fuzzed bodies to the real backends, ``LocalProvider`` and discovery), and parsers that promise to be
total (``parse_sse_line``, the URL parsers, the error classifiers, small metadata parsers) are
fuzzed directly. Examples are derandomized (reproducible in CI) and bounded.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message
from patinox_core.backends import _openai_wire, ollama, ollama_wire
from patinox_core.backends.base import ErrorPayload
from patinox_core.backends.lmstudio import (
    LMStudioBackend,
    classify_lmstudio_error,
    facts_from_api_v0,
    facts_from_api_v1,
    ttl_seconds,
)
from patinox_core.backends.malformed import MalformedReply
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.backends.openai_compat import (
    FLAVORS,
    OpenAIChatStream,
    OpenAICompatBackend,
    fingerprint_openai,
    models_from_wire,
    parse_sse_line,
)
from patinox_core.capabilities import (
    parameter_count_from_name,
    parse_parameter_size,
    quantization_bits,
    quantization_from_name,
)
from patinox_core.config import (
    parse_endpoint_url,
    parse_kind,
    parse_lmstudio_url,
    parse_ollama_host,
    redact,
)
from patinox_core.discovery import Service, ServiceDiscovery
from patinox_core.errors import ConfigurationError, LocalProviderError
from patinox_core.transport import Transport
from patinox_core.types import ChatResult, EmbeddingResult

from . import fuzz_bodies as fb

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL = settings(FUZZ, max_examples=60)
BASE = "http://127.0.0.1:11434"
REQUEST = ChatRequest(model="llama3.2:latest", messages=[Message("user", "hi")])


def _transport(server: fb.FuzzServer) -> Transport:
    return Transport(LocalSettings(discover_defaults=False, max_retries=0), server.transport())


def _only_ours(fn: Any, *args: Any) -> Any:
    """Run ``fn``; a ``LocalProviderError`` is fine (returned), anything else fails the example."""
    try:
        return fn(*args)
    except LocalProviderError as err:
        assert str(err)
        return err


# --------------------------------------------------------------------------- total parsers


@FUZZ
@given(st.one_of(st.text(max_size=80), fb.SSE_LINE))
def test_parse_sse_line_is_total(line: str) -> None:
    try:
        parsed = parse_sse_line(line)
    except ValueError as exc:
        assert "unreadable SSE data" in str(exc)
        return
    assert parsed is None or parsed[0] in ("data", "done", "event", "raw")


HOSTS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
              st.sampled_from(["", "http://", "HTTPS://", "ftp://", "http:/"]),
              st.sampled_from(["localhost", "127.0.0.1", "0.0.0.0", "[::1]", "::1", "box.lan", "[fe80::1", "", " "]),
              st.sampled_from(["", ":11434", ":0", ":99999", ":port", ":", ":-1"]),
              st.sampled_from(["", "/", "/v1", "/v1/", "/a b", "?q=1", "#f"])),
)


def _usable(url: str) -> None:
    """A parsed base URL httpx can send to: http(s), a host, a port, no credentials."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AssertionError(f"{url!r} is not a URL httpx can send to: {exc}") from exc
    assert parsed.scheme in ("http", "https") and parsed.host, url
    assert "@" not in parsed.netloc.decode(), url


@settings(FUZZ, report_multiple_bugs=False)
@given(HOSTS)
def test_url_parsers_return_a_usable_url_or_configuration_error(value: str) -> None:
    for parse in (parse_ollama_host, parse_lmstudio_url, parse_endpoint_url):
        try:
            url = parse(value)
        except ConfigurationError:
            continue
        _usable(url)


def _answer_404(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, text="404 page not found")


@FUZZ
@given(HOSTS.filter(lambda v: "\x00" not in v), HOSTS)  # an environment variable cannot hold NUL
@example("", "\x08").via("found: httpx.InvalidURL escaped the funnel")
@example("h\u00d7", "").via("found: httpx.InvalidURL escaped the funnel")
def test_any_configured_url_fails_only_with_our_errors(ollama: str, endpoint: str) -> None:
    """OLLAMA_HOST and an endpoint of any spelling: ConfigurationError at once, or a provider whose
    discovery and calls raise nothing but LocalProviderError (a mock transport: no packet is sent)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OLLAMA_HOST", ollama)
        try:
            s = LocalSettings(endpoints=[endpoint], discover_defaults=False, max_retries=0)
        except ConfigurationError:
            return
    with LocalProvider(s, transport=httpx.MockTransport(_answer_404)) as provider:
        _only_ours(provider.list_models)
        _only_ours(provider.chat, REQUEST)


@FUZZ
@given(st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False)))
def test_small_metadata_parsers_are_total(value: Any) -> None:
    text = str(value)
    assert parse_parameter_size(text) is None or isinstance(parse_parameter_size(text), int)
    assert quantization_bits(text) is None or isinstance(quantization_bits(text), int)
    assert parameter_count_from_name(text) is None or isinstance(parameter_count_from_name(text), int)
    assert quantization_from_name(text) is None or isinstance(quantization_from_name(text), str)
    for fn in (ttl_seconds, parse_kind):
        try:
            fn(value if fn is ttl_seconds else text)
        except ConfigurationError:
            pass


SECRET = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc"), blacklist_characters="/#?\\"),
                 min_size=3, max_size=12)


@FUZZ
@given(SECRET, SECRET)
@example("00@", "000").via("found: a raw '@' in the userinfo leaked the password")
def test_redact_hides_any_userinfo(user: str, password: str) -> None:
    out = redact(f"failed: http://{user}:{password}@box.lan:11434/api/chat and more")
    assert out == "failed: http://***@box.lan:11434/api/chat and more"


STATUSES = st.one_of(st.none(), st.integers(100, 599))
ERROR_BODIES = st.one_of(fb.JSON, st.text(max_size=60), fb.shaped(error=st.one_of(
    fb.WORD, fb.shaped(message=fb.WORD, type=fb.WORD, code=st.one_of(fb.WORD, fb.COUNT), param=fb.WORD))))


@FUZZ
@given(STATUSES, ERROR_BODIES)
def test_error_classifiers_are_total(status: int | None, body: Any) -> None:
    for classify in (ollama_wire.classify_error, _openai_wire.classify_error, classify_lmstudio_error):
        err = classify(status, body)
        assert isinstance(err, LocalProviderError) and str(err)


# --------------------------------------------------------------------------- pure parsers, directly

#: What a pure parser may raise: the funnel (funnel.py) maps each of these to the error tree, and only these.
MAPPABLE = (LocalProviderError, ErrorPayload, MalformedReply)
PURE_PARSERS = {
    "ollama.from_wire": (ollama_wire.from_wire, fb.O_CHAT),
    "ollama.embed_from_wire": (lambda d: ollama.embed_from_wire(d, expected=2), fb.O_EMBED),
    "ollama.facts_from_tags": (ollama.facts_from_tags, fb.O_TAGS),
    "ollama.facts_from_show": (ollama.facts_from_show, fb.O_SHOW),
    "ollama.facts_from_ps": (ollama.facts_from_ps, fb.O_PS),
    "openai.from_wire": (_openai_wire.from_wire, fb.A_CHAT),
    "openai.embed_from_wire": (_openai_wire.embed_from_wire, fb.A_EMBED),
    "openai.models_from_wire": (models_from_wire, fb.A_MODELS),
    "lmstudio.facts_from_api_v0": (facts_from_api_v0, fb.L_V0),
    "lmstudio.facts_from_api_v1": (facts_from_api_v1, fb.L_V1),
}


@pytest.mark.parametrize("name", sorted(PURE_PARSERS))
@FUZZ
@given(data=st.data())
def test_pure_parsers_raise_only_what_the_funnel_maps(name: str, data: st.DataObject) -> None:
    parse, shape = PURE_PARSERS[name]
    value = data.draw(st.one_of(shape, fb.JSON))
    try:
        parse(value)
    except MAPPABLE:
        pass


@FUZZ
@given(st.lists(fb.line_of(fb.O_CHAT), max_size=6), st.lists(fb.SSE_LINE, max_size=8))
def test_stream_parsers_raise_only_what_the_funnel_maps(ndjson: list[str], sse: list[str]) -> None:
    for parser, lines in ((ollama_wire.OllamaChatStream("m"), ndjson), (OpenAIChatStream("m"), sse)):
        try:
            for line in lines:
                parser.feed(line)
            parser.close()
        except MAPPABLE:
            pass


@FUZZ
@given(fb.JSON, st.dictionaries(st.sampled_from(["server", "x-powered-by", "x-litellm-version", "Server"]),
                                st.text(max_size=12), max_size=3))
def test_fingerprint_openai_is_total(models: Any, headers: dict[str, str]) -> None:
    assert fingerprint_openai(models, headers) in (None, *FLAVORS)


# --------------------------------------------------------------------------- Ollama, through the funnel


def _ollama(routes: dict[str, tuple[int, str]]) -> OllamaBackend:
    return OllamaBackend(BASE, _transport(fb.FuzzServer(routes)))


@FUZZ
@given(fb.STATUS, fb.body_text(fb.O_CHAT))
def test_ollama_chat_reply(status: int, body: str) -> None:
    result = _only_ours(_ollama({"/api/chat": (status, body)}).chat, REQUEST)
    assert isinstance(result, (ChatResult, LocalProviderError))


@FUZZ
@given(fb.NDJSON_BODY)
def test_ollama_stream(body: str) -> None:
    backend = _ollama({"/api/chat": (200, body)})
    _only_ours(lambda: list(backend.stream_chat(REQUEST)))


@SMALL
@given(fb.NDJSON_BODY)
def test_ollama_async_stream(body: str) -> None:
    backend = _ollama({"/api/chat": (200, body)})

    async def consume() -> list:
        return [c async for c in backend.astream_chat(REQUEST)]

    _only_ours(asyncio.run, consume())


@FUZZ
@given(fb.STATUS, fb.body_text(fb.O_EMBED))
def test_ollama_embed_reply(status: int, body: str) -> None:
    result = _only_ours(_ollama({"/api/embed": (status, body)}).embed, ["a", "b"], "nomic-embed-text")
    assert isinstance(result, (EmbeddingResult, LocalProviderError))


@FUZZ
@given(fb.body_text(fb.O_TAGS), fb.body_text(fb.O_PS), fb.body_text(fb.O_SHOW))
def test_ollama_model_metadata(tags: str, ps: str, show: str) -> None:
    backend = _ollama({"/api/tags": (200, tags), "/api/ps": (200, ps), "/api/show": (200, show)})
    facts = _only_ours(backend.list_model_facts)
    assert isinstance(facts, (list, LocalProviderError))


# --------------------------------------------------------------------------- OpenAI-compatible / LM Studio

OPENAI_BACKENDS = pytest.mark.parametrize("backend_cls", [LMStudioBackend, OpenAICompatBackend])
CHAT_PATHS = ("/v1/chat/completions", "/api/v0/chat/completions")


def _openai(backend_cls: type, routes: dict[str, tuple[int, str]]) -> Any:
    return backend_cls(BASE, _transport(fb.FuzzServer(routes)))


@OPENAI_BACKENDS
@FUZZ
@given(status=fb.STATUS, body=fb.body_text(fb.A_CHAT))
def test_openai_chat_reply(backend_cls: type, status: int, body: str) -> None:
    backend = _openai(backend_cls, dict.fromkeys(CHAT_PATHS, (status, body)))
    result = _only_ours(backend.chat, REQUEST)
    assert isinstance(result, (ChatResult, LocalProviderError))


OVERFLOW_SSE = ('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":'
                '"stop"}],"usage":{"completion_tokens":' + "9" * 400 + '}}\n\ndata: [DONE]\n\n')


@OPENAI_BACKENDS
@FUZZ
@given(body=fb.SSE_BODY)
@example(body=OVERFLOW_SSE).via("found: OverflowError escaped the funnel (tokens/s of a 400-digit count)")
def test_openai_sse_stream(backend_cls: type, body: str) -> None:
    backend = _openai(backend_cls, {"/v1/chat/completions": (200, body)})
    _only_ours(lambda: list(backend.stream_chat(REQUEST)))


@SMALL
@given(body=fb.SSE_BODY)
def test_lmstudio_async_sse_stream(body: str) -> None:
    backend = _openai(LMStudioBackend, {"/v1/chat/completions": (200, body)})

    async def consume() -> list:
        return [c async for c in backend.astream_chat(REQUEST)]

    _only_ours(asyncio.run, consume())


@OPENAI_BACKENDS
@FUZZ
@given(status=fb.STATUS, body=fb.body_text(fb.A_EMBED))
def test_openai_embeddings_reply(backend_cls: type, status: int, body: str) -> None:
    backend = _openai(backend_cls, {"/v1/embeddings": (status, body)})
    result = _only_ours(backend.embed, ["a", "b"], "embedder")
    assert isinstance(result, (EmbeddingResult, LocalProviderError))


@FUZZ
@given(fb.body_text(fb.L_V1), fb.body_text(fb.L_V0), fb.body_text(fb.A_MODELS))
def test_lmstudio_model_metadata(v1: str, v0: str, models: str) -> None:
    backend = _openai(LMStudioBackend, {"/api/v1/models": (200, v1), "/api/v0/models": (200, v0),
                                        "/v1/models": (200, models)})
    assert isinstance(_only_ours(backend.list_model_facts), (list, LocalProviderError))


# --------------------------------------------------------------------------- discovery and the router

PROBE_PATHS = ("/", "/api/version", "/v1/models", "/api/v0/models", "/api/v1/models", "/props", "/version")
PROBE_BODIES = st.one_of(st.just("Ollama is running"), st.just('{"error":"Unexpected endpoint or method. (GET /)"}'),
                         fb.body_text(fb.A_MODELS), fb.body_text(fb.L_V0), fb.body_text(fb.shaped(version=fb.WORD)))


@FUZZ
@given(st.lists(st.tuples(fb.STATUS, PROBE_BODIES), min_size=len(PROBE_PATHS), max_size=len(PROBE_PATHS)))
def test_discovery_fingerprinting(replies: list[tuple[int, str]]) -> None:
    server = fb.FuzzServer(dict(zip(PROBE_PATHS, replies, strict=True)))
    settings_ = LocalSettings(endpoints=[BASE], discover_defaults=False, max_retries=0)
    found = ServiceDiscovery(settings_, transport=server.transport()).discover()
    assert all(isinstance(s, Service) for s in found)


@FUZZ
@given(version=fb.body_text(fb.shaped(version=fb.WORD)), tags=fb.body_text(fb.O_TAGS), ps=fb.body_text(fb.O_PS),
       show=fb.body_text(fb.O_SHOW), chat=fb.body_text(fb.O_CHAT))
@example(version="1", tags="{}", ps="{}", show="{}", chat="{}").via("found: AttributeError escaped discovery")
def test_local_provider_over_a_fuzzed_ollama(version: str, tags: str, ps: str, show: str, chat: str) -> None:
    routes = {"/": (200, "Ollama is running"), "/api/version": (200, version), "/api/tags": (200, tags),
              "/api/ps": (200, ps), "/api/show": (200, show), "/api/chat": (200, chat)}
    provider = LocalProvider(LocalSettings(ollama_url=BASE, discover_defaults=False, max_retries=0),
                             transport=fb.FuzzServer(routes).transport())
    with provider:
        _only_ours(provider.list_models)
        _only_ours(provider.chat, ChatRequest(model=None, messages=[Message("user", "hi")]))


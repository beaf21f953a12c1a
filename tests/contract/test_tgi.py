"""text-generation-inference as a server kind (``patinox_core.kinds.tgi``), against ``FakeTGIServer``:
discovery knows it by ``GET /info``, the catalogue reads its facts, chat, streaming and
structured output work through ``LocalProvider``, and embeddings are refused before any request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from patinox_core.capabilities import Source
from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.discovery import ServiceDiscovery
from patinox_core.errors import CapabilityError
from patinox_core.fakes.openai_compat import OpenAIModel
from patinox_core.router import LocalProvider
from patinox_core.testing import (
    FakeLiteLLMProxy,
    FakeLlamaServer,
    FakeLMStudioServer,
    FakeOllamaServer,
    FakeOpenAIServer,
    FakeSGLangServer,
    FakeTGIServer,
    FakeVLLMServer,
)
from patinox_core.types import ChatRequest, Message

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def settings(url: str) -> LocalSettings:
    return LocalSettings(endpoints=[url], discover_defaults=False, max_retries=0)


def ask(**kw: object) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[Message("user", "hi")], **kw)  # type: ignore[arg-type]


def test_discovery_knows_tgi_by_its_info_and_reads_the_version_from_the_same_reply() -> None:
    with FakeTGIServer(version="3.3.6") as srv:
        [service] = ServiceDiscovery(settings(srv.url)).discover()
    assert (service.kind, service.flavor, service.version, service.healthy) == (
        ProviderKind.OPENAI_COMPATIBLE, "tgi", "3.3.6", True)
    assert [r.path for r in srv.requests] == ["/", "/v1/models", "/info"]


KNOWN_EARLIER = {  # servers a probe before /info already names: GET / or their /v1/models entries
    "ollama": FakeOllamaServer, "lmstudio": FakeLMStudioServer, "llama_server": FakeLlamaServer,
    "vllm": FakeVLLMServer, "sglang": FakeSGLangServer, "litellm": FakeLiteLLMProxy,
}


@pytest.mark.parametrize("flavor", list(KNOWN_EARLIER))
def test_info_is_asked_only_of_a_server_no_earlier_probe_named(flavor: str) -> None:
    """``GET /info`` tells TGI from a plain OpenAI-compatible server; a server already known by its
    root or its model list never gets it, and an unknown one gets it once."""
    with KNOWN_EARLIER[flavor]() as srv:
        [service] = ServiceDiscovery(settings(srv.url)).discover()
    paths = [r.path for r in srv.requests]
    assert service.flavor == flavor and "/info" not in paths, paths
    with FakeOpenAIServer([OpenAIModel("m")]) as plain:
        [service] = ServiceDiscovery(settings(plain.url)).discover()
    assert service.flavor is None and [r.path for r in plain.requests].count("/info") == 1


def test_catalogue_reads_context_and_model_type_from_info() -> None:
    with FakeTGIServer(max_total_tokens=8192, pipeline_tag="image-text-to-text") as srv, \
            LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert (info.name, info.loaded, info.effective_context_length) == (MODEL, True, 8192)
    assert info.capabilities.vision and not info.capabilities.embeddings
    assert info.source["embeddings"] is Source.SERVER and info.source["loaded_context_length"] is Source.SERVER


def test_max_concurrent_requests_is_the_servers_parallel_slots() -> None:
    with FakeTGIServer(max_concurrent_requests=12) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert info.parallel_slots == 12 and info.source["parallel_slots"] is Source.SERVER


def test_chat_stream_and_async_chat_through_local_provider() -> None:
    with FakeTGIServer(reply="Bonjour from TGI.") as srv, LocalProvider(settings(srv.url)) as provider:
        result = provider.chat(ask())
        chunks = list(provider.stream_chat(ask()))
        again = asyncio.run(provider.achat(ask(max_tokens=1)))
    assert (result.message.content, result.model, result.service) == ("Bonjour from TGI.", MODEL, srv.url)
    assert "".join(c.content for c in chunks) == "Bonjour from TGI." and chunks[-1].usage is not None
    assert (again.message.content, again.finish_reason) == ("Bonjour ", "length")


CITY = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}}


@pytest.mark.parametrize("fmt", ["json", CITY])
def test_structured_output_is_sent_in_tgis_grammar_form(fmt: object) -> None:
    with FakeTGIServer(json_reply={"name": "Paris"}) as srv, LocalProvider(settings(srv.url)) as provider:
        result = provider.chat(ask(response_format=fmt))
    sent = next(r.json for r in srv.requests if r.path == "/v1/chat/completions")["response_format"]
    assert sent["type"] == "json" and sent["value"]["type"] == "object"
    assert json.loads(result.message.content) == {"name": "Paris"}


def test_an_openai_envelope_is_what_the_fake_refuses() -> None:
    with FakeTGIServer() as srv:
        reply = httpx.post(srv.url + "/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}})
    assert reply.status_code == 422 and "missing field `value`" in reply.text


def test_embeddings_are_refused_as_the_server_says_it_cannot() -> None:
    with FakeTGIServer() as srv, LocalProvider(settings(srv.url)) as provider, \
            pytest.raises(CapabilityError, match="does not support embeddings \\(per server facts\\)"):
        provider.embed(["one"], MODEL)
    assert not any(r.path == "/v1/embeddings" for r in srv.requests)

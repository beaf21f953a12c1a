"""SGLang as a server kind (``patinox_core.kinds.sglang``), against ``FakeSGLangServer``: discovery
fingerprints it, the catalogue reads its native facts, chat, streaming and embeddings work
through ``LocalProvider``."""

from __future__ import annotations

import asyncio

from patinox_core.capabilities import Source
from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.discovery import ServiceDiscovery
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeSGLangServer
from patinox_core.types import ChatRequest, Message


def settings(url: str) -> LocalSettings:
    return LocalSettings(endpoints=[url], discover_defaults=False, max_retries=0)


def ask(model: str | None = None, **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "hi")], **kw)  # type: ignore[arg-type]


def test_discovery_fingerprints_sglang_not_vllm_and_reads_its_version() -> None:
    with FakeSGLangServer(version="0.5.4") as srv:  # its entries carry max_model_len, as vLLM's do
        [service] = ServiceDiscovery(settings(srv.url)).discover()
    assert (service.kind, service.flavor, service.version, service.healthy) == (
        ProviderKind.OPENAI_COMPATIBLE, "sglang", "0.5.4", True)
    assert [r.path for r in srv.requests] == ["/", "/v1/models", "/get_server_info"]


def test_catalogue_reads_context_and_model_type_from_the_native_endpoints() -> None:
    with FakeSGLangServer("Qwen/Qwen2.5-VL-7B-Instruct", context_length=32768, configured_context=8192,
                          vision=True) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert (info.name, info.loaded, info.effective_context_length) == ("Qwen/Qwen2.5-VL-7B-Instruct", True, 8192)
    assert info.capabilities.vision and info.capabilities.chat and not info.capabilities.embeddings
    assert info.source["vision"] is Source.SERVER and info.source["loaded_context_length"] is Source.SERVER
    assert {"/get_model_info", "/get_server_info"} <= {r.path for r in srv.requests}


def test_context_without_a_configured_length_is_the_listings() -> None:
    with FakeSGLangServer(context_length=16384) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert info.effective_context_length == 16384 and not info.capabilities.vision


def test_parallel_slots_are_the_schedulers_running_cap_over_every_data_parallel_rank() -> None:
    with FakeSGLangServer(running_cap=48, dp_size=2) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert info.parallel_slots == 96 and info.source["parallel_slots"] is Source.SERVER


def test_an_older_server_gives_its_max_running_requests_argument_or_nothing() -> None:
    with FakeSGLangServer(running_cap=None, max_running_requests=16) as srv, \
            LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    with FakeSGLangServer(running_cap=None) as bare, LocalProvider(settings(bare.url)) as provider:
        [unknown] = provider.list_models()
    assert (info.parallel_slots, unknown.parallel_slots) == (16, None)
    assert "parallel_slots" not in unknown.source


def test_chat_stream_and_async_chat_through_local_provider() -> None:
    with FakeSGLangServer(reply="Paris is the capital.") as srv, LocalProvider(settings(srv.url)) as provider:
        result = provider.chat(ask())  # no model: the one chat model SGLang serves
        chunks = list(provider.stream_chat(ask("Qwen/Qwen2.5-0.5B-Instruct")))
        again = asyncio.run(provider.achat(ask("Qwen/Qwen2.5-0.5B-Instruct", max_tokens=2)))
    assert result.message.content == "Paris is the capital." and result.service == srv.url
    assert "".join(c.content for c in chunks) == "Paris is the capital."
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    assert (again.message.content, again.finish_reason) == ("Paris is ", "length")


def test_thinking_is_switched_through_chat_template_kwargs() -> None:
    with FakeSGLangServer() as srv, LocalProvider(settings(srv.url)) as provider:
        provider.chat(ask("Qwen/Qwen2.5-0.5B-Instruct", think=False))
    body = next(r.json for r in srv.requests if r.path == "/v1/chat/completions")
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_an_embedding_server_embeds_and_is_not_offered_for_chat() -> None:
    with FakeSGLangServer("BAAI/bge-m3", is_embedding=True, embedding_dim=16) as srv, \
            LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
        result = provider.embed(["one", "two"], "BAAI/bge-m3")
    assert info.capabilities.embeddings and not info.capabilities.chat and info.source["chat"] is Source.SERVER
    assert (len(result.vectors), result.dimensions, result.service) == (2, 16, srv.url)

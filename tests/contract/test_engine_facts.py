"""Each engine's own metadata read as server facts, through discovery and ``LocalProvider.list_models()``:
context lengths, load state and parallel slots land in the catalogue; junk in a metadata endpoint
leaves the fact absent and discovery standing."""

from __future__ import annotations

from typing import Any

import pytest

from patinox_core.capabilities import Source
from patinox_core.config import LocalSettings
from patinox_core.fakes.openai_compat import CREATED, FakeOpenAIServer, OpenAIModel, Route
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLlamaRouter, FakeLlamaServer, FakeRequest, FakeVLLMServer, Reply
from patinox_core.types import ChatRequest, Message


def settings(url: str) -> LocalSettings:
    return LocalSettings(endpoints=[url], discover_defaults=False, max_retries=0)


class PropsServer(FakeOpenAIServer):
    """llama-server's listing (``owned_by: "llamacpp"``, ``meta``) and a scripted ``/props``."""

    owned_by = "llamacpp"

    def __init__(self, props: Any) -> None:
        super().__init__([OpenAIModel("gemma-3-4b-it")])
        self.props = props

    def routes(self) -> dict[tuple[str, str], Route]:
        return {**super().routes(), ("GET", "/props"): self._props}

    def _props(self, request: FakeRequest) -> Reply:
        return Reply(body=self.props)

    def model_entry(self, model: OpenAIModel) -> dict[str, Any]:
        return {"id": model.id, "object": "model", "created": CREATED, "owned_by": "llamacpp",
                "meta": {"n_ctx_train": 131072, "n_params": 3_880_263_168}}


PROPS = {"default_generation_settings": {"n_ctx": 8192, "params": {}}, "total_slots": 4,
         "model_path": "/models/gemma-3-4b-it-Q4_K_M.gguf", "build_info": "b6400-8f1a2b3c", "is_sleeping": False}


def test_llama_server_props_give_slots_allocated_context_and_quantization() -> None:
    with PropsServer(PROPS) as srv, LocalProvider(settings(srv.url)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        [info] = provider.list_models()
    assert (service.flavor, service.version) == ("llama_server", "b6400-8f1a2b3c")
    assert (info.loaded, info.context_length, info.effective_context_length) == (True, 131072, 8192)
    assert (info.parallel_slots, info.quantization) == (4, "Q4_K_M")
    assert info.source["parallel_slots"] is Source.SERVER and info.source["quantization"] is Source.SERVER


def test_a_sleeping_llama_server_is_not_resident() -> None:
    with PropsServer({**PROPS, "is_sleeping": True}) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert not info.loaded and info.source["loaded"] is Source.SERVER


@pytest.mark.parametrize("junk", [
    "not json at all", [1, 2], {"total_slots": "four", "default_generation_settings": [], "model_path": 7},
    {"total_slots": -1, "default_generation_settings": {"n_ctx": None}, "chat_template_caps": "yes"},
])
def test_junk_props_leave_the_listing_standing(junk: Any) -> None:
    with PropsServer(junk) as srv, LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert (info.name, info.loaded, info.context_length, info.parallel_slots) == ("gemma-3-4b-it", True, 131072, None)


def test_vllm_max_model_len_is_the_context_and_every_listed_model_is_loaded() -> None:
    with FakeVLLMServer("Qwen/Qwen3-8B", max_model_len=16384, version="0.11.2") as srv, \
            LocalProvider(settings(srv.url)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        [info] = provider.list_models()
    assert (service.flavor, service.version, service.gateway) == ("vllm", "0.11.2", False)
    assert (info.loaded, info.context_length, info.effective_context_length) == (True, 16384, 16384)
    assert info.source["context_length"] is Source.SERVER and info.parallel_slots is None


def test_fake_llama_server_reports_its_slots_through_the_catalogue() -> None:
    with FakeLlamaServer("qwen3-4b", slots=3, n_ctx=2048, n_ctx_train=40960) as srv, \
            LocalProvider(settings(srv.url)) as provider:
        [info] = provider.list_models()
    assert (info.parallel_slots, info.loaded, info.effective_context_length, info.context_length) == (
        3, True, 2048, 40960)


def test_llama_server_router_mode_lists_every_model_with_its_load_state() -> None:
    states = {"gemma-3-4b-it": "loaded", "qwen3-4b": "unloaded", "smollm2": "sleeping"}
    with FakeLlamaRouter(states, n_ctx_train=32768) as srv, LocalProvider(settings(srv.url)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        infos = {i.name: i for i in provider.list_models()}
        provider.chat(ChatRequest(model="qwen3-4b", messages=[Message("user", "hi")]))
    assert (service.flavor, service.version) == ("llama_server", "b6400-8f1a2b3c")
    assert {n: i.loaded for n, i in infos.items()} == {"gemma-3-4b-it": True, "qwen3-4b": False, "smollm2": False}
    assert infos["gemma-3-4b-it"].context_length == 32768 and infos["qwen3-4b"].parallel_slots is None
    assert srv.states["qwen3-4b"] == "loaded"  # the router loaded it for the request

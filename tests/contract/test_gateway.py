"""A gateway is one server: a LiteLLM proxy (recognised) or an endpoint configured ``gateway: true``
is marked ``Service.gateway``, never asked for an engine's admin endpoints, and its own model
metadata (LiteLLM ``/model/info``, ``/v1/models``) lands in the catalogue."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from typing import Any

import pytest

from patinox_core.capabilities import Source
from patinox_core.cli import cmd_status
from patinox_core.config import LocalSettings
from patinox_core.discovery import ServiceDiscovery
from patinox_core.fakes.litellm_proxy import GatewayModel
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLiteLLMProxy, FakeLlamaServer, FakeRequest, FakeVLLMServer, Reply

ADMIN = {"/props", "/slots", "/get_server_info", "/get_model_info", "/version", "/info", "/api/version"}


def settings(url: str, **endpoint: Any) -> LocalSettings:
    return LocalSettings(endpoints=[{"url": url, **endpoint}], discover_defaults=False, max_retries=0)


def paths(server: Any) -> list[str]:
    return [r.path for r in server.requests]


def test_a_litellm_proxy_is_recognised_as_a_gateway_and_its_model_info_read() -> None:
    deployments = [GatewayModel("qwen3", max_input_tokens=32768, supports_vision=True),
                   GatewayModel("qwen3", max_input_tokens=16384, supports_vision=True,
                                supports_function_calling=False),
                   GatewayModel("embed", model="openai/bge-m3", mode="embedding", max_input_tokens=8192)]
    with FakeLiteLLMProxy(deployments, version="1.80.5") as proxy, \
            LocalProvider(settings(proxy.url)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        infos = {i.name: i for i in provider.list_models()}
    assert (service.flavor, service.gateway, service.version) == ("litellm", True, "1.80.5")
    assert service.to_dict()["gateway"] is True
    qwen, embed = infos["qwen3"], infos["embed"]
    assert (qwen.context_length, qwen.capabilities.vision, qwen.capabilities.tools) == (16384, True, False)
    assert qwen.source["tools"] is Source.SERVER and qwen.source["context_length"] is Source.SERVER
    assert embed.capabilities.embeddings and not embed.capabilities.chat
    assert not ADMIN & set(paths(proxy))
    assert "/model/info" in paths(proxy)


def test_a_configured_gateway_is_never_asked_for_admin_endpoints() -> None:
    # a load balancer in front of llama-servers forwards their /v1/models and would answer
    # /props too (from whichever replica), so the fake engine stands in for it
    with FakeLlamaServer(slots=2) as gw, LocalProvider(settings(gw.url, gateway=True)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        [info] = provider.list_models()
    assert (service.flavor, service.gateway, service.version) == ("llama_server", True, None)
    assert info.parallel_slots is None and info.name == "gemma-3-4b-it"
    assert not ADMIN & set(paths(gw)), paths(gw)


def test_the_same_engine_not_marked_gateway_is_asked_for_its_props() -> None:
    with FakeLlamaServer(slots=3) as engine, LocalProvider(settings(engine.url)) as provider:
        [service] = provider.discovery.discover() if provider.discovery else []
        [info] = provider.list_models()
    assert (service.gateway, info.parallel_slots) == (False, 3) and "/props" in paths(engine)


def test_a_gateway_in_front_of_vllm_gets_no_version_probe() -> None:
    with FakeVLLMServer() as vllm:
        [service] = ServiceDiscovery(settings(vllm.url, gateway=True)).discover()
    assert (service.flavor, service.gateway, service.version) == ("vllm", True, None)
    assert paths(vllm) == ["/", "/v1/models"]


@pytest.mark.parametrize("junk", [
    Reply(body="not json", content_type="text/plain"), Reply(status=500, body={"error": "db down"}),
    Reply(body={"data": "junk"}), Reply(body={"data": [None, {"model_name": 3}, {"model_name": "gemma-3-4b-it",
                                                                              "model_info": "junk"}]}),
])
def test_junk_model_info_leaves_the_listing_standing(junk: Reply) -> None:
    class JunkProxy(FakeLiteLLMProxy):
        def handle(self, request: FakeRequest) -> Any:
            return junk if request.path == "/model/info" else super().handle(request)

    with JunkProxy() as proxy, LocalProvider(settings(proxy.url)) as provider:
        names = sorted(i.name for i in provider.list_models())
        [service] = provider.discovery.discover() if provider.discovery else []
    assert names == ["gemma-3-4b-it", "nomic-embed-text"] and service.gateway and service.healthy


def test_status_marks_a_gateway() -> None:
    with FakeLiteLLMProxy() as proxy, LocalProvider(settings(proxy.url)) as provider:
        text, raw = io.StringIO(), io.StringIO()
        cmd_status(provider, Namespace(json=False, require=False), text)
        cmd_status(provider, Namespace(json=True, require=False), raw)
    assert "openai (litellm) gateway" in text.getvalue()
    assert json.loads(raw.getvalue())["services"][0]["gateway"] is True


def test_gateway_true_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_ENDPOINTS", '[{"url": "http://gw.lan:4000", "gateway": true}, "http://box:8000"]')
    s = LocalSettings(discover_defaults=False)
    assert [(e.url, e.gateway) for e in s.endpoints] == [("http://gw.lan:4000", True), ("http://box:8000", False)]
    assert s.is_gateway("http://gw.lan:4000") and not s.is_gateway("http://box:8000")

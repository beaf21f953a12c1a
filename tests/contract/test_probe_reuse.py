"""One discovery round plus the model listing it feeds fetch each server's fact endpoint and model list once: the
replies discovery already has (llama-server ``/props``, TGI ``/info``, SGLang ``/get_server_info``)
are the listing's, for that round only; a refresh asks again; a probe that failed is asked again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from patinox_core.config import LocalSettings
from patinox_core.discovery import ServiceDiscovery
from patinox_core.fakes._http import FakeHTTPServer, Fault, Reply
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLlamaServer, FakeOpenAIServer, FakeSGLangServer, FakeTGIServer, OpenAIModel

FACT_PATH = {"llama_server": "/props", "tgi": "/info", "sglang": "/get_server_info"}


@pytest.fixture
def servers() -> Iterator[dict[str, FakeHTTPServer]]:
    with ExitStack() as stack:
        yield {"llama_server": stack.enter_context(FakeLlamaServer()),
               "tgi": stack.enter_context(FakeTGIServer(max_total_tokens=8192)),
               "sglang": stack.enter_context(FakeSGLangServer())}


def settings(servers: dict[str, FakeHTTPServer]) -> LocalSettings:
    return LocalSettings(endpoints=[s.url for s in servers.values()], discover_defaults=False, max_retries=0)


def counts(servers: dict[str, FakeHTTPServer]) -> dict[str, int]:
    return {flavor: Counter(r.path for r in srv.requests)[FACT_PATH[flavor]] for flavor, srv in servers.items()}


def facts_by_server(provider: LocalProvider) -> dict[str, tuple[int | None, int | None]]:
    return {m.service: (m.loaded_context_length, m.parallel_slots) for m in provider.list_models()}


def test_one_listing_fetches_each_fact_endpoint_once(servers: dict[str, FakeHTTPServer]) -> None:
    with LocalProvider(settings(servers)) as provider:
        models = provider.list_models()
        assert counts(servers) == {"llama_server": 1, "tgi": 1, "sglang": 1}
        assert {m.service for m in models} == {s.url for s in servers.values()}
        by_url = {m.service: m for m in models}  # the facts of those replies reached the catalogue
        assert by_url[servers["tgi"].url].loaded_context_length == 8192
        assert by_url[servers["llama_server"].url].parallel_slots == 1
        assert by_url[servers["sglang"].url].parallel_slots is not None
        provider.list_models(refresh=True)  # a new round: asked again, once
        assert counts(servers) == {"llama_server": 2, "tgi": 2, "sglang": 2}


def test_one_round_lists_each_servers_models_once(servers: dict[str, FakeHTTPServer]) -> None:
    """Fingerprinting an OpenAI-compatible server reads ``/v1/models``; the listing reuses that reply."""
    with FakeOpenAIServer([OpenAIModel("qwen2.5-7b-instruct")]) as plain:
        every = {**servers, "openai": plain}
        with LocalProvider(settings(every)) as provider:
            assert {m.service for m in provider.list_models()} == {s.url for s in every.values()}
            lists = {name: Counter(r.path for r in srv.requests)["/v1/models"] for name, srv in every.items()}
            assert lists == dict.fromkeys(every, 1)
            provider.list_models(refresh=True)
            lists = {name: Counter(r.path for r in srv.requests)["/v1/models"] for name, srv in every.items()}
            assert lists == dict.fromkeys(every, 2)


def test_async_listing_fetches_each_fact_endpoint_once(servers: dict[str, FakeHTTPServer]) -> None:
    async def main() -> None:
        async with LocalProvider(settings(servers)) as provider:
            await provider.alist_models()
            assert counts(servers) == {"llama_server": 1, "tgi": 1, "sglang": 1}

    asyncio.run(main())


def test_a_probe_that_failed_is_asked_again_by_the_listing() -> None:
    with FakeLlamaServer(slots=3) as srv, LocalProvider(settings({"llama_server": srv})) as provider:
        srv.faults.append(Fault("/props", reply=Reply(500, {"error": "not yet"})))
        [info] = provider.list_models()
    assert [r.path for r in srv.requests].count("/props") == 2 and info.parallel_slots == 3


def test_the_kept_replies_are_never_shown_and_do_not_outlive_their_round() -> None:
    """SGLang's ``/get_server_info`` holds the server's arguments (keys included): a ``Service`` never
    shows it, and a server busy in the next round keeps its identity but not the old replies."""
    with FakeSGLangServer() as srv:
        discovery = ServiceDiscovery(LocalSettings(endpoints=[srv.url], discover_defaults=False, probe_timeout=0.3))
        [service] = discovery.discover()
        assert "/get_server_info" in service.probed
        assert "probed" not in repr(service) and "probed" not in service.to_dict()
        srv.faults.append(Fault("/", delay=1.0))
        [busy] = discovery.discover(refresh=True)
        discovery.close()
    assert busy.busy and busy.flavor == "sglang" and busy.probed == {}

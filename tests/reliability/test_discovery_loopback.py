"""Discovery never sends a packet to a non-loopback address that was not configured.

Two instruments: an ``httpx.MockTransport`` that records the host of every request patinox builds
(nothing leaves the process), and the directory's socket guard (``conftest.guard``, on for every
test here) that records every address a real connection or name lookup is attempted for and
refuses any that is not loopback, so even a failing test sends nothing outside 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from patinox_core import ChatRequest, LocalProvider, LocalProviderError, LocalSettings, Message, ServiceDiscovery
from patinox_core.testing import FakeOllamaServer

from .loopback import Recorder


def _mock_discovery(settings: LocalSettings) -> tuple[Recorder, ServiceDiscovery]:
    rec = Recorder()
    return rec, ServiceDiscovery(settings, transport=httpx.MockTransport(rec))


def test_default_discovery_probes_only_loopback() -> None:
    rec, discovery = _mock_discovery(LocalSettings())
    assert discovery.discover() == []
    asyncio.run(discovery.adiscover(refresh=True))
    assert rec.hosts, "nothing was probed: the instrument is not wired"
    assert rec.outside() == []
    assert {p for _, p in rec.hosts} == {11434, 1234}


@pytest.mark.parametrize("configured", ["http://box.lan:11434", "http://10.1.2.3:8080", "http://[fd00::7]:1234"])
def test_a_configured_remote_host_is_the_only_one_outside_loopback(configured: str) -> None:
    settings = LocalSettings(endpoints=[configured])
    rec, discovery = _mock_discovery(settings)
    discovery.discover()
    asyncio.run(discovery.adiscover(refresh=True))
    host = httpx.URL(configured).host
    assert host in {h for h, _ in rec.hosts}, "the configured host was not probed"
    assert rec.outside({host}) == []


def test_the_router_reaches_only_loopback_by_default() -> None:
    rec = Recorder()
    with LocalProvider(LocalSettings(), transport=httpx.MockTransport(rec)) as provider:
        for call in (provider.list_models, provider.health,
                     lambda: provider.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")])),
                     lambda: asyncio.run(provider.alist_models(refresh=True))):
            try:
                call()
            except LocalProviderError:
                pass
    assert rec.hosts and rec.outside() == []


@pytest.mark.parametrize("remote", [None, "10.255.255.1"])
def test_real_sockets_discovery(guard: Recorder, remote: str | None) -> None:
    """The real transports (httpx sync, aiohttp async), default settings plus maybe one configured
    remote server (the guard refuses it before a packet leaves): nothing else outside loopback."""
    settings = LocalSettings(probe_timeout=0.3, endpoints=[f"http://{remote}:11434"] if remote else [])
    with LocalProvider(settings) as provider:
        for call in (provider.list_models, lambda: asyncio.run(provider.alist_models(refresh=True))):
            try:
                call()
            except LocalProviderError:
                pass
    assert guard.hosts, "no connection was attempted: the guard is not wired"
    assert guard.outside({remote} if remote else set()) == []
    assert {h for h, _ in guard.hosts} >= ({remote, "127.0.0.1"} if remote else {"127.0.0.1"})


def test_real_sockets_monitoring_and_pinned_adapters(guard: Recorder) -> None:
    """A monitor round and adapters pinned to one loopback server contact nothing else, not even
    the other loopback default ports."""
    from patinox_langchain import ChatPatinox

    with FakeOllamaServer() as server:
        llm = ChatPatinox(model="llama3.2", base_url=server.url, provider="ollama")
        assert llm.invoke("hi").content
        assert asyncio.run(llm.ainvoke("hi")).content
        pinned = {p for _, p in guard.hosts if p is not None}
        discovery = ServiceDiscovery(LocalSettings(probe_timeout=0.3, discover_defaults=True))
        discovery.start_monitoring(interval=0.05)
        try:
            discovery.discover(refresh=True)
        finally:
            discovery.stop_monitoring()
            discovery.close()
    assert pinned == {server.port}, f"a pinned adapter reached {pinned}"
    assert guard.outside() == []
    assert {p for _, p in guard.hosts if p is not None} == {server.port, 11434, 1234}

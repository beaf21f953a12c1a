"""ServiceDiscovery against real loopback fake servers: fingerprints, cache, speed, monitoring."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from patinox_core import LocalSettings, ProviderKind, Service, ServiceDiscovery
from patinox_core.discovery import fingerprint, is_loopback, probe_targets
from patinox_core.testing import FakeHTTPServer, FakeLMStudioServer, FakeOllamaServer, Reply
from patinox_core.transport import ProbeReply


class FakeOpenAIServer(FakeHTTPServer):
    """A minimal OpenAI-compatible server: fixed routes, everything else 404."""

    def __init__(self, routes: dict[str, Reply], server_header: str | None = None) -> None:
        super().__init__()
        self.routes = routes
        self.server_header = server_header

    def handle(self, request):
        return self.routes.get(request.path, Reply(status=404, body={"detail": "Not Found"}))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def servers() -> Iterator[tuple[FakeOllamaServer, FakeLMStudioServer]]:
    with FakeOllamaServer() as ollama, FakeLMStudioServer() as lms:
        yield ollama, lms


def settings(**kw) -> LocalSettings:
    kw.setdefault("discover_defaults", False)
    kw.setdefault("probe_timeout", 0.5)
    return LocalSettings(**kw)


def paths(server: FakeHTTPServer) -> list[str]:
    return [r.path for r in server.requests]


# -- finding and fingerprinting ----------------------------------------------------------

def test_finds_and_fingerprints_ollama_and_lmstudio(servers):
    ollama, lms = servers
    found = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url)).discover()
    assert [(s.kind, s.base_url, s.flavor) for s in found] == [
        (ProviderKind.OLLAMA, ollama.url, "ollama"), (ProviderKind.LMSTUDIO, lms.url, "lmstudio")]
    assert found[0].version == "0.12.10" and found[1].version is None
    assert all(s.healthy and s.configured and s.latency_ms is not None and s.last_checked for s in found)
    assert paths(ollama) == ["/", "/api/version"] and paths(lms) == ["/"]
    json.dumps([s.to_dict() for s in found])


def test_endpoints_without_a_kind_are_fingerprinted(servers):
    ollama, lms = servers
    found = ServiceDiscovery(settings(endpoints=f"{lms.url},{ollama.url}")).discover()
    assert [(s.kind, s.flavor) for s in found] == [(ProviderKind.LMSTUDIO, "lmstudio"),
                                                   (ProviderKind.OLLAMA, "ollama")]


def test_configured_kind_wins_over_the_fingerprint(servers):
    ollama, _ = servers
    found = ServiceDiscovery(settings(endpoints=[{"url": ollama.url, "kind": "openai"}])).discover()
    assert found[0].kind is ProviderKind.OPENAI_COMPATIBLE and found[0].flavor == "ollama"


@pytest.mark.parametrize(("routes", "header", "flavor", "version"), [
    ({"/": Reply(body="<html>", content_type="text/html"),
      "/v1/models": Reply(body={"object": "list", "models": [], "data": [{"id": "g", "owned_by": "llamacpp"}]}),
      "/props": Reply(body={"build_info": "b6000-abc", "total_slots": 1})}, "llama.cpp", "llama_server", "b6000-abc"),
    ({"/v1/models": Reply(body={"data": [{"id": "m", "owned_by": "vllm", "max_model_len": 4096}]}),
      "/version": Reply(body={"version": "0.6.3"})}, "uvicorn", "vllm", "0.6.3"),
    ({"/v1/models": Reply(body={"object": "list", "data": [{"id": "gemma3-270m", "owned_by": "me",
                                                             "permissions": []}]})}, "uvicorn",
     "llama_cpp_python", None),
    ({"/v1/models": Reply(body={"object": "list", "data": [{"id": "x", "owned_by": "someone"}]})}, None, None, None),
])
def test_openai_compatible_flavors(routes, header, flavor, version):
    with FakeOpenAIServer(routes, header) as srv:
        (found,) = ServiceDiscovery(settings(endpoints=srv.url)).discover()
    assert (found.kind, found.flavor, found.version, found.healthy) == (
        ProviderKind.OPENAI_COMPATIBLE, flavor, version, True)


def test_an_unknown_http_server_is_not_a_model_server():
    with FakeOpenAIServer({"/": Reply(body="hello", content_type="text/plain")}) as srv:
        d = ServiceDiscovery(settings(endpoints=srv.url))
        (configured,) = d.discover()
        assert not configured.healthy and "not a model server" in configured.error
        d.default_targets = ((srv.url, ProviderKind.OLLAMA),)
        d.settings = settings(discover_defaults=True)
        assert d.discover(refresh=True) == []  # a stranger on a default port is ignored


def test_fingerprint_is_a_pure_plan():
    plan = fingerprint("http://127.0.0.1:11434")
    assert next(plan) == "/"
    assert plan.send(ProbeReply(200, {}, b"Ollama is running", 1.0)) == "/api/version"
    with pytest.raises(StopIteration) as done:
        plan.send(ProbeReply(200, {}, b'{"version":"0.9.0"}', 1.0))
    assert done.value.value.version == "0.9.0" and done.value.value.kind is ProviderKind.OLLAMA


# -- only loopback unless configured -------------------------------------------------------

def test_never_probes_a_non_loopback_host_the_user_did_not_name():
    s = settings(discover_defaults=True, lmstudio_url="http://box.lan:1234")
    defaults = (("http://10.0.0.5:11434", ProviderKind.OLLAMA), ("http://127.0.0.1:11434", ProviderKind.OLLAMA),
                ("http://localhost:1234", ProviderKind.LMSTUDIO))
    targets = probe_targets(s, defaults)
    assert [(u, c) for u, _, c in targets] == [("http://box.lan:1234", True), ("http://127.0.0.1:11434", False),
                                                ("http://localhost:1234", False)]
    assert all(c or is_loopback(u) for u, _, c in targets)
    same = probe_targets(settings(discover_defaults=True, ollama_url="localhost"))  # localhost == 127.0.0.1
    assert [u for u, _, _ in same] == ["http://localhost:11434", "http://127.0.0.1:1234"]


# -- speed when nothing listens ------------------------------------------------------------

def test_nothing_listening_returns_empty_quickly(silent):
    d = ServiceDiscovery(settings(discover_defaults=True, probe_timeout=0.3))
    d.default_targets = ((f"http://127.0.0.1:{closed_port()}", ProviderKind.OLLAMA),
                         (f"http://127.0.0.1:{closed_port()}", ProviderKind.LMSTUDIO),
                         (silent, ProviderKind.OLLAMA))
    t0 = time.perf_counter()
    assert d.discover() == []
    assert time.perf_counter() - t0 < 0.3 * 3  # probes run in parallel, each bounded by probe_timeout


async def test_nothing_listening_returns_empty_quickly_async(silent):
    d = ServiceDiscovery(settings(discover_defaults=True, probe_timeout=0.3))
    d.default_targets = ((f"http://127.0.0.1:{closed_port()}", ProviderKind.OLLAMA), (silent, ProviderKind.OLLAMA),
                         (silent.replace("127.0.0.1", "localhost"), ProviderKind.LMSTUDIO))
    t0 = time.perf_counter()
    assert await d.adiscover() == []
    assert time.perf_counter() - t0 < 0.3 * 3


def test_a_configured_dead_server_is_down_and_a_mute_one_busy(silent):
    """Refused: down. Accepted but silent (llama-cpp-python while it generates): busy, kept, not down."""
    d = ServiceDiscovery(settings(ollama_url=f"127.0.0.1:{closed_port()}", endpoints=silent, probe_timeout=0.3))
    dead, mute = d.discover()
    assert (dead.kind, dead.healthy, dead.busy) == (ProviderKind.OLLAMA, False, False)
    assert (mute.healthy, mute.busy) == (True, True) and "busy" in mute.error
    assert "cannot connect" in dead.error and mute.kind is ProviderKind.OPENAI_COMPATIBLE


def test_empty_without_targets():
    assert ServiceDiscovery(settings()).discover() == []


# -- cache -----------------------------------------------------------------------------------

def test_second_call_within_ttl_makes_no_request(servers):
    ollama, lms = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url, discovery_ttl=30))
    first = d.discover()
    count = len(ollama.requests) + len(lms.requests)
    assert d.discover() == first and d.services == first
    assert len(ollama.requests) + len(lms.requests) == count and d.rounds == 1
    d.discover(refresh=True)
    assert len(ollama.requests) + len(lms.requests) == 2 * count


def test_ttl_zero_always_probes(servers):
    ollama, _ = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, discovery_ttl=0))
    d.discover()
    d.discover()
    assert paths(ollama).count("/") == 2


def test_cache_is_shared_by_many_threads(servers):
    ollama, lms = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url))
    results, barrier = [], threading.Barrier(12)

    def worker():
        barrier.wait()
        results.append(d.discover())

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 12 and all(r == results[0] for r in results)
    assert paths(ollama).count("/") == 1 and paths(lms).count("/") == 1 and d.rounds == 1


async def test_cache_is_shared_by_many_tasks(servers):
    ollama, lms = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url))
    results = await asyncio.gather(*(d.adiscover() for _ in range(10)))
    assert all(r == results[0] for r in results) and len(results[0]) == 2
    assert paths(ollama).count("/") == 1 and d.rounds == 1
    assert d.discover() == results[0]  # sync callers see the async round's cache


async def test_sync_discover_inside_a_running_loop(servers):
    ollama, _ = servers  # as in Jupyter: a sync call while an event loop runs in this thread
    assert ServiceDiscovery(settings(ollama_url=ollama.url)).discover()[0].healthy


def test_probes_send_configured_credentials(servers):
    ollama, _ = servers
    ServiceDiscovery(settings(ollama_url=ollama.url, api_key="sk-test")).discover()
    assert ollama.requests[0].headers["authorization"] == "Bearer sk-test"


# -- monitoring --------------------------------------------------------------------------------

def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def health(d: ServiceDiscovery) -> dict[str, bool]:
    return {s.base_url: s.healthy for s in d.services}


def test_monitoring_thread_marks_killed_unhealthy_and_restarted_healthy(servers):
    ollama, lms = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url, probe_timeout=0.3))
    d.start_monitoring(0.05)
    try:
        assert wait_for(lambda: health(d) == {ollama.url: True, lms.url: True})
        ollama.kill()
        assert wait_for(lambda: health(d) == {ollama.url: False, lms.url: True})
        killed = next(s for s in d.services if s.base_url == ollama.url)
        assert killed.kind is ProviderKind.OLLAMA and killed.version == "0.12.10" and killed.error
        ollama.restart()
        assert wait_for(lambda: health(d) == {ollama.url: True, lms.url: True})
        assert d.monitoring
    finally:
        d.stop_monitoring()
    assert not d.monitoring


def test_monitoring_keeps_a_default_server_that_went_away(servers):
    ollama, _ = servers
    d = ServiceDiscovery(settings(discover_defaults=True, probe_timeout=0.3))
    d.default_targets = ((ollama.url, ProviderKind.OLLAMA),)
    assert [s.configured for s in d.discover()] == [False]
    ollama.kill()
    (gone,) = d.discover(refresh=True)
    assert not gone.healthy and gone.flavor == "ollama"


async def test_monitoring_task_marks_killed_unhealthy_and_restarted_healthy(servers):
    ollama, lms = servers
    d = ServiceDiscovery(settings(ollama_url=ollama.url, lmstudio_url=lms.url, probe_timeout=0.3))
    task = await d.astart_monitoring(0.05)

    async def until(expected: dict[str, bool]) -> None:
        for _ in range(250):
            if health(d) == expected:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{health(d)} != {expected}")

    try:
        await until({ollama.url: True, lms.url: True})
        lms.kill()
        await until({ollama.url: True, lms.url: False})
        lms.restart()
        await until({ollama.url: True, lms.url: True})
    finally:
        await d.astop_monitoring()
    assert task.done() and not d.monitoring


def test_service_defaults():
    s = Service(kind=ProviderKind.OLLAMA, base_url="http://127.0.0.1:11434")
    assert not s.healthy and s.to_dict()["kind"] == "ollama"


def test_an_injected_httpx_transport_serves_discovery_and_the_provider():
    import httpx

    from patinox_core import ChatRequest, LocalProvider, Message, ModelNotFoundError

    def ollama(request: httpx.Request) -> httpx.Response:
        routes = {"/": httpx.Response(200, text="Ollama is running"),
                  "/api/version": httpx.Response(200, json={"version": "0.13.0"}),
                  "/api/tags": httpx.Response(200, json={"models": []}),
                  "/api/ps": httpx.Response(200, json={"models": []})}
        return routes.get(request.url.path, httpx.Response(404, text="404 page not found"))

    s = settings(ollama_url="http://127.0.0.1:11434")
    (found,) = ServiceDiscovery(s, transport=httpx.MockTransport(ollama)).discover()
    assert (found.kind, found.version, found.healthy) == (ProviderKind.OLLAMA, "0.13.0", True)
    provider = LocalProvider(s, transport=httpx.MockTransport(ollama))
    with pytest.raises(ModelNotFoundError) as err:
        provider.chat(ChatRequest(model="qwen3:4b", messages=[Message(role="user", content="hi")]))
    assert "ollama pull qwen3:4b" in str(err.value)

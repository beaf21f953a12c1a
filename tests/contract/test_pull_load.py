"""Pull, download, load, unload and ensure_model against the fakes: progress events, cancel,
failures with what was left on the server, the catalogue's load state and allocated context."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator

import pytest

from patinox_core import (
    CapabilityError,
    DiskFullError,
    InsufficientMemoryError,
    LocalSettings,
    ModelNotFoundError,
    ProgressEvent,
    PullError,
    RegistryModelNotFoundError,
    ServerError,
    ensure_model,
)
from patinox_core.backends.lmstudio import LMStudioBackend
from patinox_core.backends.openai_compat import OpenAICompatBackend
from patinox_core.fakes.openai_compat import OpenAIModel
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLlamaRouter, FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

GEMMA = OllamaModel("gemma3:1b", size=815_000_000, family="gemma3")
QWEN = "qwen/qwen3-4b-2507"


def provider(*urls: str) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=list(urls), discover_defaults=False, max_retries=0,
                                       cold_load_timeout=10))


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        server.registry.offer(GEMMA)
        yield server


@pytest.fixture
def lmstudio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLMStudioServer]:
    monkeypatch.setattr(LMStudioBackend, "download_poll_s", 0.01)
    with FakeLMStudioServer() as server:
        server.admin.offer(LMStudioModel(QWEN, loaded=False, size_bytes=2_279_145_003, max_context_length=262144))
        yield server


# --- Ollama /api/pull ------------------------------------------------------------------------------
def test_pull_reports_each_layer_then_verification_and_installs_the_model(ollama: FakeOllamaServer) -> None:
    events: list[ProgressEvent] = []
    with provider(ollama.url) as p:
        with pytest.raises(ModelNotFoundError):
            p.get_model("gemma3:1b")
        done = p.pull("gemma3:1b", progress=events.append)
        assert p.get_model("gemma3:1b").name == "gemma3:1b"  # the catalogue was refreshed
    assert done.phase == "done" and events[-1] == done
    assert [e.phase for e in events[:1]] == ["manifest"]
    assert [e.phase for e in events[-3:]] == ["verifying", "writing", "done"]
    layers = [e for e in events if e.phase == "layer"]
    assert len({e.layer for e in layers}) == 3 and all(e.layer.startswith("sha256:") for e in layers)
    first = [e for e in layers if e.layer == layers[0].layer]
    assert [e.completed for e in first] == sorted(e.completed for e in first)  # grows
    assert first[0].completed == 0 and first[-1].completed == first[-1].total == 815_000_000 - 1_500
    assert ollama.requests[-4].json == {"model": "gemma3:1b", "stream": True} or any(
        r.path == "/api/pull" and r.json == {"model": "gemma3:1b", "stream": True} for r in ollama.requests)


def test_pull_async_gives_the_same_events(ollama: FakeOllamaServer) -> None:
    sync_events: list[ProgressEvent] = []
    async_events: list[ProgressEvent] = []
    with provider(ollama.url) as p:
        p.pull("gemma3:1b", progress=sync_events.append)
        ollama.remove_model("gemma3:1b")

        async def run() -> None:
            await p.apull("gemma3:1b", progress=async_events.append)
            assert (await p.aget_model("gemma3:1b")).name == "gemma3:1b"
        asyncio.run(run())
    assert [(e.phase, e.layer, e.completed) for e in async_events] == [
        (e.phase, e.layer, e.completed) for e in sync_events]


def test_a_name_the_registry_lacks_is_a_typed_error_saying_nothing_was_left(ollama: FakeOllamaServer) -> None:
    events: list[ProgressEvent] = []
    with provider(ollama.url) as p, pytest.raises(RegistryModelNotFoundError) as info:
        p.pull("lama3.2", progress=events.append)
    assert "file does not exist" in str(info.value) and "ollama.com/library" in str(info.value)
    assert events[-1].phase == "failed" and events[-1].left_on_server.startswith("nothing")


def test_disk_full_says_what_partial_layers_stay(ollama: FakeOllamaServer) -> None:
    ollama.registry.disk_free = 500_000_000  # the weights layer stops past half way
    events: list[ProgressEvent] = []
    with provider(ollama.url) as p, pytest.raises(DiskFullError) as info:
        p.pull("gemma3:1b", progress=events.append)
    err = info.value
    assert "no space left on device" in err.message and "free disk space" in err.hint
    assert err.left_on_server.startswith("407.5 MB of 815.0 MB in 1 partial layer file(s)")
    assert "pulling again resumes" in str(err) and events[-1].left_on_server == err.left_on_server


def test_server_error_text_is_capped_and_escaped(ollama: FakeOllamaServer) -> None:
    ollama.error_mid_stream(3, "\x1b[2Jwrite failed: no space left on device " + "x" * 5000, path="/api/pull")
    with provider(ollama.url) as p, pytest.raises(DiskFullError) as info:
        p.pull("gemma3:1b")
    text = str(info.value)
    assert "\x1b" not in text and "\\x1b[2J" in text and len(text) < 3000 and "more characters" in text
    ollama.fail_next(500, "\x1b]52;c;evil\x07 boom", path="/api/pull")  # an HTTP error before any line
    with provider(ollama.url) as p, pytest.raises(ServerError) as failed:
        p.pull("gemma3:1b")
    assert "\x1b" not in str(failed.value) and "boom" in str(failed.value)


def test_a_pull_that_stops_early_is_a_pull_error(ollama: FakeOllamaServer) -> None:
    ollama.registry.end_after = 4  # the body ends cleanly without "success"
    with provider(ollama.url) as p, pytest.raises(PullError) as info:
        p.pull("gemma3:1b")
    assert "stopped sending before the pull" in info.value.message
    assert "partial layer file" in info.value.left_on_server


def test_ctrl_c_closes_the_stream_says_what_is_left_and_a_new_pull_resumes(ollama: FakeOllamaServer) -> None:
    ollama.registry.delay = 0.02
    events: list[ProgressEvent] = []

    def interrupt(event: ProgressEvent) -> None:
        events.append(event)
        if event.phase == "layer" and event.completed:
            raise KeyboardInterrupt

    with provider(ollama.url) as p:
        with pytest.raises(KeyboardInterrupt):
            p.pull("gemma3:1b", progress=interrupt)
        assert events[-1].phase == "cancelled" and "partial layer file" in events[-1].left_on_server
        assert ollama.find("gemma3:1b") is None  # not installed
        kept = max(ollama.registry.partial.values())
        assert 0 < kept < 815_000_000
        ollama.registry.delay = 0.0
        again: list[ProgressEvent] = []
        p.pull("gemma3:1b", progress=again.append)
    first = next(e for e in again if e.phase == "layer")
    assert first.completed and first.completed >= 203_749_625  # resumed from the partial file


def test_cancelling_an_async_pull_says_what_is_left(ollama: FakeOllamaServer) -> None:
    ollama.registry.delay = 0.05
    events: list[ProgressEvent] = []

    async def run(p: LocalProvider) -> None:
        task = asyncio.create_task(p.apull("gemma3:1b", progress=events.append))
        for _ in range(200):  # bounded: at most 2 s
            if any(e.phase == "layer" and e.completed for e in events):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with provider(ollama.url) as p:
        asyncio.run(run(p))
    assert events[-1].phase == "cancelled" and "partial layer file" in events[-1].left_on_server


# --- Ollama load / unload ------------------------------------------------------------------------------
def test_load_with_context_and_keep_alive_updates_the_catalogue(ollama: FakeOllamaServer) -> None:
    events: list[ProgressEvent] = []
    with provider(ollama.url) as p:
        assert not p.get_model("qwen3").loaded
        info = p.load("qwen3", context=16384, keep_alive="1h", progress=events.append)
        assert info.loaded and info.loaded_context_length == 16384 == info.effective_context_length
        body = next(r.json for r in reversed(ollama.requests) if r.path == "/api/chat")
        assert body == {"model": "qwen3:latest", "messages": [], "stream": False, "keep_alive": "1h",
                        "options": {"num_ctx": 16384}}
        assert [e.phase for e in events] == ["loading", "loaded"] and events[-1].total == 16384
        assert events[-1].seconds is not None
        gone = p.unload("qwen3")
        assert [g.loaded for g in gone] == [False] and not ollama.find("qwen3").loaded
        assert p.get_model("qwen3").loaded_context_length is None
        assert p.unload("qwen3") == []  # not loaded anywhere now


def test_loading_a_model_too_big_for_memory_says_how_to_fix_it(ollama: FakeOllamaServer) -> None:
    ollama.add_model(OllamaModel("llama3.3:70b", size=42_000_000_000))
    ollama.registry.memory_limit = 16_000_000_000
    events: list[ProgressEvent] = []
    with provider(ollama.url) as p, pytest.raises(InsufficientMemoryError) as info:
        p.load("llama3.3:70b", progress=events.append)
    assert "requires more system memory" in info.value.message and "--context" in info.value.hint
    assert events[-1].phase == "failed" and not ollama.find("llama3.3:70b").loaded


def test_async_load_and_unload(ollama: FakeOllamaServer) -> None:
    async def run(p: LocalProvider) -> None:
        info = await p.aload("qwen3", context=8192)
        assert info.loaded and info.loaded_context_length == 8192
        assert [i.loaded for i in await p.aunload("qwen3")] == [False]

    with provider(ollama.url) as p:
        asyncio.run(run(p))
    assert not ollama.find("qwen3").loaded


# --- ensure_model ----------------------------------------------------------------------------------------
def test_ensure_model_never_pulls_unless_asked(ollama: FakeOllamaServer) -> None:
    with provider(ollama.url) as p:
        with pytest.raises(ModelNotFoundError):
            p.ensure_model("gemma3:1b")
        assert not any(r.path == "/api/pull" for r in ollama.requests)
        info = p.ensure_model("gemma3:1b", pull=True, load=True, context=4096)
        assert info.name == "gemma3:1b" and info.loaded and info.loaded_context_length == 4096
        pulls = sum(r.path == "/api/pull" for r in ollama.requests)
        assert p.ensure_model("gemma3:1b", pull=True, load=True).loaded  # present and loaded: nothing to do
        assert sum(r.path == "/api/pull" for r in ollama.requests) == pulls


def test_module_level_ensure_model_and_async(ollama: FakeOllamaServer) -> None:
    info = ensure_model("gemma3:1b", pull=True, endpoints=[ollama.url], discover_defaults=False)
    assert info.name == "gemma3:1b" and not info.loaded
    with provider(ollama.url) as p:
        assert asyncio.run(p.aensure_model("qwen3", load=True)).loaded


# --- LM Studio: download job, load, unload ----------------------------------------------------------------
def test_lmstudio_download_follows_the_job(lmstudio: FakeLMStudioServer) -> None:
    events: list[ProgressEvent] = []
    with provider(lmstudio.url) as p:
        done = p.pull(QWEN, progress=events.append)
        assert p.get_model(QWEN).name == QWEN
    assert done.phase == "done" and done.completed == done.total == 2_279_145_003
    downloading = [e for e in events if e.phase == "downloading"]
    assert len(downloading) == 4 and downloading[0].completed == 0 and downloading[0].bytes_per_second
    assert [e.completed for e in downloading] == sorted(e.completed for e in downloading)
    paths = [r.path for r in lmstudio.requests if "download" in r.path]
    assert paths[0] == "/api/v1/models/download" and paths[1].startswith("/api/v1/models/download/status/job_")


def test_lmstudio_paused_then_already_downloaded(lmstudio: FakeLMStudioServer) -> None:
    lmstudio.admin.pause_polls = 2
    events: list[ProgressEvent] = []
    with provider(lmstudio.url) as p:
        p.pull(QWEN, progress=events.append)
        assert [e.phase for e in events[:3]] == ["downloading", "paused", "paused"]
        again: list[ProgressEvent] = []
        p.pull(QWEN, progress=again.append)
    assert [(e.phase, e.status) for e in again] == [("done", "already_downloaded")]


def test_lmstudio_failed_and_unknown_downloads(lmstudio: FakeLMStudioServer) -> None:
    lmstudio.admin.fail_at = 0.5
    events: list[ProgressEvent] = []
    with provider(lmstudio.url) as p:
        with pytest.raises(PullError) as info:
            p.pull(QWEN, progress=events.append)
        assert "failed" in info.value.message and "1.1 GB fetched" in info.value.left_on_server
        assert info.value.left_on_server.startswith("the failed job job_")
        assert events[-1].phase == "failed"
        with pytest.raises(RegistryModelNotFoundError) as missing:
            p.pull("nobody/nothing")
    assert "catalog" in missing.value.message and "Hugging Face URL" in missing.value.hint


def test_lmstudio_cancel_says_the_job_keeps_running(lmstudio: FakeLMStudioServer) -> None:
    events: list[ProgressEvent] = []

    def interrupt(event: ProgressEvent) -> None:
        events.append(event)
        if event.completed:
            raise KeyboardInterrupt

    with provider(lmstudio.url) as p, pytest.raises(KeyboardInterrupt):
        p.pull(QWEN, progress=interrupt)
    assert events[-1].phase == "cancelled"
    assert events[-1].left_on_server.startswith("download job job_") and "keeps running" in events[-1].left_on_server


def test_lmstudio_load_with_context_then_unload(lmstudio: FakeLMStudioServer) -> None:
    with provider(lmstudio.url) as p:
        info = p.load("text-embedding-nomic-embed-text-v1.5", context=2048)
        assert info.loaded and info.loaded_context_length == 2048
        assert lmstudio.admin.loads[-1] == {"model": "text-embedding-nomic-embed-text-v1.5",
                                            "echo_load_config": True, "context_length": 2048}
        assert [i.loaded for i in p.unload("text-embedding-nomic-embed-text-v1.5")] == [False]
        assert any(r.path == "/api/v1/models/unload" and r.json == {
            "instance_id": "text-embedding-nomic-embed-text-v1.5"} for r in lmstudio.requests)


def test_lmstudio_keep_alive_is_the_ttl_of_an_on_demand_load(lmstudio: FakeLMStudioServer) -> None:
    lmstudio.models["qwen/qwen3-8b"].loaded = False
    with provider(lmstudio.url) as p:
        info = p.load("qwen/qwen3-8b", keep_alive="10m")
        assert info.loaded
    jit = next(r for r in lmstudio.requests if r.path == "/v1/chat/completions")
    assert jit.json["ttl"] == 600 and jit.json["max_tokens"] == 1
    assert not lmstudio.admin.loads  # not the load endpoint, which takes no TTL


def test_lmstudio_context_with_a_ttl_warns_that_the_ttl_cannot_apply(lmstudio: FakeLMStudioServer) -> None:
    lmstudio.models["qwen/qwen3-8b"].loaded = False
    with provider(lmstudio.url) as p, pytest.warns(UserWarning, match="no idle TTL"):
        assert p.load("qwen/qwen3-8b", keep_alive=300, context=8192).loaded_context_length == 8192


def test_lmstudio_guardrail_refusal_is_insufficient_memory(lmstudio: FakeLMStudioServer) -> None:
    lmstudio.admin.memory_limit = 1_000_000_000
    lmstudio.models["qwen/qwen3-8b"].loaded = False
    with provider(lmstudio.url) as p, pytest.raises(InsufficientMemoryError) as info:
        p.load("qwen/qwen3-8b")
    assert "insufficient system resources" in info.value.message and "smaller" in info.value.hint


def test_lmstudio_without_the_v1_api_says_to_upgrade() -> None:
    with FakeLMStudioServer(rest_api=("v0",)) as server, provider(server.url) as p, \
            pytest.raises(CapabilityError) as info:
        p.load("qwen/qwen3-8b")
    assert "0.4" in info.value.message and "lms load" in info.value.hint


# --- llama-server router --------------------------------------------------------------------------------
@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLlamaRouter]:
    monkeypatch.setattr(OpenAICompatBackend, "router_poll_s", 0.01)
    with FakeLlamaRouter({"gemma-3-4b-it": "loaded", "qwen3-4b": "unloaded", "big": "unloaded"}) as server:
        server.models["big"] = OpenAIModel("big")
        server.load_polls = 2
        yield server


def test_router_load_waits_for_loaded_and_reads_the_context(router: FakeLlamaRouter) -> None:
    with provider(router.url) as p:
        assert not p.get_model("qwen3-4b").loaded
        info = p.load("qwen3-4b")
        assert info.loaded and info.loaded_context_length == 4096
        assert router.states["qwen3-4b"] == "loaded"
        listings = [r for r in router.requests if r.path == "/models"]
        assert len(listings) >= 3  # loading, loading, loaded
        assert [i.loaded for i in p.unload("qwen3-4b")] == [False] and router.states["qwen3-4b"] == "unloaded"


def test_router_load_failure_names_the_exit_code(router: FakeLlamaRouter) -> None:
    router.fail_loads = {"big"}
    with provider(router.url) as p, pytest.raises(ServerError) as info:
        p.load("big")
    assert "exited with code 1" in info.value.message and "memory" in info.value.hint


def test_router_keep_alive_warns_and_single_model_servers_cannot_load(router: FakeLlamaRouter) -> None:
    with provider(router.url) as p, pytest.warns(UserWarning, match="no keep-alive"):
        p.load("qwen3-4b", keep_alive="5m")
    with provider(router.url) as p, pytest.raises(CapabilityError):  # a pull needs a server that can download
        p.pull("qwen3-4b")


def test_single_model_llama_server_cannot_switch() -> None:
    from patinox_core.testing import FakeLlamaServer

    with FakeLlamaServer() as server, provider(server.url) as p, pytest.raises(CapabilityError) as info, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.load("gemma-3-4b-it")
    assert "router mode" in info.value.hint


# --- choosing the server that pulls ----------------------------------------------------------------------
def test_pull_prefers_ollama_and_honours_service(ollama: FakeOllamaServer, lmstudio: FakeLMStudioServer) -> None:
    lmstudio.admin.offer(LMStudioModel("gemma3:1b", loaded=False, size_bytes=1000))
    with provider(lmstudio.url, ollama.url) as p:
        assert p.pull("gemma3:1b").service == ollama.url
        assert p.pull("gemma3:1b", service=lmstudio.url).service == lmstudio.url
        with pytest.raises(ModelNotFoundError):
            p.pull("x", service="http://127.0.0.1:9")

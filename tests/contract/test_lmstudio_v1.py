"""LM Studio 0.4's native ``/api/v1`` facts against the fake: loaded instances and their slots feeding
routing, JIT loading and idle TTL in ``patinox status``, API tokens (Bearer) with authentication on."""

from __future__ import annotations

import json
import threading
import time

import pytest

from patinox_core.backends.lmstudio import LMStudioBackend
from patinox_core.cli import main
from patinox_core.config import LocalSettings
from patinox_core.discovery import ServiceDiscovery
from patinox_core.errors import AuthenticationError, ConfigurationError
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLMStudioServer, LMStudioModel
from patinox_core.types import ChatRequest, Message
from patinox_langchain import ChatPatinox

CHAT, COLD, EMBED = "qwen/qwen3-8b", "google/gemma-3-4b", "text-embedding-nomic-embed-text-v1.5"
TOKEN = "sk-lm-Fake1234:abcdEFGHijkl"
FAST = {"connect_timeout": 1.0, "read_timeout": 5.0, "cold_load_timeout": 10.0, "max_retries": 0,
        "discover_defaults": False}


def fleet() -> list[LMStudioModel]:
    return [LMStudioModel(CHAT, tool_use=True, parallel=2, instances=2, loaded_context_length=8192),
            LMStudioModel(COLD, type="vlm", loaded=False),
            LMStudioModel(EMBED, type="embeddings", loaded=True, loaded_context_length=2048)]


def provider(srv: FakeLMStudioServer, **settings: object) -> LocalProvider:
    return LocalProvider(LocalSettings(**{**FAST, "lmstudio_url": srv.url, **settings}))


def test_instances_context_and_parallel_slots_reach_the_catalogue_and_the_scheduler() -> None:
    with FakeLMStudioServer(fleet()) as srv, provider(srv) as p:
        infos = {m.name: m for m in p.list_models()}
        chat, cold, emb = infos[CHAT], infos[COLD], infos[EMBED]
        assert (chat.loaded, chat.instance_count, chat.loaded_context_length, chat.parallel_slots) == (True, 2, 8192, 2)
        assert chat.effective_context_length == 8192 and chat.context_length == 32768
        assert (cold.loaded, cold.instance_count, cold.parallel_slots) == (False, None, None)
        assert emb.parallel_slots is None and emb.loaded_context_length == 2048  # no `parallel` for embeddings
        slots = {row["model"]: row["capacity"] for row in p.load_status()}
        assert slots[CHAT] == 2  # the instance's Max Concurrent Predictions
        assert slots[COLD] == 4  # nothing reported: LM Studio's default (4, as its app)


def test_parallel_slots_bound_what_patinox_sends_at_once() -> None:
    """Two slots: a third concurrent request waits in patinox's queue while two are at the server."""
    with FakeLMStudioServer(fleet()) as srv, provider(srv) as p:
        p.list_models()
        srv.delay_first_byte(0.3, path="/api/v0/chat/completions", times=None)
        request = ChatRequest(model=CHAT, messages=[Message("user", "hi")])
        chats = [threading.Thread(target=p.chat, args=(request,)) for _ in range(3)]
        for t in chats:
            t.start()
        peak = queued = 0
        for _ in range(2000):  # bounded: the three chats take about 0.6 s
            row = next(r for r in p.load_status() if r["model"] == CHAT)
            peak, queued = max(peak, row["in_flight"]), max(queued, row["queued"])
            if not any(t.is_alive() for t in chats):
                break
            time.sleep(0.005)
        for t in chats:
            t.join(timeout=10)
        assert (peak, queued) == (2, 1)
        assert sum(r.path == "/api/v0/chat/completions" for r in srv.requests) == 3


def test_jit_on_off_and_idle_ttl_in_status(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    with FakeLMStudioServer(fleet()) as on, FakeLMStudioServer(fleet(), jit=False) as off:
        with provider(on, keep_alive="10m") as p:
            assert main(["status"], provider=p) == 0
            out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith(f"  {on.url}:"))
        assert "native API /api/v1" in line and "JIT loading on" in line
        assert "idle TTL: 600 s (patinox sends keep_alive as ttl)" in line and "API token: none" in line
        with provider(off) as p:
            assert main(["status", "--json"], provider=p) == 0
            notes = json.loads(capsys.readouterr().out)["notes"][off.url]
        assert notes == {"native_api": "/api/v1", "jit_loading": False, "idle_ttl_s": None, "api_token": False}


def test_jit_cannot_be_told_when_every_model_is_loaded() -> None:
    with FakeLMStudioServer([LMStudioModel(CHAT)]) as srv:
        b = LMStudioBackend(srv.url, settings=LocalSettings(**FAST))
        b.list_model_facts()
        assert b.jit is None and [r.path for r in srv.requests] == ["/api/v1/models"]  # no extra probe


def test_a_token_is_required_and_the_error_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LM_API_TOKEN", raising=False)
    monkeypatch.delenv("PATINOX_LMSTUDIO_API_TOKEN", raising=False)
    with FakeLMStudioServer(fleet(), api_token=TOKEN) as srv:
        (found,) = ServiceDiscovery(LocalSettings(**FAST, lmstudio_url=srv.url)).discover()
        assert found.flavor == "lmstudio" and found.healthy  # known by its Express header, even refused
        with pytest.raises(ConfigurationError) as info:
            LMStudioBackend(srv.url, settings=LocalSettings(**FAST)).list_model_facts()
        assert info.value.status_code == 401 and "LM_API_TOKEN" in (info.value.hint or "")
        wrong = LMStudioBackend(srv.url, settings=LocalSettings(**FAST, lmstudio_url=srv.url,
                                                                lmstudio_api_token="sk-lm-wrong:x"))
        with pytest.raises(ConfigurationError, match="valid API token"):
            wrong.list_model_facts()


def test_without_a_token_requests_and_status_say_to_set_one(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal is what a user sees, not "model not found" (the listing is what LM Studio refused)."""
    monkeypatch.delenv("LM_API_TOKEN", raising=False)
    monkeypatch.delenv("PATINOX_LMSTUDIO_API_TOKEN", raising=False)
    with FakeLMStudioServer(fleet(), api_token=TOKEN) as srv, provider(srv) as p:
        with pytest.raises(AuthenticationError) as info:
            p.chat(ChatRequest(model=CHAT, messages=[Message("user", "hi")]))
        assert info.value.service == srv.url and "LM_API_TOKEN" in (info.value.hint or "")
        assert f"the models of {srv.url} could not be listed" in info.value.message
        with pytest.raises(AuthenticationError):
            ChatPatinox(model=CHAT, base_url=srv.url, provider="lmstudio", max_retries=0).invoke("hi")
        assert main(["status"], provider=p) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(f"  {srv.url}:"))
        assert "cannot list its models: LM Studio refused the request: it requires a valid API token" in line
        assert "LM_API_TOKEN" in line and "API token: none" in line
        monkeypatch.setenv("LM_API_TOKEN", TOKEN)
        with provider(srv) as fixed:
            assert fixed.chat(ChatRequest(model=CHAT, messages=[Message("user", "hi")])).message.content
            assert "listing_error" not in fixed.server_notes()[srv.url]


@pytest.mark.parametrize("variable", ["LM_API_TOKEN", "PATINOX_LMSTUDIO_API_TOKEN"])
async def test_the_token_from_the_environment_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch,
                                                                 variable: str) -> None:
    monkeypatch.setenv(variable, TOKEN)
    with FakeLMStudioServer(fleet(), api_token=TOKEN) as srv, provider(srv) as p:
        assert {m.name for m in p.list_models()} == {CHAT, COLD, EMBED}
        reply = await p.achat(ChatRequest(model=CHAT, messages=[Message("user", "hi")]))
        assert reply.message.content == "Hello from LM Studio."
        assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in srv.requests)
        assert p.server_notes()[srv.url]["api_token"] is True
        assert TOKEN not in repr(p.settings) and TOKEN not in json.dumps(p.server_notes())


def test_the_token_goes_only_to_lmstudio() -> None:
    s = LocalSettings(**FAST, lmstudio_api_token=TOKEN, ollama_url="http://127.0.0.1:11434",
                      endpoints=["lmstudio=http://box.lan:1234", "http://gpu.lan:8000"])
    assert s.auth_headers("http://127.0.0.1:1234") == {"Authorization": f"Bearer {TOKEN}"}
    assert s.auth_headers("http://box.lan:1234/") == {"Authorization": f"Bearer {TOKEN}"}
    assert s.auth_headers("http://127.0.0.1:11434") == {} and s.auth_headers("http://gpu.lan:8000") == {}

"""``/v1/responses`` (OpenAI) and ``/v1/messages`` (Anthropic-style) exist on Ollama (>= 0.13.3 /
0.14.0) and LM Studio (>= 0.3.29 / 0.4.1). patinox does not use them, but servers that serve them
must still be fingerprinted as what they are, by configured kind or by probing alone."""

from __future__ import annotations

import httpx
import pytest

from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.discovery import ServiceDiscovery
from patinox_core.router import LocalProvider
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

FAST = {"connect_timeout": 1.0, "read_timeout": 5.0, "max_retries": 0, "discover_defaults": False}


@pytest.fixture
def both() -> object:
    with FakeOllamaServer([OllamaModel("llama3.2", reply="Hi from Ollama.")], version="0.14.0") as ollama, \
            FakeLMStudioServer([LMStudioModel("qwen/qwen3-8b", reply="Hi from LM Studio.")]) as lms:
        yield ollama, lms


def _post(url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(url, json=body, timeout=5)


def test_both_servers_answer_responses_and_messages(both: tuple[FakeOllamaServer, FakeLMStudioServer]) -> None:
    ollama, lms = both
    for srv, model, text in ((ollama, "llama3.2", "Hi from Ollama."), (lms, "qwen/qwen3-8b", "Hi from LM Studio.")):
        r = _post(srv.url + "/v1/responses", {"model": model, "input": "Say hi"}).json()
        assert (r["object"], r["status"], r["output"][0]["type"]) == ("response", "completed", "message")
        assert r["output"][0]["content"][0] == {"type": "output_text", "text": text, "annotations": []}
        assert r["id"].startswith("resp_") and r["usage"]["total_tokens"] == 2 + len(text.split())
        m = _post(srv.url + "/v1/messages", {"model": model, "max_tokens": 64,
                                             "messages": [{"role": "user", "content": "Say hi"}]}).json()
        assert (m["type"], m["role"], m["stop_reason"]) == ("message", "assistant", "end_turn")
        assert m["content"] == [{"type": "text", "text": text}] and m["usage"]["output_tokens"] == len(text.split())
    missing = _post(ollama.url + "/v1/messages", {"model": "nope", "messages": []})
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    assert httpx.get(ollama.url + "/v1/responses").status_code == 405  # POST only, as Ollama's router
    unexpected = httpx.get(lms.url + "/v1/messages")
    assert unexpected.status_code == 200 and "Unexpected endpoint" in unexpected.json()["error"]


def test_older_ollama_has_neither() -> None:
    with FakeOllamaServer([OllamaModel("llama3.2")], version="0.13.2") as srv:
        assert _post(srv.url + "/v1/responses", {"model": "llama3.2", "input": "x"}).status_code == 404
        assert _post(srv.url + "/v1/messages", {"model": "llama3.2", "messages": []}).status_code == 404


@pytest.mark.parametrize("configured", [True, False])
def test_fingerprints_are_not_mistaken(both: tuple[FakeOllamaServer, FakeLMStudioServer], configured: bool) -> None:
    ollama, lms = both
    settings = (LocalSettings(**FAST, ollama_url=ollama.url, lmstudio_url=lms.url) if configured
                else LocalSettings(**FAST, endpoints=f"{ollama.url},{lms.url}"))
    found = {s.base_url: s for s in ServiceDiscovery(settings).discover()}
    assert (found[ollama.url].kind, found[ollama.url].flavor, found[ollama.url].version) == (
        ProviderKind.OLLAMA, "ollama", "0.14.0")
    assert (found[lms.url].kind, found[lms.url].flavor) == (ProviderKind.LMSTUDIO, "lmstudio")
    assert not any(r.path in ("/v1/responses", "/v1/messages") for r in [*ollama.requests, *lms.requests])
    with LocalProvider(settings) as p:
        names = {(m.name, m.kind) for m in p.list_models()}
    assert names == {("llama3.2:latest", ProviderKind.OLLAMA), ("qwen/qwen3-8b", ProviderKind.LMSTUDIO)}


def test_an_lmstudio_with_authentication_on_is_still_lmstudio() -> None:
    with FakeLMStudioServer([LMStudioModel("qwen/qwen3-8b")], api_token="sk-lm-a:b") as lms:
        (found,) = ServiceDiscovery(LocalSettings(**FAST, endpoints=lms.url)).discover()
        assert (found.kind, found.flavor, found.healthy) == (ProviderKind.LMSTUDIO, "lmstudio", True)
        assert {r.headers.get("authorization") for r in lms.requests} == {None}

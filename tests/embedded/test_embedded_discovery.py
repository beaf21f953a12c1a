"""The embedded server as discovery sees it: found through its state file, its facts known exactly,
busy (not down) while it generates for someone else, and stale state files cleaned up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patinox_core import LocalProvider, LocalSettings
from patinox_core.cli import main
from patinox_core.discovery import ServiceDiscovery
from patinox_core.embedded.state import running_servers, state_path
from patinox_core.types import ChatRequest, Message
from patinox_langchain import PatinoxEmbeddings
from patinox_llamaindex import PatinoxEmbedding

from .fakes import EmbeddedLike, register, server_process


def settings(**kw) -> LocalSettings:
    return LocalSettings(**{"probe_timeout": 0.4, "max_retries": 0, **kw})


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("patinox_core.discovery.DEFAULT_TARGETS", ())  # only the state file, never real ports
    with EmbeddedLike() as srv, server_process() as proc:
        register(srv.url, proc.pid, tmp_path)
        yield srv


def test_found_through_its_state_file_with_server_facts(embedded: EmbeddedLike) -> None:
    with LocalProvider(settings()) as provider:
        provider.discovery.default_targets = ()
        services = provider.discovery.discover()
        assert [(s.base_url, s.flavor, s.healthy, s.busy) for s in services] == [
            (embedded.url, "llama_cpp_python", True, False)]
        chat, tools = provider.list_models()
    assert (chat.name, chat.context_length, chat.effective_context_length) == ("smollm2-135m", 8192, 4096)
    assert chat.capabilities.embeddings and not chat.capabilities.tools and tools.capabilities.tools
    assert chat.source["context_length"].name == "SERVER" and chat.source["embeddings"].name == "SERVER"
    assert (chat.family, chat.quantization, chat.size_bytes) == ("llama", "Q4_1", 1000)


def test_status_json_lists_the_embedded_models(embedded: EmbeddedLike, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["flavor"] for s in data["services"]] == ["llama_cpp_python"]
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["smollm2-135m"]["capabilities"] == ["chat", "completion", "embeddings", "structured_output"]
    assert by_name["smollm2-135m"]["effective_context_length"] == 4096
    assert by_name["smollm2-135m-tools"]["source"]["tools"] == "server"


def test_embeddings_without_a_model_name(embedded: EmbeddedLike) -> None:
    assert len(PatinoxEmbeddings().embed_documents(["a", "bb"])) == 2
    assert PatinoxEmbedding().get_text_embedding("abc") == [0.5, 3.0, 1.0]
    assert {r.json["model"] for r in embedded.requests if r.path == "/v1/embeddings"} == {"smollm2-135m"}


def test_busy_is_not_down(embedded: EmbeddedLike, capsys: pytest.CaptureFixture[str]) -> None:
    """While llama-cpp-python generates for one client it answers nothing else: a second client sees
    it busy, keeps it, uses the declared facts, and its request waits and succeeds."""
    embedded.delay_first_byte(1.5, path="/v1/models", times=None)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "busy" in out and "smollm2-135m" in out and "No model server found" not in out
    with LocalProvider(settings()) as provider:
        (service,) = provider.discovery.discover()
        assert (service.healthy, service.busy) == (True, True)
        reply = provider.chat(ChatRequest(model=None, messages=[Message(role="user", content="Capital of France?")]))
    assert reply.message.content == "Paris." and reply.service == embedded.url


def test_a_silent_unknown_default_port_is_still_dropped(tmp_path: Path) -> None:
    """Busy needs a reason to believe it is a model server (configured, seen before, or a state file)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        d = ServiceDiscovery(settings())
        d.default_targets = ((f"http://127.0.0.1:{sock.getsockname()[1]}", d.default_targets[0][1]),)
        assert d.discover() == []


def test_stale_state_file_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("patinox_core.discovery.DEFAULT_TARGETS", ())
    with server_process() as proc:
        state = register("http://127.0.0.1:9", proc.pid, tmp_path)
    assert state_path(state.port).exists()
    d = ServiceDiscovery(settings())
    d.default_targets = ()
    assert d.discover() == [] and not state_path(state.port).exists() and running_servers() == []


def test_a_process_that_is_not_the_server_does_not_count(tmp_path: Path) -> None:
    register("http://127.0.0.1:9", os.getpid(), tmp_path)  # pytest is alive, but it is no llama_cpp.server
    assert running_servers() == []


def test_state_files_are_ignored_without_default_discovery(embedded: EmbeddedLike) -> None:
    d = ServiceDiscovery(settings(discover_defaults=False))
    assert d.discover() == [] and not embedded.requests

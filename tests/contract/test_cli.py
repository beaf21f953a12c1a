"""`patinox status | models | chat` against real loopback fake servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from patinox_core.cli import main, table
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOllamaServer, FakeLMStudioServer]]:
    ollama_models = [OllamaModel("llama3.2", capabilities=["completion", "tools"], loaded=True,
                                 loaded_context_length=8192, reply="The sky is blue."),
                     OllamaModel("nomic-embed-text", capabilities=["embedding"], parameter_size="137M",
                                 context_length=2048)]
    with FakeOllamaServer(ollama_models) as ollama, FakeLMStudioServer([LMStudioModel("qwen/qwen3-8b",
                                                                                      tool_use=True)]) as lms:
        monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        monkeypatch.setenv("PATINOX_ENDPOINTS", lms.url)
        yield ollama, lms


@pytest.fixture
def nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_status_lists_servers_and_models(servers, capsys):
    ollama, lms = servers
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    servers_part, rest = out.split("\nModels\n")
    models_part, load_part = rest.split("\n\nLoad ")
    load_rows = {tuple(line.split()[:2]): line.split() for line in load_part.splitlines()[2:]}
    assert "SLOTS" in load_part.splitlines()[1] and "QUEUED" in load_part.splitlines()[1]
    assert load_rows[(ollama.url, "llama3.2:latest")][2:5] == ["4", "0", "0"]  # Ollama's default slots
    assert servers_part.startswith("Servers\n  KIND")
    for header in ("KIND", "URL", "VERSION", "HEALTH", "LATENCY"):
        assert header in servers_part
    ollama_row = next(line for line in servers_part.splitlines() if ollama.url in line)
    assert ollama_row.split()[:4] == ["ollama", ollama.url, "0.12.10", "ok"] and ollama_row.endswith(" ms")
    assert next(line for line in servers_part.splitlines() if lms.url in line).split()[:4] == [
        "lmstudio", lms.url, "-", "ok"]
    rows = {line.split()[0]: line.split() for line in models_part.splitlines()[1:]}
    assert rows["llama3.2:latest"] == ["llama3.2:latest", ollama.url, "yes", "8192/131072", "chat,tools,json",
                                       "small", "fast"]
    assert rows["nomic-embed-text:latest"][2:5] == ["no", "2048/2048", "embed"]
    assert rows["qwen/qwen3-8b"][1:4] == [lms.url, "yes", "4096/32768"]
    header = models_part.splitlines()[0]
    assert header.split()[0] == "NAME" and "CONTEXT (EFF/MAX)" in header and "CAPABILITIES" in header


def test_status_is_the_default_command(servers, capsys):
    code, out, _ = run(capsys)
    assert code == 0 and "Servers" in out and "llama3.2:latest" in out


def test_status_json(servers, capsys):
    ollama, lms = servers
    code, out, _ = run(capsys, "status", "--json", "--require")
    data = json.loads(out)
    assert code == 0 and [s["kind"] for s in data["services"]] == ["ollama", "lmstudio"]
    llama = next(m for m in data["models"] if m["name"] == "llama3.2:latest")
    assert (llama["effective_context_length"], llama["context_length"], llama["loaded"]) == (8192, 131072, True)
    assert llama["source"]["tools"] == "server" and data["looked_at"] == [ollama.url, lms.url]
    load = {(row["service"], row["model"]): row for row in data["load"]}
    assert load[(ollama.url, "llama3.2:latest")]["capacity"] == 4 and load[(lms.url, "qwen/qwen3-8b")]["queued"] == 0


def test_status_with_nothing_found_explains_what_to_do(nothing, capsys):
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    assert out.startswith("No model server found")
    for advice in ("ollama serve", "lms server start", "OLLAMA_HOST=host:11434", "PATINOX_ENDPOINTS=",
                   "LM_STUDIO_API_BASE="):
        assert advice in out
    assert run(capsys, "status", "--require")[0] == 3
    code, out, _ = run(capsys, "status", "--json", "--require")
    assert code == 3 and json.loads(out) == {"services": [], "models": [], "load": [], "notes": {},
                                            "looked_at": []}


def test_status_names_the_urls_it_tried_and_why_they_are_down(monkeypatch, capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    monkeypatch.setenv("OLLAMA_HOST", url)
    code, out, _ = run(capsys, "status")
    assert code == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("ollama"))
    assert row.split()[:4] == ["ollama", url, "-", "down"]
    assert f"{url}: cannot connect" in out and f"No model server found (looked at {url})" in out


def test_models(servers, capsys):
    code, out, _ = run(capsys, "models")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[0] == "NAME" and len(lines) == 4
    code, out, _ = run(capsys, "models", "--json")
    assert {m["name"] for m in json.loads(out)} == {"llama3.2:latest", "nomic-embed-text:latest", "qwen/qwen3-8b"}


def test_models_with_nothing_found(nothing, capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "ollama serve" in out


def test_chat_streams_to_stdout(servers, capsys):
    ollama, _ = servers
    code, out, err = run(capsys, "chat", "llama3.2", "what colour is the sky?")
    assert (code, out, err) == (0, "The sky is blue.\n", "")
    sent = next(r for r in ollama.requests if r.path == "/api/chat").json
    assert sent["stream"] is True and sent["messages"][-1]["content"] == "what colour is the sky?"
    code, out, _ = run(capsys, "chat", "qwen3-8b", "hi", "--system", "be brief", "--max-tokens", "3")
    assert code == 0 and out.endswith("\n") and out.strip()


def test_chat_auto_picks_the_best_model(servers, capsys):
    code, out, _ = run(capsys, "chat", "auto", "hi")
    assert code == 0 and out == "Hello from LM Studio.\n"


def test_errors_print_the_message_without_a_traceback(servers, capsys):
    code, out, err = run(capsys, "chat", "mistral", "hi")
    assert code == 1 and out == ""
    assert err.startswith("patinox: model 'mistral' is not on any server") and "ollama pull mistral" in err
    assert "Traceback" not in err


def test_an_error_mid_stream_keeps_the_partial_output(servers, capsys):
    ollama, _ = servers
    ollama.error_mid_stream(after=2)
    code, out, err = run(capsys, "chat", "llama3.2", "hi")
    assert code == 1 and out == "The sky \n" and err.startswith("patinox: ")


def test_bad_settings_are_reported(monkeypatch, capsys):
    monkeypatch.setenv("PATINOX_CONNECT_TIMEOUT", "soon")
    code, _, err = run(capsys, "status")
    assert code == 1 and "connect_timeout" in err and "PATINOX_CONNECT_TIMEOUT" in err


def test_the_module_runs_as_a_program(nothing):
    env = {**os.environ, "PATINOX_DISCOVER_DEFAULTS": "false"}
    done = subprocess.run([sys.executable, "-m", "patinox_core.cli", "status", "--require"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "No model server found" in done.stdout and done.stderr == ""


def test_table_alignment():
    assert table(["A", "LONG"], [["x", "1"], ["yyy", "22"]]).splitlines() == ["  A    LONG", "  x    1",
                                                                               "  yyy  22"]

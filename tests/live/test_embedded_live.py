"""Live tier: ``patinox serve`` as a new user meets it, on the real llama-cpp-python server.

From a machine with no model server: ``patinox quickstart`` starts the embedded server and prints a
real answer; ``patinox status --json`` then lists its models with server facts; ``patinox chat auto``
answers; embeddings work with no model name; a second process waits while the server is busy; the
three notebooks run every cell against it. Everything runs in subprocesses, as a user would, with a
private cache folder that shares only the built server (wheel, venv, models) with the real cache, so
state files never touch the user's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from live_server import REAL_CACHE, SETUP_COMMAND
from nbclient import NotebookClient

from patinox_core.embedded.server import free_port

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
PATINOX = str(Path(sys.executable).with_name("patinox"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A user's environment on a machine with no model server, and the set-up already done."""
    if _listening(11434) or _listening(1234):
        pytest.skip("a model server listens on 11434/1234: this test needs a machine without one")
    if not (REAL_CACHE / "venv-llm" / ".patinox-ready").exists():
        pytest.fail(f"the embedded server is not set up: run `{SETUP_COMMAND}` first", pytrace=False)
    cache = tmp_path_factory.mktemp("user-cache")
    for shared in ("wheels", "venv-llm", "models"):
        if (REAL_CACHE / shared).exists():
            (cache / shared).symlink_to(REAL_CACHE / shared)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PATINOX_", "OLLAMA_", "LM_STUDIO"))}
    env.update(PATINOX_CACHE_DIR=str(cache), XDG_CONFIG_HOME=str(tmp_path_factory.mktemp("xdg")))
    yield env
    subprocess.run([PATINOX, "serve", "stop"], env=env, capture_output=True, timeout=60, check=False)


def patinox(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PATINOX, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def started(user_env: dict[str, str]) -> dict[str, Any]:
    """``patinox quickstart`` from nothing: the README's main job."""
    port = free_port()
    t0 = time.monotonic()
    run = patinox(user_env, "quickstart", "--port", str(port))
    elapsed = time.monotonic() - t0
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    print(f"\nquickstart (warm cache, server start + first answer): {elapsed:.1f} s")
    return {"port": port, "url": f"http://127.0.0.1:{port}", "out": run.stdout, "err": run.stderr}


@pytest.mark.timeout(600)
def test_quickstart_from_nothing_ends_in_a_real_answer(started: dict[str, Any]) -> None:
    out = started["out"]
    assert "No model server found" in out and "patinox serve" in out
    answer = next(line for line in out.splitlines() if line.startswith("A ("))
    assert "smollm2-135m" in answer and len(answer.split("):", 1)[1].strip()) > 0
    assert "Paris" in answer  # SmolLM2-135M-Instruct at temperature 0: "The capital of France is Paris."
    assert "smollm2-135m-tools" in out and "patinox serve stop" in out


@pytest.mark.timeout(300)
def test_status_json_has_server_facts_and_chat_auto_answers(started: dict[str, Any], user_env: dict[str, str]) -> None:
    data = json.loads(patinox(user_env, "status", "--json").stdout)
    assert [s["base_url"] for s in data["services"]] == [started["url"]]
    models = {m["name"]: m for m in data["models"]}
    chat = models["smollm2-135m"]
    assert (chat["context_length"], chat["effective_context_length"]) == (8192, 4096)
    assert "embeddings" in chat["capabilities"] and "tools" in models["smollm2-135m-tools"]["capabilities"]
    assert chat["source"]["context_length"] == chat["source"]["embeddings"] == "server"
    reply = patinox(user_env, "chat", "auto", "What is the capital of France? Answer in one word.",
                    "--temperature", "0", "--max-tokens", "24")
    assert reply.returncode == 0 and reply.stdout.strip(), reply.stderr


@pytest.mark.timeout(300)
def test_embeddings_with_no_model_name(started: dict[str, Any], user_env: dict[str, str]) -> None:
    code = ("from patinox_langchain import PatinoxEmbeddings; from patinox_llamaindex import PatinoxEmbedding; "
            "a = PatinoxEmbeddings().embed_documents(['cats purr', 'Paris']); "
            "b = PatinoxEmbedding().get_text_embedding('whales'); print(len(a), len(a[0]), len(b))")
    run = subprocess.run([sys.executable, "-c", code], env=user_env, capture_output=True, text=True, timeout=240,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2", "576", "576"]  # SmolLM2-135M's hidden size, mean-pooled


@pytest.mark.timeout(400)
def test_a_second_process_waits_while_the_server_is_busy(started: dict[str, Any], user_env: dict[str, str]) -> None:
    """llama-cpp-python serves one request at a time and answers nothing meanwhile: status says busy,
    a second process's request waits and succeeds."""
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
            "max_tokens": 250, "temperature": 0}
    long = threading.Thread(target=lambda: httpx.post(f"{started['url']}/v1/chat/completions", json=body,
                                                      timeout=300, trust_env=False))
    long.start()
    try:
        time.sleep(1.0)  # the long request holds the server's lock now
        status = json.loads(patinox(user_env, "status", "--json").stdout)
        (service,) = status["services"]
        assert (service["healthy"], service["busy"]) == (True, True)
        code = ("from patinox_langchain import ChatPatinox; "
                "print(ChatPatinox(temperature=0, max_tokens=8).invoke('Say hi').content)")
        second = subprocess.run([sys.executable, "-c", code], env=user_env, capture_output=True, text=True,
                                timeout=300, check=False)
        assert second.returncode == 0 and second.stdout.strip(), second.stderr
    finally:
        long.join(300)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_every_cell(path: Path, started: dict[str, Any], user_env: dict[str, str],
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in user_env.items():  # the kernel inherits this process's environment
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("PATINOX_") and k not in user_env]:
        monkeypatch.delenv(key)
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=240, kernel_name="python3", startup_timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "no embedding model" not in text  # the embedding and RAG cells ran
    if path.stem == "langchain_quickstart":
        assert "3 vectors of 576 dimensions" in text and "tools model: smollm2-135m-tools" in text
    if path.stem == "llamaindex_rag":
        assert "smollm2-135m on" in text and "of a trained maximum of 8192" in text

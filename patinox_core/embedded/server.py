"""Start and stop the embedded llama-cpp-python server (``patinox serve``).

``start(models)`` sets up what is missing (``install.ensure_installed``), writes the server's
``--config_file``, starts ``python -m llama_cpp.server`` on 127.0.0.1 in its own process group,
waits (bounded) until ``/v1/models`` answers and records a state file so discovery, ``patinox
status`` and other processes find it. ``stop()`` ends it by PID and removes the state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError, EmbeddedServerError
from .gguf import inspect
from .install import SETUP_TIMEOUT_S, Installation, ensure_installed, installed, tail
from .paths import cache_dir
from .progress import Progress
from .recipes import DEFAULT_MODEL, RECIPES, ServedModel, served_file, served_recipe
from .state import ServerState, process_alive, remove_state, running_servers, write_state

DEFAULT_PORT = 11470  # patinox's own: not Ollama's 11434, LM Studio's 1234, llama-server's 8080 or vLLM's 8000
DEFAULT_HOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclass
class RunningServer:
    """A started server: its state, and the process handle when this process started it."""

    state: ServerState
    served: list[ServedModel]
    cache: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def chat_model(self) -> str:
        return self.served[0].name

    @property
    def tools_model(self) -> str:
        return self.served[0].tools_name

    def stop(self) -> None:
        stop_pid(self.state.pid)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_S)
        remove_state(self.state.port, self.cache)


def is_path(spec: str) -> bool:
    return spec.endswith(".gguf") or os.sep in spec or spec.startswith(("~", "."))


def recipe_keys(specs: Sequence[str]) -> list[str]:
    return [s for s in specs if not is_path(s)]


def served_models(specs: Sequence[str], install: Installation, n_ctx: int | None = None) -> list[ServedModel]:
    """Each spec (a built-in model key or a .gguf path) as the server will run it; names must differ."""
    out = [served_file(inspect(s), n_ctx) if is_path(s) else served_recipe(RECIPES[s], install.gguf(s), n_ctx)
           for s in specs]
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"two models would be served under one name: {names}",
                                 hint="rename one of the .gguf files")
    return out


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int, cache: Path) -> None:
    if not 0 < port < 65536:
        raise ConfigurationError(f"--port {port} is not a port number", hint="use 1-65535")
    if port_free(host, port):
        return
    ours = next((s for s in running_servers(cache) if s.port == port), None)
    if ours is not None:
        raise EmbeddedServerError(f"the embedded server already runs at {ours.base_url} (pid {ours.pid})",
                                  hint="use it as it is, stop it with `patinox serve stop`, or pick another --port")
    raise EmbeddedServerError(f"port {port} on {host} is taken by another program",
                              hint=f"pick a free one with `patinox serve --port N` (the default is {DEFAULT_PORT})")


def _http_json(url: str, body: dict[str, object] | None = None, timeout: float = 5.0) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``/v1/models`` until it answers, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = tail(log)
            why = "the port is taken" if "address already in use" in text.lower() else f"exit code {proc.returncode}"
            raise EmbeddedServerError(f"the model server stopped during start-up ({why}); log: {log}\n{text}",
                                      hint="read the log; `patinox serve --setup-only --reinstall` rebuilds it")
        with contextlib.suppress(OSError, ValueError):
            reply = _http_json(f"{base_url}/v1/models", timeout=2.0)
            if isinstance(reply, dict) and reply.get("data"):
                return
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise EmbeddedServerError(f"the model server did not answer within {timeout:.0f} s; stopped it; log: {log}",
                              hint="read the log; a slow disk or a large --model may need more time")


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, SIGKILL after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
            if not process_alive(pid):
                return
            time.sleep(0.1)


def prepare(models: Sequence[str] = (DEFAULT_MODEL,), *, cache: Path | None = None, progress: Progress | None = None,
            setup_timeout: float = SETUP_TIMEOUT_S, setup: bool = True) -> Installation:
    """The installation for ``models``: set up now (``setup=True``) or only what exists (else an error)."""
    cache = cache or cache_dir()
    files = [inspect(spec).path for spec in models if is_path(spec)]  # refuse a non-GGUF before any build
    keys = recipe_keys(models)
    if setup:
        return ensure_installed(keys, cache=cache, timeout=setup_timeout, progress=progress,
                                smoke_gguf=files[0] if files else None)
    found = installed(keys, cache)
    if found is None:
        raise EmbeddedServerError(f"the embedded server is not set up in {cache}",
                                  hint="run `patinox serve --setup-only` first (a one-time build of a few minutes)")
    return found


def start(models: Sequence[str] = (DEFAULT_MODEL,), *, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST,
          cache: Path | None = None, progress: Progress | None = None, register: bool = True,
          n_ctx: int | None = None, threads: int | None = None, setup: bool = True,
          setup_timeout: float = SETUP_TIMEOUT_S, ready_timeout: float = READY_TIMEOUT_S) -> RunningServer:
    """Start the server and return once it answers. ``register=False``: no state file (test servers
    that other processes must not find)."""
    cache = cache or cache_dir()
    progress = progress or Progress()
    if not models:
        raise ConfigurationError("no model to serve", hint=f"name one, e.g. --model {DEFAULT_MODEL}")
    check_port(host, port, cache)
    install = prepare(models, cache=cache, progress=progress, setup_timeout=setup_timeout, setup=setup)
    served = served_models(models, install, n_ctx)
    n_threads = threads or max(1, min(8, os.cpu_count() or 2))
    config = {"host": host, "port": port,
              "models": [e for m in served for e in m.config_entries(n_threads)]}
    run = cache / "run"
    run.mkdir(parents=True, exist_ok=True)
    config_path = run / f"server-{port}.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = cache / "logs" / f"server-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    shown = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown}:{port}"
    progress.say(f"starting the model server ({', '.join(m.name for m in served)}) at {base_url} …")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(install.python), "-m", "llama_cpp.server", "--config_file", str(config_path)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    try:
        wait_ready(base_url, proc, log, ready_timeout)
    except BaseException:
        stop_pid(proc.pid)
        raise
    state = ServerState(base_url=base_url, port=port, pid=proc.pid, started_at=time.time(), log=str(log),
                        models=[f for m in served for f in m.declared_facts()], python=str(install.python))
    if register:
        write_state(state, cache)
    return RunningServer(state, served, cache, proc)


def stop(port: int | None = None, *, cache: Path | None = None) -> list[ServerState]:
    """Stop the embedded server(s) (all, or the one on ``port``); returns what was stopped."""
    cache = cache or cache_dir()
    targets = [s for s in running_servers(cache) if port is None or s.port == port]
    for state in targets:
        stop_pid(state.pid)
        remove_state(state.port, cache)
    return targets


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "RunningServer", "free_port", "prepare", "start", "stop"]

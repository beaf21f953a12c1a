"""State files of running embedded servers (``<cache>/servers/<port>.json``): how later commands and
other processes find them, and the facts patinox declared for their models.

Reading is cheap and side-effect free except for one thing: a state file whose process is gone is
removed (a crashed or killed server must not be "found" forever).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from ..facts import ServerFacts
from .paths import servers_dir

_SERVER_MODULE = "llama_cpp.server"


@dataclass(frozen=True)
class ServerState:
    """One embedded server as written by ``patinox serve``."""

    base_url: str
    port: int
    pid: int
    started_at: float
    log: str
    models: list[ServerFacts] = field(default_factory=list)  # declared facts, one per alias
    python: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ServerState | None:
        try:
            return cls(base_url=str(data["base_url"]), port=int(data["port"]), pid=int(data["pid"]),
                       started_at=float(data["started_at"]), log=str(data.get("log", "")),
                       models=[cast(ServerFacts, m) for m in data.get("models", [])
                               if isinstance(m, dict) and m.get("name")],
                       python=str(data.get("python", "")))
        except (KeyError, TypeError, ValueError):
            return None


def process_alive(pid: int) -> bool:
    """True when ``pid`` runs and (where /proc tells) is a llama_cpp.server."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not sys.platform.startswith("linux") or not proc.exists():
        return True
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            return False  # exited, not yet reaped
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return False
    return not cmdline or _SERVER_MODULE in cmdline  # empty while a new process execs: cannot tell yet


def state_path(port: int, cache: Path | None = None) -> Path:
    return servers_dir(cache) / f"{port}.json"


def write_state(state: ServerState, cache: Path | None = None) -> Path:
    """Atomically (write + rename), so a reader never sees half a file."""
    path = state_path(state.port, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2))
    os.replace(tmp, path)
    return path


def remove_state(port: int, cache: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        state_path(port, cache).unlink()


def running_servers(cache: Path | None = None) -> list[ServerState]:
    """Every embedded server whose process is alive, by port; stale files are removed."""
    folder = servers_dir(cache)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            state = ServerState.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            state = None
        if state is None or not process_alive(state.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        out.append(state)
    return out


def declared_facts(base_url: str, cache: Path | None = None) -> list[ServerFacts]:
    """The facts patinox wrote for the embedded server at ``base_url`` ([] for any other server)."""
    url = base_url.rstrip("/")
    for state in running_servers(cache):
        if state.base_url.rstrip("/") == url:
            return [dict(m) for m in state.models]  # type: ignore[misc]
    return []


def overlay(reported: list[ServerFacts], declared: list[ServerFacts]) -> list[ServerFacts]:
    """The server's list with patinox's declared facts laid over it, name by name (declared facts win:
    patinox wrote the server's configuration). Models the server did not list are not added.

    >>> overlay([{"name": "a"}, {"name": "b"}], [{"name": "a", "context_length": 8192}, {"name": "z"}])
    [{'name': 'a', 'context_length': 8192}, {'name': 'b'}]
    """
    by_name = {d["name"]: d for d in declared if d.get("name")}
    return [{**f, **by_name.get(f.get("name", ""), {})} for f in reported]


__all__ = ["ServerState", "declared_facts", "overlay", "process_alive", "remove_state", "running_servers", "state_path",
           "write_state"]

"""Where the embedded server keeps its files: the user cache, never the working directory.

``$PATINOX_CACHE_DIR``, else ``$XDG_CACHE_HOME/patinox``, else ``~/.cache/patinox``::

    wheels/       the portable llama-cpp-python wheel, built once
    venv-llm/     the server's own virtualenv (wheel[server] + model packages), ``.patinox-ready`` when complete
    models/       GGUF files patinox assembled (Gemma 3 270M)
    servers/      one state file per running server (``<port>.json``): how other processes find it
    run/          the server's config files
    logs/         build.log, install.log, server-<port>.log
    tmp/          work in progress; wiped at the start of every set-up, so an interrupted run leaves nothing
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root (created on first use by the caller, not here)."""
    explicit = os.environ.get("PATINOX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "patinox"


def servers_dir(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "servers"


__all__ = ["cache_dir", "servers_dir"]

"""Shared fixtures: a clean environment for every test, loopback-only networking."""

from __future__ import annotations

import os

import pytest
from live_server import live_server  # noqa: F401

_SCRUB_PREFIXES = ("OLLAMA_", "LM_STUDIO_", "LMSTUDIO_", "PATINOX_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No user config leaks into tests: scrub server env vars, point XDG config at an empty dir and the
    patinox cache at an empty one (so a user's running ``patinox serve`` is never discovered)."""
    for key in list(os.environ):
        if key.upper().startswith(_SCRUB_PREFIXES) or key.upper() in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("PATINOX_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))

"""The live tier's real model server, started from what ``patinox serve --setup-only`` produced.

One llama-cpp-python server (``patinox_core.embedded``, the same code as ``patinox serve``) on a free
loopback port, serving Gemma 3 270M (``gemma3-270m``, ``gemma3-270m-tools``: what the cassettes were
recorded from) and SmolLM2-135M-Instruct (``smollm2-135m``, ``smollm2-135m-tools``: what ``patinox
serve`` gives users). Nothing is built here: set-up is its own bounded step (``.ci/run`` runs
``patinox serve --setup-only --model gemma3-270m --model smollm2`` before ``pytest -m live``), so a
build never runs inside a test's timeout. The server is not registered (no state file: other
processes must not find a test server) and is stopped by PID at session end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patinox_core.embedded import free_port, start
from patinox_core.embedded.paths import cache_dir
from patinox_core.embedded.progress import Progress
from patinox_core.errors import LocalProviderError

MODELS = ("gemma3-270m", "smollm2")
SETUP_COMMAND = "patinox serve --setup-only --model gemma3-270m --model smollm2"
# Read at import: tests/conftest.py points PATINOX_CACHE_DIR at an empty folder for every test.
REAL_CACHE = cache_dir()


@dataclass(frozen=True)
class LiveServer:
    """A running llama-cpp-python server: where it is and what it serves."""

    base_url: str
    pid: int
    chat_model: str  # gemma3-270m
    tools_model: str  # gemma3-270m-tools
    smol_model: str  # smollm2-135m
    smol_tools_model: str  # smollm2-135m-tools
    log_path: Path
    setup_s: float  # seconds spent starting (reported by the timing test)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """A real OpenAI-compatible model server for ``pytest -m live`` (see the module docstring)."""
    t0 = time.monotonic()
    try:
        server = start(MODELS, port=free_port(), cache=REAL_CACHE, register=False, setup=False,
                       progress=Progress(quiet=True))
    except LocalProviderError as exc:
        pytest.fail(f"live server start failed: {exc}\n(set-up is a separate step: `{SETUP_COMMAND}`)",
                    pytrace=False)
    try:
        gemma, smol = server.served
        yield LiveServer(server.base_url, server.state.pid, gemma.name, gemma.tools_name, smol.name, smol.tools_name,
                         Path(server.state.log), time.monotonic() - t0)
    finally:
        server.stop()

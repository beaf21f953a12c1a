"""pytest plugin (entry point ``pytest11``): patinox test servers as fixtures for your own tests.

* ``patinox_fake_ollama`` / ``patinox_fake_lmstudio`` (session): the fake servers of
  ``patinox_core.testing`` with their default models, on free loopback ports.
* ``patinox_server`` (session): a real model server (``patinox serve``'s llama-cpp-python and
  SmolLM2-135M-Instruct, or ``--patinox-model``) on a free loopback port, stopped at the end. It
  starts from what set-up produced; set-up is a one-time build that never runs inside a test:
  ``patinox serve --setup-only`` beforehand, or ``pytest --patinox-setup`` (runs it before the first
  test, with progress). When the machine cannot build it (no compiler), or it is not set up, the
  tests that use it are skipped with the reason.

Imports are lazy: loading the plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

_SETUP_ERROR: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("patinox")
    group.addoption("--patinox-setup", action="store_true",
                    help="build/install the embedded model server before the tests (one time, minutes)")
    group.addoption("--patinox-model", action="append", default=None,
                    help="model(s) for the patinox_server fixture: a built-in name or a .gguf path (default smollm2)")


def _models(config: pytest.Config) -> list[str]:
    return config.getoption("--patinox-model") or ["smollm2"]


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not config.getoption("--patinox-setup", default=False):
        return
    from patinox_core.embedded.install import ensure_installed
    from patinox_core.embedded.server import recipe_keys
    from patinox_core.errors import LocalProviderError

    try:
        ensure_installed(recipe_keys(_models(config)))
    except LocalProviderError as err:  # reported by the fixture as the skip reason
        _SETUP_ERROR["reason"] = str(err)


@pytest.fixture(scope="session")
def patinox_fake_ollama() -> Iterator[Any]:
    """A ``FakeOllamaServer`` (llama3.2, qwen3, nomic-embed-text) for the whole session."""
    from patinox_core.testing import FakeOllamaServer

    with FakeOllamaServer() as server:
        yield server


@pytest.fixture(scope="session")
def patinox_fake_lmstudio() -> Iterator[Any]:
    """A ``FakeLMStudioServer`` with its default models for the whole session."""
    from patinox_core.testing import FakeLMStudioServer

    with FakeLMStudioServer() as server:
        yield server


@pytest.fixture(scope="session")
def patinox_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A real embedded model server (``RunningServer``: ``.base_url``, ``.chat_model``, ``.tools_model``)."""
    if "reason" in _SETUP_ERROR:
        pytest.skip(f"patinox embedded server: set-up failed: {_SETUP_ERROR['reason']}")
    from patinox_core.embedded.progress import Progress
    from patinox_core.embedded.server import free_port, start
    from patinox_core.errors import EmbeddedServerError, LocalProviderError

    try:
        server = start(_models(request.config), port=free_port(), register=False, setup=False,
                       progress=Progress(quiet=True))
    except EmbeddedServerError as err:
        if "not set up" in err.message:
            pytest.skip(f"patinox embedded server: {err}; or run pytest with --patinox-setup")
        raise
    except LocalProviderError:
        raise
    try:
        yield server
    finally:
        server.stop()

"""Test doubles for patinox and for your own tests (public API).

* ``FakeOllamaServer`` / ``FakeLMStudioServer``: real HTTP servers on 127.0.0.1 that speak each
  server's wire format, scriptable per model, with fault injection (see docs/testing.md).
* ``FakeOpenAIServer`` (models: ``OpenAIModel``): a plain OpenAI-compatible one, the base of the
  fakes of other engines: ``FakeSGLangServer``, ``FakeTGIServer``.
* ``ScriptedBackend`` / ``FunctionBackend``: in-process backends for router and adapter tests.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .fakes._http import FakeHTTPServer, FakeRequest, Fault, Reply, StreamReply

_LAZY = {
    "FakeOllamaServer": "patinox_core.fakes.ollama",
    "OllamaModel": "patinox_core.fakes.ollama",
    "FakeLMStudioServer": "patinox_core.fakes.lmstudio",
    "LMStudioModel": "patinox_core.fakes.lmstudio",
    "FakeOpenAIServer": "patinox_core.fakes.openai_compat",
    "OpenAIModel": "patinox_core.fakes.openai_compat",
    "FakeSGLangServer": "patinox_core.fakes.sglang",
    "FakeTGIServer": "patinox_core.fakes.tgi",
    "ScriptedBackend": "patinox_core.fakes.scripted",
    "FunctionBackend": "patinox_core.fakes.scripted",
    "MidStreamError": "patinox_core.fakes.scripted",
}

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["Fault", "FakeHTTPServer", "FakeRequest", "Reply", "StreamReply", *_LAZY]

"""Test doubles for patinox and for your own tests (public API).

* ``FakeOllamaServer`` / ``FakeLMStudioServer``: real HTTP servers on 127.0.0.1 that speak each
  server's wire format, scriptable per model, with fault injection (see docs/testing.md).
* ``FakeOpenAIServer`` (models: ``OpenAIModel``): a plain OpenAI-compatible one, the base of the
  fakes of other engines: ``FakeSGLangServer``, ``FakeTGIServer``.
* ``FakeLlamaServer`` / ``FakeVLLMServer`` / ``FakeLiteLLMProxy``: engines and a gateway with
  ``slots`` parallel slots, a queue, and refusal (503 / 429 + ``Retry-After``) past ``queue_limit``;
  they count every request (``stats()``) for load-balancing tests and benchmarks;
  ``FakeLlamaRouter``: llama-server in router mode (several models, each loaded or not).
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
    "FakeLlamaServer": "patinox_core.fakes.llama_server",
    "FakeLlamaRouter": "patinox_core.fakes.llama_server",
    "FakeVLLMServer": "patinox_core.fakes.vllm",
    "FakeLiteLLMProxy": "patinox_core.fakes.litellm_proxy",
    "GatewayModel": "patinox_core.fakes.litellm_proxy",
    "SlotPool": "patinox_core.fakes.slots",
    "SlotServer": "patinox_core.fakes.slots",
}

__test__: dict[str, object] = {}  # falsy: not a test module for pytest; a dict, as doctest requires


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["Fault", "FakeHTTPServer", "FakeRequest", "Reply", "StreamReply", *_LAZY]

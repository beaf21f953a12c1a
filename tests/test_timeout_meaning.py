"""Issue 16 item 2: ``timeout=`` means one thing in both adapters: the request timeout (the read
timeout of a reply from a loaded model); a model that must load first gets
``max(timeout, cold_load_timeout)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from patinox_core import LocalProvider, LocalSettings
from patinox_core.errors import RequestTimeoutError
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, Fault, LMStudioModel, OllamaModel
from patinox_core.timeouts import read_timeout
from patinox_langchain import ChatPatinox
from patinox_llamaindex import Patinox

COLD, WARM = "llava", "llama3.2"
CHAT = "/api/v0/chat/completions"  # the fake LM Studio chats through its REST API


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    models = [OllamaModel(WARM, reply="warm", loaded=True), OllamaModel(COLD, reply="cold", loaded=False)]
    with FakeOllamaServer(models) as srv:
        yield srv


def _lc(url: str, model: str, timeout: float) -> Callable[[], str]:
    llm = ChatPatinox(model=model, base_url=url, provider="ollama", timeout=timeout, max_retries=0)
    llm.resolve()  # the catalogue learns which model is loaded
    return lambda: str(llm.invoke("hi").content)


def _li(url: str, model: str, timeout: float) -> Callable[[], str]:
    llm = Patinox(model=model, base_url=url, provider="ollama", timeout=timeout, max_retries=0)
    llm.resolve()
    return lambda: llm.complete("hi").text


@pytest.mark.parametrize("adapter", [_lc, _li])
def test_a_short_timeout_never_cuts_a_cold_load(server: FakeOllamaServer, adapter) -> None:
    ask = adapter(server.url, COLD, 0.3)
    server.inject(Fault(path="/api/chat", delay=0.8))  # 0.8 s > 0.3 s, but the model had to load
    assert ask() == "cold"


@pytest.mark.parametrize("adapter", [_lc, _li])
def test_a_short_timeout_bounds_a_loaded_model(server: FakeOllamaServer, adapter) -> None:
    ask = adapter(server.url, WARM, 0.3)
    server.inject(Fault(path="/api/chat", delay=0.8))
    with pytest.raises(RequestTimeoutError):
        ask()


def test_a_timeout_longer_than_the_cold_load_timeout_also_covers_a_load(server: FakeOllamaServer) -> None:
    local = LocalProvider(LocalSettings(endpoints=[{"url": server.url, "kind": "ollama"}], discover_defaults=False,
                                        cold_load_timeout=0.2, max_retries=0))
    llm = ChatPatinox(model=COLD, client=local, timeout=2.0)
    llm.resolve()
    server.inject(Fault(path="/api/chat", delay=0.6))
    assert llm.invoke("hi").content == "cold"  # max(2.0, 0.2): the request's own timeout


def test_openai_compatible_servers_follow_the_same_rule() -> None:
    models = [LMStudioModel("warm-model", reply="warm"), LMStudioModel("cold-model", reply="cold", loaded=False)]
    with FakeLMStudioServer(models) as srv:
        local = LocalProvider(LocalSettings(endpoints=[{"url": srv.url, "kind": "lmstudio"}],
                                            discover_defaults=False, max_retries=0))
        cold, warm = (ChatPatinox(model=m, client=local, timeout=0.3) for m in ("cold-model", "warm-model"))
        cold.resolve()
        srv.inject(Fault(path=CHAT, delay=0.8))
        assert cold.invoke("hi").content == "cold"
        srv.inject(Fault(path=CHAT, delay=0.8))
        with pytest.raises(RequestTimeoutError):
            warm.invoke("hi")


def test_the_rule() -> None:
    s = LocalSettings(read_timeout=120, cold_load_timeout=600)
    assert read_timeout(s, "normal", 0.3) == 0.3 and read_timeout(s, "normal", None) is None
    assert read_timeout(s, "cold", 0.3) == 600 and read_timeout(s, "cold", 900) == 900
    assert read_timeout(s, "cold", None) == 600 and read_timeout(s, "probe", None) is None
    assert read_timeout(LocalSettings(read_timeout=900, cold_load_timeout=600), "cold", None) == 900

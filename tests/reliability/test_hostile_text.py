"""Issue 14, items 6, 10 and 11: server text in errors and logs is escaped and capped (the whole
reply kept on ``.body``), a redirect says where it points, the router's final error pickles."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from patinox_core import ChatRequest, LocalProvider, LocalProviderError, LocalSettings, Message
from patinox_core.backends.ollama import OllamaBackend
from patinox_core.catalogue import known_loaded
from patinox_core.errors import InvalidResponseError, ModelNotFoundError, ServerError
from patinox_core.testing import FakeOllamaServer, Fault, OllamaModel, Reply
from patinox_core.transport import Transport

from .hostile import HostileServer, complete

#: a terminal attack: clear screen, set the window title, write the clipboard (OSC 52), bell, forged line
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07\r\nFAKE LOG LINE"
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\n")


def _settings(*urls: str, **kw: Any) -> LocalSettings:
    return LocalSettings(endpoints=",".join(urls), discover_defaults=False, max_retries=0, connect_timeout=0.5,
                         read_timeout=3.0, cold_load_timeout=3.0, **kw)


def _clean(text: str) -> None:
    for ch in RAW_CONTROLS:
        assert ch not in text, f"raw {ch!r} in {text[:300]!r}"


def _ask(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "hi")])


def _calls(backend: OllamaBackend, model: str) -> dict[str, Callable[[], Any]]:
    async def astream() -> list[Any]:
        return [c async for c in backend.astream_chat(_ask(model))]

    return {"chat": lambda: backend.chat(_ask(model)), "achat": lambda: asyncio.run(backend.achat(_ask(model))),
            "stream": lambda: list(backend.stream_chat(_ask(model))), "astream": lambda: asyncio.run(astream())}


@pytest.mark.parametrize("op", ["chat", "achat", "stream", "astream"])
@pytest.mark.parametrize("shape", ["status_500", "http_200_error", "mid_stream"])
@pytest.mark.parametrize("size", ["short", "100kb"])
def test_server_text_in_errors_is_escaped_and_capped(size: str, shape: str, op: str) -> None:
    message = HOSTILE + ("x" * 100_000 if size == "100kb" else "")
    with FakeOllamaServer() as server:
        backend = OllamaBackend(server.url, Transport(_settings(server.url)))
        if shape == "status_500":
            server.fail_next(500, message, times=None)
        elif shape == "http_200_error":
            server.inject(Fault(path="/api/chat", times=None, reply=Reply(200, {"error": message})))
        else:
            server.error_mid_stream(1, message) if "stream" in op else server.fail_next(500, message, times=None)
        with pytest.raises(LocalProviderError) as caught:
            _calls(backend, "llama3.2")[op]()
    err = caught.value
    _clean(str(err)), _clean(repr(err))
    assert len(str(err)) < 5000, len(str(err))
    assert "\\x1b" in str(err) or "\\u001b" in str(err), "the escape is shown, escaped"
    kept = _texts(err.body)
    if size == "100kb" and (shape == "status_500" or (shape == "mid_stream" and "stream" not in op)):
        assert any(HOSTILE in t or json.dumps(HOSTILE)[1:-1] in t for t in kept), "an error reply's first 4 KiB"
    else:
        assert message in kept, "the whole reply is kept on .body"


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def test_model_names_in_not_found_hints_are_escaped() -> None:
    models = [OllamaModel("llama3.2"), OllamaModel(f"evil{HOSTILE}".replace(":", ""))]
    with FakeOllamaServer(models) as server, LocalProvider(_settings(server.url)) as provider, \
            pytest.raises(ModelNotFoundError) as caught:
        provider.chat(_ask("zz-unknown"))  # no close match: the hint lists the installed models
    assert "installed" in str(caught.value) and "evil" in str(caught.value)
    _clean(str(caught.value))


@pytest.mark.parametrize("extra", [0, 3500])
def test_the_cooling_down_warning_is_escaped_and_capped(extra: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="patinox")
    with FakeOllamaServer() as server, LocalProvider(_settings(server.url)) as provider:
        provider.list_models()
        message = HOSTILE + "y" * extra  # within the 4 KiB of an error reply that are read
        server.inject(Fault(path="/api/chat", times=None, reply=Reply(500, {"error": message})))
        with pytest.raises(ServerError):
            provider.chat(_ask("llama3.2"))
    records = [r.getMessage() for r in caplog.records if "cooling down" in r.getMessage()]
    assert records, caplog.text
    for text in records:
        _clean(text)
        assert len(text) < 3300, len(text)


@pytest.mark.parametrize("op", ["chat", "achat", "stream", "astream"])
def test_a_redirect_says_it_was_one_and_where_to(op: str) -> None:
    redirect = complete(b"", "307 Temporary Redirect", headers={"Location": "http://10.9.9.9:8080/api/chat"})
    with HostileServer({"/api/chat": redirect}) as server:
        backend = OllamaBackend(server.url, Transport(_settings(server.url)))
        backend.load_state = known_loaded(backend.base_url, backend.kind, ["m"])
        with pytest.raises(InvalidResponseError) as caught:
            _calls(backend, "m")[op]()
    text = str(caught.value)
    assert "redirect" in text and "307" in text and "http://10.9.9.9:8080/api/chat" in text, text
    assert "JSONDecodeError" not in text and "zero-length" not in text


def test_the_routers_final_error_pickles() -> None:
    """Two servers hold the model and both fail: the router's error carries both attempts, itself among them."""
    with FakeOllamaServer() as a, FakeOllamaServer() as b, LocalProvider(_settings(a.url, b.url)) as provider:
        provider.list_models()
        a.fail_next(500, "boom", times=None)
        b.fail_next(500, "crashed", times=None)
        with pytest.raises(LocalProviderError) as caught:
            provider.chat(_ask("llama3.2"))
    err = caught.value
    assert len(err.attempts) == 2 and any(a is err for a in err.attempts), "the shape the router produces"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and back.recovery is err.recovery
    assert len(back.attempts) == 2 and any(a is back for a in back.attempts)

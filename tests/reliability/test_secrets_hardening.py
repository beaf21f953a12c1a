"""Issue 14, item 7: API keys are validated without being shown, known secrets are redacted from any
text patinox produces (even when a server echoes them), no cookie crosses from one server to another
(sync and async alike), and the key never goes to an unconfigured default port during discovery."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Iterator

import pytest

from patinox_core import ChatRequest, LocalProvider, LocalProviderError, LocalSettings, Message
from patinox_core.cli import main
from patinox_core.discovery import ServiceDiscovery
from patinox_core.errors import ConfigurationError
from patinox_core.testing import FakeOllamaServer, Fault, Reply

KEY = "sk-hardening-0123456789abcdef"


def _shown(err: BaseException) -> str:
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        yield server


def _settings(url: str, key: str, **kw) -> LocalSettings:
    return LocalSettings(ollama_url=url, api_key=key, discover_defaults=False, max_retries=0, connect_timeout=0.5,
                         read_timeout=3.0, cold_load_timeout=3.0, **kw)


def test_a_key_read_from_a_file_with_its_newline_works(ollama: FakeOllamaServer, tmp_path, capsys,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    key = (tmp_path / "key").read_text()
    with LocalProvider(_settings(ollama.url, key)) as provider:
        assert all(s.healthy and not s.error for s in provider.health())
        assert provider.chat(ChatRequest(model="llama3.2", messages=[Message("user", "hi")])).message.content
    assert {r.headers.get("authorization") for r in ollama.requests} == {f"Bearer {KEY}"}
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("PATINOX_API_KEY", key)
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    for argv in (["status"], ["status", "--json"]):
        assert main(argv) == 0
        out = capsys.readouterr()
        assert KEY not in out.out + out.err and "Illegal header" not in out.out
        assert "down" not in out.out or argv[-1] == "--json"


BAD_KEYS = [KEY + "\r\nX-Injected: 1", KEY[:10] + "\n" + KEY[10:], KEY + "é€", "sk-\x00-nul" + KEY]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_that_cannot_be_a_header_is_a_configuration_error_that_hides_it(
        key: str, ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _settings(ollama.url, key)
    assert "api_key" in str(caught.value)
    assert KEY[4:] not in _shown(caught.value) and key not in _shown(caught.value)
    if "\x00" in key:
        return  # the environment cannot hold a NUL
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("PATINOX_API_KEY", key)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "api_key" in err and "PATINOX_API_KEY" in err and KEY[4:] not in err and "start Ollama" not in err
    assert not ollama.requests, "nothing is sent with a bad key"


def test_an_empty_key_means_no_key(ollama: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_API_KEY", "  \n")
    assert LocalSettings().api_key is None and _settings(ollama.url, "").api_key is None


def test_a_key_echoed_by_the_server_is_redacted(ollama: FakeOllamaServer) -> None:
    ollama.inject(Fault(path="/api/chat", times=None, reply=Reply(401, {"error": f"invalid key {KEY!r} for user"})))
    with LocalProvider(_settings(ollama.url, KEY)) as provider:
        for call in (lambda r: provider.chat(r), lambda r: asyncio.run(provider.achat(r))):
            with pytest.raises(ConfigurationError) as caught:
                call(ChatRequest(model="llama3.2", messages=[Message("user", "hi")]))
            assert KEY not in _shown(caught.value), _shown(caught.value)[:500]
            assert "***" in str(caught.value)


def test_no_cookie_crosses_from_one_server_to_another() -> None:
    """Server A sets a cookie; nothing patinox sends to B (another port, same host) or to A again
    carries it, on the sync and the async path (one behaviour: patinox keeps no cookies)."""
    cookie = Reply(200, {"version": "0.12.10"}, headers={"Set-Cookie": "session=stolen; Path=/"})
    with FakeOllamaServer() as a, FakeOllamaServer() as b:
        a.inject(Fault(path="/api/version", times=None, reply=cookie))
        settings = LocalSettings(endpoints=f"ollama={a.url},ollama={b.url}", discover_defaults=False)
        with LocalProvider(settings) as provider:
            request = ChatRequest(model="llama3.2", messages=[Message("user", "hi")])
            provider.discovery.discover(refresh=True)
            provider.chat(request)
            asyncio.run(provider.achat(request))
            provider.discovery.discover(refresh=True)
            asyncio.run(provider.discovery.adiscover(refresh=True))
            provider.embed(["x"], "nomic-embed-text")
        assert any(r.path == "/api/version" for r in a.requests)
        sent = [r.headers.get("cookie") for r in a.requests + b.requests]
        assert not any(sent), sent


def test_discovery_does_not_send_the_key_to_unconfigured_default_ports() -> None:
    with FakeOllamaServer() as default, FakeOllamaServer() as named:
        settings = LocalSettings(ollama_url=named.url, api_key=KEY, discover_defaults=True)
        discovery = ServiceDiscovery(settings)
        discovery.default_targets = ((default.url, discovery.default_targets[0][1]),)
        try:
            found = discovery.discover(refresh=True)
            asyncio.run(discovery.adiscover(refresh=True))
        finally:
            discovery.close()
        with LocalProvider(settings, discovery=discovery) as provider:
            provider.list_models()
    assert {s.base_url for s in found if s.healthy} == {default.url, named.url}
    assert default.requests and not any(r.headers.get("authorization") for r in default.requests)
    assert {r.headers.get("authorization") for r in named.requests} == {f"Bearer {KEY}"}


def test_status_json_never_shows_the_key(ollama: FakeOllamaServer, monkeypatch, capsys) -> None:
    ollama.inject(Fault(path="/api/tags", times=None, reply=Reply(500, {"error": f"bad key {KEY}"})))
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("PATINOX_API_KEY", KEY)
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    main(["status", "--json"])
    out = capsys.readouterr()
    assert KEY not in out.out + out.err
    json.loads(out.out)
    with pytest.raises(LocalProviderError) as caught, LocalProvider(_settings(ollama.url, KEY)) as provider:
        provider.list_models(refresh=True) or provider.chat(ChatRequest(model="zz", messages=[Message("user", "x")]))
    assert KEY not in _shown(caught.value)

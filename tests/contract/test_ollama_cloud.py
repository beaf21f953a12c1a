"""Ollama cloud models against the fake: flagged remote in the catalogue, ``OLLAMA_API_KEY`` sent as a
Bearer token to the Ollama URL the user configured (and nowhere else), and a 401 with ``signin_url``
turned into an ``AuthenticationError`` that says to sign in."""

from __future__ import annotations

import pytest

from patinox_core import AuthenticationError, ChatRequest, ConfigurationError, LocalProvider, LocalSettings, Message
from patinox_core.testing import FakeOllamaServer, OllamaModel

KEY = "ollama-test-key-1234567890"


def cloud_fake(version: str = "0.30.0") -> FakeOllamaServer:
    return FakeOllamaServer([
        OllamaModel("llama3.2", capabilities=["completion", "tools"]),
        OllamaModel("kimi-k2.6:cloud", capabilities=["completion", "tools", "thinking"], size=340,
                    remote_host="https://ollama.com:443", reply="From the cloud."),
    ], version=version)


def ask(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content="hi")])


@pytest.mark.parametrize("version", ["0.30.0", "0.12.10"])
def test_a_cloud_model_is_flagged_remote(version):
    with cloud_fake(version) as server, LocalProvider(LocalSettings(ollama_url=server.url,
                                                                    discover_defaults=False)) as p:
        models = {m.name: m for m in p.list_models()}
    assert models["kimi-k2.6:cloud"].remote and not models["llama3.2:latest"].remote
    assert models["kimi-k2.6:cloud"].to_dict()["remote"] is True


def test_a_cloud_name_alone_is_flagged_by_the_name_rule():
    server = FakeOllamaServer([OllamaModel("gpt-oss:120b-cloud")])  # no remote_host in the listing
    with server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False)) as p:
        info = p.get_model("gpt-oss:120b-cloud")
    assert info.remote and info.source["remote"].name == "HEURISTIC"


def test_ollama_api_key_goes_as_bearer_to_the_configured_ollama_only(monkeypatch):
    with cloud_fake() as server, FakeOllamaServer([OllamaModel("phi4")]) as other:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        monkeypatch.setenv("OLLAMA_API_KEY", KEY)
        settings = LocalSettings(endpoints=[{"url": other.url, "kind": "openai_compatible"}], discover_defaults=False)
        with LocalProvider(settings) as p:
            assert p.chat(ask("kimi-k2.6:cloud")).message.content == "From the cloud."
            p.list_models()
        chat = next(r for r in server.requests if r.path == "/api/chat")
        assert chat.headers.get("authorization") == f"Bearer {KEY}"
        assert all("authorization" not in r.headers for r in other.requests)
        assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def test_no_key_no_header():
    with cloud_fake() as server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False)) as p:
        p.chat(ask("llama3.2"))
    assert all("authorization" not in r.headers for r in server.requests)


def test_a_401_with_signin_url_says_to_sign_in():
    with cloud_fake() as server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False,
                                                             max_retries=0)) as p:
        server.signin_url = "https://ollama.com/connect?name=box&key=c3NoLWVk"
        with pytest.raises(AuthenticationError) as err:
            p.chat(ask("kimi-k2.6:cloud"))
        assert p.chat(ask("llama3.2")).message.content  # local models are not affected
    message = str(err.value)
    assert "ollama signin" in message and "https://ollama.com/connect?name=box&key=c3NoLWVk" in message
    assert isinstance(err.value, ConfigurationError) and err.value.status_code == 401


def test_a_hostile_signin_url_is_escaped_and_capped():
    with cloud_fake() as server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False,
                                                             max_retries=0)) as p:
        server.signin_url = "https://evil.example/\x1b]52;c;bad\x07" + "x" * 1000
        with pytest.raises(AuthenticationError) as err:
            p.chat(ask("kimi-k2.6:cloud"))
    message = str(err.value)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b" in message
    assert "ollama signin" in message and len(message) < 1500 and "more characters" in message


def test_cloud_turned_off_says_so():
    with cloud_fake() as server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False,
                                                             max_retries=0)) as p:
        server.fail_with(403, {"error": "remote inference is unavailable for this server"}, path="/api/chat")
        with pytest.raises(ConfigurationError) as err:
            p.chat(ask("kimi-k2.6:cloud"))
    assert not isinstance(err.value, AuthenticationError) and "OLLAMA_NO_CLOUD" in str(err.value)


def test_patinox_models_marks_a_cloud_model(capsys):
    from patinox_core.cli import main

    with cloud_fake() as server, LocalProvider(LocalSettings(ollama_url=server.url, discover_defaults=False)) as p:
        assert main(["models"], provider=p) == 0
    rows = {line.split()[0]: line.split()[2] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {"llama3.2:latest": "no", "kimi-k2.6:cloud": "cloud"}

"""Secrets never show: an ``api_key`` and ``user:pass@`` in a server URL stay out of logs (DEBUG),
reprs, exception messages and tracebacks (a server that is down, a 401), serialized models
(``dumpd``/``dumps``, LlamaIndex ``to_json``) and every file under ``cassettes/``.

Each test first checks the secret was really used (the fake server saw the Authorization header),
so a test cannot pass by never sending it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from patinox_core import ChatRequest, LocalProvider, LocalProviderError, LocalSettings, Message
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer

API_KEY = "sk-patinox-test-KEY-0123456789abcdef"
USER, PASSWORD = "alice", "hunter2-PW-secret"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (API_KEY, PASSWORD, BASIC, f"{USER}:{PASSWORD}")
CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret ({secret[:6]}…) shows in {where}: {text[:300]!r}"


def shown(err: BaseException) -> str:
    """Everything a user may see of an error: str, repr, the full traceback with its causes, attempts."""
    parts = [str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__))]
    parts += [f"{a!s} {a!r}" for a in getattr(err, "attempts", ())]
    return "\n".join(parts)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records) + caplog.text


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        yield server


@pytest.fixture
def lmstudio() -> Iterator[FakeLMStudioServer]:
    with FakeLMStudioServer() as server:
        yield server


def _settings(ollama: FakeOllamaServer, lmstudio: FakeLMStudioServer, **kw) -> LocalSettings:
    authed = ollama.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    return LocalSettings(ollama_url=authed, lmstudio_url=lmstudio.url, api_key=API_KEY, discover_defaults=False,
                         connect_timeout=0.5, read_timeout=2.0, cold_load_timeout=2.0, max_retries=0, **kw)


def _ask(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "hi")])


def test_core_calls_use_secrets_but_never_show_them(ollama, lmstudio, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(ollama, lmstudio)
    with LocalProvider(settings) as provider:
        models = provider.list_models()
        provider.chat(_ask("llama3.2"))
        list(provider.stream_chat(_ask("qwen/qwen3-8b")))
        provider.embed(["a"], "nomic-embed-text")
        asyncio.run(provider.achat(_ask("qwen/qwen3-8b")))
        reprs = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump()),
                 repr(provider), repr(provider.discovery), *map(repr, provider.discovery.services),
                 *map(repr, models), *(repr(b) for b in provider.fleet.backends.values())]
    assert {r.headers.get("authorization") for r in ollama.requests} == {f"Basic {BASIC}"}
    assert {r.headers.get("authorization") for r in lmstudio.requests} == {f"Bearer {API_KEY}"}
    assert_clean("\n".join(reprs), "a repr")
    assert any("HTTP Request" in r.getMessage() for r in caplog.records), "DEBUG logging was not captured"
    assert_clean(logged(caplog), "the logs")


def test_errors_never_show_secrets(ollama, lmstudio, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalProvider(_settings(ollama, lmstudio)) as provider:
        provider.list_models()
        ollama.fail_next(401, "unauthorized")
        lmstudio.fail_with(401, {"error": {"message": f"Invalid API key {API_KEY[:8]}…", "type": "auth"}},
                           times=None)
        errors = []
        for model in ("llama3.2", "qwen/qwen3-8b"):
            with pytest.raises(LocalProviderError) as caught:
                provider.chat(_ask(model))
            errors.append(caught.value)
        ollama.kill()  # down: connection refused
        with pytest.raises(LocalProviderError) as caught:
            provider.chat(_ask("llama3.2"))
        errors.append(caught.value)
        with pytest.raises(LocalProviderError) as caught:
            asyncio.run(provider.aembed(["a"], "nomic-embed-text"))
        errors.append(caught.value)
    assert [type(e).__name__ for e in errors] == ["AuthenticationError", "AuthenticationError",
                                                  "ServiceUnavailableError", "ServiceUnavailableError"]
    for err in errors:
        assert_clean(shown(err), f"a {type(err).__name__}")
    assert_clean(logged(caplog), "the logs")


def test_bad_settings_never_echo_secrets() -> None:
    for values in ({"ollama_url": f"http://{USER}:{PASSWORD}@box.lan:notaport"},
                   {"endpoints": [f"ftp://{USER}:{PASSWORD}@box.lan:1"]},
                   {"api_key": API_KEY, "connect_timeout": -1},
                   {"api_key": API_KEY, "provider": "no-such-kind"}):
        with pytest.raises(LocalProviderError) as caught:
            LocalSettings(**values)
        assert_clean(shown(caught.value), f"the error for {sorted(values)}")


def test_adapters_keep_the_api_key_out_of_reprs_and_serialization(ollama, caplog) -> None:
    from langchain_core.load import dumpd, dumps

    from patinox_langchain import ChatPatinox, PatinoxEmbeddings
    from patinox_llamaindex import Patinox, PatinoxEmbedding

    caplog.set_level(logging.DEBUG)
    lc = ChatPatinox(model="llama3.2", base_url=ollama.url, provider="ollama", api_key=API_KEY)
    lce = PatinoxEmbeddings(model="nomic-embed-text", base_url=ollama.url, provider="ollama", api_key=API_KEY)
    li = Patinox(model="llama3.2", base_url=ollama.url, provider="ollama", api_key=API_KEY)
    lie = PatinoxEmbedding(model_name="nomic-embed-text", base_url=ollama.url, provider="ollama", api_key=API_KEY)
    assert lc.invoke("hi").content and li.complete("hi").text
    assert lce.embed_query("a") and lie.get_text_embedding("a")
    assert {r.headers.get("authorization") for r in ollama.requests} == {f"Bearer {API_KEY}"}
    texts = [repr(lc), str(lc), repr(dumpd(lc)), dumps(lc), lc.model_dump_json(), repr(lce), lce.model_dump_json(),
             repr(li), li.to_json(), repr(li.to_dict()), repr(lie), lie.to_json(), repr(li.metadata)]
    assert_clean("\n".join(texts), "an adapter's repr or serialization")
    assert_clean(logged(caplog), "the logs")


def test_adapters_hide_url_credentials() -> None:
    from langchain_core.load import dumpd

    from patinox_langchain import ChatPatinox, PatinoxEmbeddings
    from patinox_llamaindex import Patinox, PatinoxEmbedding

    url = f"http://{USER}:{PASSWORD}@127.0.0.1:9"
    texts = []
    for obj in (ChatPatinox(model="m", base_url=url), PatinoxEmbeddings(model="m", base_url=url)):
        texts += [repr(obj), repr(dumpd(obj)), obj.model_dump_json()]
    for obj in (Patinox(model="m", base_url=url), PatinoxEmbedding(model_name="m", base_url=url)):
        texts += [repr(obj), obj.to_json()]
    assert_clean("\n".join(texts), "an adapter built with a credentialed base_url")


# --------------------------------------------------------------------------- cassettes

_LEAKS = {
    "a Bearer token": re.compile(r"Bearer\s+(?!PLACEHOLDER\b|<)[A-Za-z0-9._~+/=-]{4,}"),
    "a Basic credential": re.compile(r"Basic\s+(?!PLACEHOLDER\b|<)[A-Za-z0-9+/]{4,}={0,2}"),
    "user:pass@ in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@", re.I),
    "an API key": re.compile(r"\b(sk|pk|rk|lm|ollama)-[A-Za-z0-9_-]{12,}"),
    "an api_key value": re.compile(r"""api[_-]?key["']?\s*[:=]\s*["']?(?!PLACEHOLDER\b|null\b|None\b)[^\s"',}]{4,}""",
                                   re.I),
}
_SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie")


def leaks_in(path: Path) -> list[str]:
    """What in one recorded file looks like a credential: text patterns anywhere, and secret-bearing
    headers whose recorded value is not the scrubbed placeholder."""
    text = path.read_text(encoding="utf-8", errors="replace")
    found = [f"{path.name}: {what}" for what, rx in _LEAKS.items() if rx.search(text)]
    if path.suffix in (".yaml", ".yml"):
        yaml = pytest.importorskip("yaml")
        for doc in yaml.safe_load_all(text):
            for interaction in (doc or {}).get("interactions", []):
                for side in ("request", "response"):
                    headers = (interaction.get(side) or {}).get("headers") or {}
                    for name, values in headers.items():
                        values = values if isinstance(values, list) else [values]
                        if name.lower() in _SECRET_HEADERS and any(v not in ("PLACEHOLDER", "", None) for v in values):
                            found.append(f"{path.name}: {side} header {name}")
    return found


def test_no_cassette_holds_a_secret() -> None:
    files = [p for p in CASSETTES.rglob("*") if p.is_file()]
    assert files, "no cassettes found: is the path right?"
    leaks = [leak for p in files for leak in leaks_in(p)]
    assert not leaks, leaks


def test_the_cassette_scan_finds_planted_secrets(tmp_path: Path) -> None:
    planted = {
        "bearer.yaml": "interactions:\n- request:\n    headers:\n      Authorization:\n      - Bearer abcd1234efgh\n",
        "basic.yaml": "interactions:\n- request:\n    headers:\n      authorization:\n      - Basic YWxpY2U6cHc=\n",
        "url.yaml": "interactions:\n- request:\n    uri: http://alice:pw@127.0.0.1:1/v1/models\n",
        "key.json": '{"api_key": "abc123secret"}',
        "header.yaml": "interactions:\n- request:\n    headers:\n      x-api-key:\n      - s3cr3t\n",
    }
    for name, body in planted.items():
        (tmp_path / name).write_text(body)
        assert leaks_in(tmp_path / name), f"the scan misses the secret planted in {name}"
    clean = tmp_path / "clean.yaml"
    clean.write_text("interactions:\n- request:\n    headers:\n      authorization:\n      - PLACEHOLDER\n"
                     "    uri: http://127.0.0.1:18085/v1/models\n")
    assert leaks_in(clean) == []


def test_adapters_still_authenticate_with_url_credentials() -> None:
    """The credentials hidden from reprs are still sent, as HTTP Basic auth, to the pinned server."""
    import base64

    from patinox_core.testing import FakeOllamaServer
    from patinox_langchain import ChatPatinox
    from patinox_llamaindex import Patinox

    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with FakeOllamaServer() as server:
        url = server.url.replace("http://", f"http://{USER}:{PASSWORD}@")
        ChatPatinox(model="llama3.2", base_url=url, provider="ollama").invoke("hi")
        Patinox(model="llama3.2", base_url=url, provider="ollama").complete("hi")
        chats = [r for r in server.requests if r.path == "/api/chat"]
        assert len(chats) == 2 and all(r.headers.get("authorization") == expected for r in chats)

"""config.py: every OLLAMA_HOST spelling, precedence explicit > env > file > default, errors, secrets."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from patinox_core import ConfigurationError, LocalSettings, ProviderKind, RecoveryStrategy
from patinox_core.config import (
    parse_endpoint_url,
    parse_kind,
    parse_lmstudio_url,
    parse_ollama_host,
    redact,
    split_credentials,
)

OLLAMA_HOST_FORMS = [
    (None, "http://127.0.0.1:11434"),  # unset: the default
    ("", "http://127.0.0.1:11434"),
    ("box.lan", "http://box.lan:11434"),  # bare host -> port 11434
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),  # :port -> 127.0.0.1
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),  # scheme without port -> 80 / 443
    ("https://example.com", "https://example.com:443"),
    ("HTTPS://Example.com", "https://example.com:443"),  # scheme and host case-insensitive
    ("http://box.lan:8080", "http://box.lan:8080"),
    ("example.com/path/", "http://example.com:11434/path"),  # path kept, trailing slash stripped
    ("https://box.lan:8443/ollama/", "https://box.lan:8443/ollama"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),  # IPv6 in brackets
    ("[::1]:8080", "http://[::1]:8080"),
    ("::1", "http://[::1]:11434"),  # bare IPv6 gets brackets
    ("0.0.0.0", "http://127.0.0.1:11434"),  # a bind address means: connect to loopback
    ("0.0.0.0:9999", "http://127.0.0.1:9999"),
    ("::", "http://[::1]:11434"),
    ("[::]:11500", "http://[::1]:11500"),
    ('"localhost"', "http://localhost:11434"),  # quotes and spaces trimmed, as the server does
    ("  box.lan  ", "http://box.lan:11434"),
]


@pytest.mark.parametrize(("value", "url"), OLLAMA_HOST_FORMS)
def test_parse_ollama_host(value: str | None, url: str) -> None:
    assert parse_ollama_host(value) == url


@pytest.mark.parametrize(("value", "url"), [f for f in OLLAMA_HOST_FORMS if f[0]])
def test_ollama_host_from_environment(monkeypatch: pytest.MonkeyPatch, value: str, url: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", value)
    assert LocalSettings().ollama_url == url
    assert LocalSettings().effective_ollama_url == url


@pytest.mark.parametrize(("value", "problem"), [
    ("box.lan:port", "port is not a number"),
    ("box.lan:0", "port is not a number"),
    ("box.lan:70000", "port is not a number"),
    ("ftp://box.lan", "is not http or https"),
    ("[::1", "unclosed"),
    ("[::1]x", "unexpected text"),
])
def test_bad_ollama_host_names_field_and_source(monkeypatch: pytest.MonkeyPatch, value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        parse_ollama_host(value)
    monkeypatch.setenv("OLLAMA_HOST", value)
    with pytest.raises(ConfigurationError) as info:
        LocalSettings()
    text = str(info.value)
    assert "ollama_url" in text and "environment variable OLLAMA_HOST" in text and problem in text
    assert info.value.recovery is RecoveryStrategy.FIX_CONFIG


def test_default_and_unset() -> None:
    s = LocalSettings()
    assert s.ollama_url is None and s.effective_ollama_url == "http://127.0.0.1:11434"
    assert s.effective_lmstudio_url == "http://127.0.0.1:1234" and s.provider is ProviderKind.LOCAL
    assert s.configured_urls() == []


def test_other_variables_and_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "host-var")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://base-url:1")
    assert LocalSettings().ollama_url == "http://base-url:1"
    monkeypatch.setenv("PATINOX_OLLAMA_URL", "patinox:2")
    assert LocalSettings().ollama_url == "http://patinox:2"
    assert LocalSettings(ollama_url=":3").ollama_url == "http://127.0.0.1:3"


@pytest.mark.parametrize("var", ["LM_STUDIO_API_BASE", "LMSTUDIO_BASE_URL", "PATINOX_LMSTUDIO_URL"])
def test_lmstudio_variables_strip_v1(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.setenv(var, "http://localhost:1234/v1")
    s = LocalSettings()
    assert s.lmstudio_url == "http://localhost:1234"
    assert s.configured_urls() == [("http://localhost:1234", ProviderKind.LMSTUDIO)]


def test_url_parsers() -> None:
    assert parse_lmstudio_url(":4321") == "http://127.0.0.1:4321"
    assert parse_endpoint_url("127.0.0.1:8081/v1/") == "http://127.0.0.1:8081"
    assert parse_endpoint_url("vllm.lan") == "http://vllm.lan:8080"


def test_endpoints_and_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_ENDPOINTS", "ollama=http://a:1, http://b:2/v1")
    monkeypatch.setenv("PATINOX_PROVIDER", "lm-studio")
    s = LocalSettings()
    assert [(e.url, e.kind) for e in s.endpoints] == [("http://a:1", ProviderKind.OLLAMA), ("http://b:2", None)]
    assert s.provider is ProviderKind.LMSTUDIO
    monkeypatch.setenv("PATINOX_ENDPOINTS", '[{"url": "c:3", "kind": "vllm"}]')
    assert LocalSettings().endpoints[0].kind is ProviderKind.OPENAI_COMPATIBLE
    assert parse_kind("auto") is ProviderKind.LOCAL
    with pytest.raises(ConfigurationError, match="unknown provider kind"):
        parse_kind("mlx")


# --- precedence: explicit > environment > config file > default ------------------------------
@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_precedence(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert LocalSettings().read_timeout == 120.0  # default
    (workdir / "patinox.toml").write_text('read_timeout = 5\nollama_url = "file-host"\nmax_retries = 4\n')
    s = LocalSettings()
    assert (s.read_timeout, s.ollama_url, s.max_retries) == (5.0, "http://file-host:11434", 4)  # file
    monkeypatch.setenv("PATINOX_READ_TIMEOUT", "7")
    monkeypatch.setenv("OLLAMA_HOST", "env-host")
    s = LocalSettings()
    assert (s.read_timeout, s.ollama_url, s.max_retries) == (7.0, "http://env-host:11434", 4)  # env over file
    s = LocalSettings(read_timeout=9, ollama_url="arg-host")
    assert (s.read_timeout, s.ollama_url, s.max_retries) == (9.0, "http://arg-host:11434", 4)  # explicit over env


def test_patinox_table_and_xdg_file(workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    xdg = tmp_path_factory.mktemp("xdg-user")
    (xdg / "patinox").mkdir()
    (xdg / "patinox" / "config.toml").write_text("keep_alive = \"1h\"\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert LocalSettings().keep_alive == "1h"
    (workdir / "patinox.toml").write_text('[patinox]\nollama_url = ":9999"\n')  # the local file wins
    s = LocalSettings()
    assert s.ollama_url == "http://127.0.0.1:9999" and s.keep_alive is None


@pytest.mark.parametrize(("setup", "source"), [
    ("env", "environment variable PATINOX_READ_TIMEOUT"),
    ("file", "config file"),
    ("argument", "argument"),
])
def test_bad_value_names_field_and_source(workdir: Path, monkeypatch: pytest.MonkeyPatch, setup: str,
                                          source: str) -> None:
    kwargs = {}
    if setup == "env":
        monkeypatch.setenv("PATINOX_READ_TIMEOUT", "abc")
    elif setup == "file":
        (workdir / "patinox.toml").write_text("read_timeout = -1\n")
    else:
        kwargs = {"read_timeout": -1}
    with pytest.raises(ConfigurationError) as info:
        LocalSettings(**kwargs)
    assert "invalid setting read_timeout" in str(info.value) and source in str(info.value)


def test_broken_config_file(workdir: Path) -> None:
    (workdir / "patinox.toml").write_text("read_timeout = [\n")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        LocalSettings()


@pytest.mark.parametrize(("value", "parsed"), [("5m", "5m"), ("10", 10), ("-1", -1), ("0", 0), ("1.5h", "1.5h")])
def test_keep_alive(monkeypatch: pytest.MonkeyPatch, value: str, parsed: object) -> None:
    monkeypatch.setenv("PATINOX_KEEP_ALIVE", value)
    assert LocalSettings().keep_alive == parsed


def test_bad_keep_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_KEEP_ALIVE", "soon")
    with pytest.raises(ConfigurationError, match=r"keep_alive.*PATINOX_KEEP_ALIVE"):
        LocalSettings()


# --- credentials ----------------------------------------------------------------------------
def test_credentials_are_split_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://bob:s3cret@box.lan:11434")
    s = LocalSettings(api_key="sk-very-secret")
    assert s.ollama_url == "http://box.lan:11434"
    assert s.credentials["http://box.lan:11434"].get_secret_value() == "bob:s3cret"
    for shown in (repr(s), str(s), s.model_dump_json()):
        assert "s3cret" not in shown and "sk-very-secret" not in shown
    assert s.auth_headers("http://box.lan:11434")["Authorization"].startswith("Basic ")
    # the api_key goes only to servers the user named (issue 14: never to an unconfigured default port)
    assert s.auth_headers("http://elsewhere:1") == {}
    assert s.auth_headers("http://127.0.0.1:11434") == {}
    named = LocalSettings(api_key="sk-very-secret", endpoints="http://elsewhere:1")
    assert named.auth_headers("http://elsewhere:1") == {"Authorization": "Bearer sk-very-secret"}


@pytest.mark.parametrize("password", ["a%2Fb", "a%3Fb", "a%23b", "p%40ss%3A1"])
def test_encoded_credentials_are_split_once_and_kept_whole(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    """A password with an encoded ``/``, ``?``, ``#``, ``@`` or ``:`` ends up whole in ``credentials``,
    never in the URL (it was decoded, put back raw and split again: ``/`` moved it into the path)."""
    monkeypatch.setenv("OLLAMA_HOST", f"http://bob:{password}@box.lan:11434")
    s = LocalSettings(endpoints=[{"url": f"http://bob:{password}@gw.lan:4000/v1"}])
    assert (s.ollama_url, s.endpoints[0].url) == ("http://box.lan:11434", "http://gw.lan:4000")
    expected = "bob:" + unquote(password)
    assert s.credentials["http://box.lan:11434"].get_secret_value() == expected
    assert s.credentials["http://gw.lan:4000"].get_secret_value() == expected


@pytest.mark.parametrize("host", ["bob:pw@box.lan", "bob:pw@box.lan:11434", "bob:p%2Fw@box.lan:11434"])
def test_credentials_on_a_host_without_scheme(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """``OLLAMA_HOST=user:pass@host[:port]`` (no scheme, as Ollama allows) is split like a URL; it used
    to fail with an internal "credentials must be split off first; report this bug"."""
    monkeypatch.setenv("OLLAMA_HOST", host)
    s = LocalSettings()
    assert s.ollama_url == "http://box.lan:11434"
    assert s.credentials["http://box.lan:11434"].get_secret_value() == unquote(host.split("@")[0])


def test_credentials_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://bob:s3cret@box.lan:port")
    with pytest.raises(ConfigurationError) as info:
        LocalSettings()
    assert "s3cret" not in str(info.value) and "OLLAMA_HOST" in str(info.value)


def test_split_and_redact() -> None:
    assert split_credentials("http://a%40b:p@h:1/x") == ("http://h:1/x", "a@b:p")
    assert redact("GET http://u:p@h:1 and https://x:y@z/") == "GET http://***@h:1 and https://***@z/"

"""Settings: explicit argument > environment > config file > default.

``LocalSettings`` reads ``PATINOX_*`` plus the variables other tools already use (``OLLAMA_HOST`` in
all its spellings, ``OLLAMA_BASE_URL``, ``LM_STUDIO_API_BASE``, ``LMSTUDIO_BASE_URL``) and a TOML
file (``./patinox.toml`` or ``$XDG_CONFIG_HOME/patinox/config.toml``). A bad value raises
``ConfigurationError`` naming the field and where the value came from. Credentials embedded in URLs
(``http://user:pass@host``) are split off into ``LocalSettings.credentials`` and never shown.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from .errors import ConfigurationError
from .redaction import redact, register_secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
LMSTUDIO_DEFAULT_URL = "http://127.0.0.1:1234"


class ProviderKind(str, Enum):
    """Which server family to use. ``LOCAL`` means: whatever discovery finds."""

    LOCAL = "local"
    OLLAMA = "ollama"
    LMSTUDIO = "lmstudio"
    OPENAI_COMPATIBLE = "openai_compatible"


_KIND_ALIASES = {
    "local": ProviderKind.LOCAL,
    "auto": ProviderKind.LOCAL,
    "ollama": ProviderKind.OLLAMA,
    "lmstudio": ProviderKind.LMSTUDIO,
    "lm_studio": ProviderKind.LMSTUDIO,
    "lm-studio": ProviderKind.LMSTUDIO,
    "openai": ProviderKind.OPENAI_COMPATIBLE,
    "openai_compatible": ProviderKind.OPENAI_COMPATIBLE,
    "openai-compatible": ProviderKind.OPENAI_COMPATIBLE,
    "llamacpp": ProviderKind.OPENAI_COMPATIBLE,
    "vllm": ProviderKind.OPENAI_COMPATIBLE,
}


def parse_kind(value: str | ProviderKind) -> ProviderKind:
    """``"lm-studio"`` -> ``ProviderKind.LMSTUDIO``; unknown names raise ``ConfigurationError``."""
    if isinstance(value, ProviderKind):
        return value
    kind = _KIND_ALIASES.get(str(value).strip().lower())
    if kind is None:
        raise ConfigurationError(
            f"unknown provider kind {value!r}", hint=f"use one of {', '.join(k.value for k in ProviderKind)}"
        )
    return kind


# --------------------------------------------------------------------------- URL parsing


def split_credentials(url: str) -> tuple[str, str | None]:
    """Remove ``user:pass@`` from a URL; return (clean URL, ``"user:pass"`` or None).

    >>> split_credentials("http://bob:s3cret@box.lan:11434/x")
    ('http://box.lan:11434/x', 'bob:s3cret')
    >>> split_credentials("http://box.lan:1234")
    ('http://box.lan:1234', None)
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=hostport).geturl(), unquote(userinfo)


def hide_url_credentials(data: Any, field: str = "base_url") -> Any:
    """For an adapter's ``model_validator(mode="before")``: move ``user:pass@`` out of
    ``data[field]`` into ``data[field + "_credentials"]`` (a secret), so reprs and serialized
    models never show it.

    >>> hide_url_credentials({"base_url": "http://u:p@box:1"})
    {'base_url': 'http://box:1', 'base_url_credentials': SecretStr('**********')}
    """
    if isinstance(data, dict) and isinstance(data.get(field), str):
        clean, userinfo = split_credentials(data[field])
        if userinfo:
            data = {**data, field: clean, f"{field}_credentials": SecretStr(userinfo)}
    return data


def join_credentials(url: str | None, userinfo: SecretStr | str | None) -> str | None:
    """Put ``user:pass@`` back into a URL for ``LocalSettings``, which stores it as a secret.

    >>> join_credentials("http://box:1/x", "u:p")
    'http://u:p@box:1/x'
    """
    if not url or not userinfo:
        return url
    secret = userinfo.get_secret_value() if isinstance(userinfo, SecretStr) else userinfo
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://{secret}@{rest}" if sep else f"{secret}@{url}"


def _port_of(hostport: str, source: str, raw: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ConfigurationError(f"{source}={raw!r}: unclosed '[' in IPv6 address", hint="write [::1]:11434")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ConfigurationError(f"{source}={raw!r}: unexpected text after IPv6 address", hint="write [::1]:11434")
        port_s = rest[1:]
    elif hostport.count(":") > 1:  # bare IPv6 without brackets
        return f"[{hostport}]", None
    elif ":" in hostport:
        host, port_s = hostport.rsplit(":", 1)
    else:
        return hostport, None
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConfigurationError(
            f"{source}={raw!r}: port is not a number in 1-65535", hint="write host:port"
        )
    return host, int(port_s)


_BIND_ALL = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}


def parse_host(value: str | None, *, default_port: int, source: str) -> str:
    """Every spelling of a server address to a base URL (credentials must be split off first).

    Scheme matching is case-insensitive; a scheme without a port means 80/443; no scheme means
    ``default_port``; ``:port`` means 127.0.0.1; bind-all addresses mean loopback.

    >>> parse_host("box.lan", default_port=11434, source="OLLAMA_HOST")
    'http://box.lan:11434'
    """
    raw = value
    value = (value or "").strip().strip("\"'")
    if not value:
        return f"http://127.0.0.1:{default_port}"
    scheme, sep, rest = value.partition("://")
    if sep:
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ConfigurationError(f"{source}={raw!r}: scheme {scheme!r} is not http or https", hint="use http://")
        port_default = 443 if scheme == "https" else 80
    else:
        scheme, rest, port_default = "http", value, default_port
    hostport, slash, path = rest.partition("/")
    if "@" in hostport:
        raise ConfigurationError(f"{source}={raw!r}: credentials must be split off first", hint="report this bug")
    host, port = _port_of(hostport, source, raw)
    host = _check_host(_BIND_ALL.get(host, host).lower(), source, raw)
    path = ("/" + path).rstrip("/") if slash else ""
    if path and not _PATH.fullmatch(path):
        raise ConfigurationError(f"{source}={raw!r}: {path!r} is not a URL path", hint="write host:port[/path]")
    base = f"{scheme}://{host}:{port or port_default}"
    _reject_api_path(path, base, source, raw)
    return base + path


def check_base_url(url: str, *, source: str = "base_url") -> None:
    """An adapter's ``base_url`` must name a server, not one of its API paths: checked before the
    settings are built, so the ``ConfigurationError`` names the argument and carries the fix.

    >>> check_base_url("http://user:pw@127.0.0.1:8080/v1")  # credentials and /v1 are fine
    >>> check_base_url("127.0.0.1:8080/v1/chat/completions")
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: base_url='127.0.0.1:8080/v1/chat/completions': \
'/v1/chat/completions' is an API path, not a server address. use base_url='http://127.0.0.1:8080' (patinox \
adds the API paths itself)
    """
    clean, _ = split_credentials(url.strip().strip("\"'"))
    parse_host(clean, default_port=8080, source=source)


#: API paths patinox appends itself; a URL ending in one names an endpoint, not a server (longest first).
API_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/chat/completions",
             "/completions", "/embeddings", "/api/chat", "/api/generate", "/api/embeddings", "/api/embed",
             "/api/tags", "/api/v0/models", "/api/v1/models")


def _reject_api_path(path: str, base: str, source: str, raw: str | None) -> None:
    """``ConfigurationError`` for a URL that ends in an API path, naming the base URL to use instead.

    >>> _reject_api_path("/v1/chat/completions", "http://127.0.0.1:8080", "base_url", "x")
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: base_url='x': '/v1/chat/completions' is an API path, not a server \
address. use base_url='http://127.0.0.1:8080' (patinox adds the API paths itself)
    """
    suffix = next((p for p in API_PATHS if path.lower().endswith(p)), None)
    if suffix is not None:
        raise ConfigurationError(f"{source}={raw!r}: {suffix!r} is an API path, not a server address",
                                 hint=f"use base_url='{base}{path[: -len(suffix)]}' (patinox adds the API paths "
                                      "itself)")


_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
_PATH = re.compile(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)+")


def _check_host(host: str, source: str, raw: str | None) -> str:
    """A host name (IDNA-encoded when not ASCII) or a bracketed IPv6 address, else ConfigurationError.

    >>> _check_host("box.lan", "X", "box.lan"), _check_host("bücher.de", "X", "")
    ('box.lan', 'xn--bcher-kva.de')
    """
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ConfigurationError(f"{source}={raw!r}: {host} is not an IPv6 address", hint="write [::1]") from None
        return host
    if not host.isascii():
        try:  # IDNA 2008, as httpx encodes it (idna comes with httpx)
            import idna

            host = idna.encode(host).decode("ascii")
        except (UnicodeError, ValueError):
            host = "\x00"  # fails the check below
    if not _HOSTNAME.fullmatch(host):
        raise ConfigurationError(f"{source}={raw!r}: {host!r} is not a host name", hint="write host:port")
    return host


def parse_ollama_host(value: str | None, *, source: str = "OLLAMA_HOST") -> str:
    """Every spelling of ``OLLAMA_HOST`` to a base URL, as Ollama's own clients read it.

    >>> parse_ollama_host(None), parse_ollama_host(':11500')
    ('http://127.0.0.1:11434', 'http://127.0.0.1:11500')
    >>> parse_ollama_host('1.2.3.4'), parse_ollama_host('1.2.3.4:56789')
    ('http://1.2.3.4:11434', 'http://1.2.3.4:56789')
    >>> parse_ollama_host('http://1.2.3.4'), parse_ollama_host('HTTPS://Example.com')
    ('http://1.2.3.4:80', 'https://example.com:443')
    >>> parse_ollama_host('example.com/path/'), parse_ollama_host('[0001:002:003:0004::1]')
    ('http://example.com:11434/path', 'http://[0001:002:003:0004::1]:11434')
    >>> parse_ollama_host('[::1]:8080'), parse_ollama_host('::1')
    ('http://[::1]:8080', 'http://[::1]:11434')
    >>> parse_ollama_host('0.0.0.0'), parse_ollama_host('0.0.0.0:9999'), parse_ollama_host('"localhost"')
    ('http://127.0.0.1:11434', 'http://127.0.0.1:9999', 'http://localhost:11434')
    >>> parse_ollama_host('box.lan:port')
    Traceback (most recent call last):
    patinox_core.errors.ConfigurationError: OLLAMA_HOST='box.lan:port': port is not a number in 1-65535. write host:port
    """
    return parse_host(value, default_port=11434, source=source)


def parse_lmstudio_url(value: str | None, *, source: str = "LM_STUDIO_API_BASE") -> str:
    """An LM Studio base URL without the OpenAI ``/v1`` suffix.

    >>> parse_lmstudio_url("http://localhost:1234/v1"), parse_lmstudio_url(":4321")
    ('http://localhost:1234', 'http://127.0.0.1:4321')
    """
    url = parse_host(value, default_port=1234, source=source)
    return url[: -len("/v1")] if url.endswith("/v1") else url


def parse_endpoint_url(value: str, *, source: str = "PATINOX_ENDPOINTS") -> str:
    """A generic endpoint URL (OpenAI-compatible servers default to port 8080), ``/v1`` stripped.

    >>> parse_endpoint_url("127.0.0.1:8081/v1/")
    'http://127.0.0.1:8081'
    """
    url = parse_host(value, default_port=8080, source=source)
    return url[: -len("/v1")] if url.endswith("/v1") else url


# --------------------------------------------------------------------------- settings


class Endpoint(BaseModel):
    """An extra server: its URL and, optionally, which kind it is (else discovery fingerprints it)."""

    url: str
    kind: ProviderKind | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return None if v in (None, "") else _as_value_error(parse_kind, v)


def _as_value_error(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ConfigurationError as exc:
        raise ValueError(exc.message + (f"; {exc.hint}" if exc.hint else "")) from None


def _parse_endpoints(value: Any) -> Any:
    """``"url, kind=url"`` or a JSON list (of URLs or {url, kind}) into Endpoint dicts."""
    if isinstance(value, str):
        text = value.strip()
        is_json = text.startswith("[")
        value = json.loads(text) if is_json else [item.strip() for item in text.split(",") if item.strip()]
    out = []
    for item in value or ():
        if isinstance(item, str):
            kind, eq, url = item.partition("=")
            out.append({"url": url, "kind": kind} if eq and "://" not in kind else {"url": item})
        else:
            out.append(item)
    return out


class LocalSettings(BaseSettings):
    """All patinox settings. Env prefix ``PATINOX_``; see docs/configuration.md for every key."""

    model_config = SettingsConfigDict(
        env_prefix="PATINOX_", extra="ignore", populate_by_name=True, validate_default=True, case_sensitive=False
    )

    provider: ProviderKind = ProviderKind.LOCAL
    ollama_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PATINOX_OLLAMA_URL", "OLLAMA_BASE_URL", "OLLAMA_HOST"),
    )
    lmstudio_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "PATINOX_LMSTUDIO_URL", "LM_STUDIO_API_BASE", "LMSTUDIO_BASE_URL"
        ),
    )
    endpoints: Annotated[list[Endpoint], NoDecode] = Field(default_factory=list)
    discover_defaults: bool = True  # also probe 127.0.0.1:11434 and 127.0.0.1:1234
    connect_timeout: float = Field(default=2.0, gt=0, le=600)
    read_timeout: float = Field(default=120.0, gt=0)
    cold_load_timeout: float = Field(default=600.0, gt=0)
    discovery_ttl: float = Field(default=30.0, ge=0)
    probe_timeout: float = Field(default=0.5, gt=0, le=60)
    total_timeout: float = Field(default=900.0, gt=0)  # a whole call (+ cold_load_timeout for a cold model)
    max_response_bytes: int = Field(default=128 << 20, ge=64 << 10)  # a complete reply, decoded
    max_retries: int = Field(default=2, ge=0, le=10)
    cooldown: float = Field(default=30.0, ge=0)
    default_model: str | None = None
    default_embedding_model: str | None = None
    keep_alive: str | int | None = None
    api_key: SecretStr | None = None
    context_guard: Literal["warn", "raise", "off"] = "warn"
    embed_batch_size: int = Field(default=256, ge=1, le=4096)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    credentials: dict[str, SecretStr] = Field(default_factory=dict, repr=False)

    # -- sources -------------------------------------------------------------------------
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def __init__(self, **values: Any) -> None:
        check_known_keys(values, "argument", "LocalSettings")
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc, values) from None
        except SettingsError as exc:  # an environment value that is not valid JSON (overrides, credentials)
            raise _settings_error(exc) from None

    # -- validators ----------------------------------------------------------------------
    @field_validator("ollama_url", mode="before")
    @classmethod
    def _ollama_url(cls, v: Any) -> Any:
        return None if v is None else _parse_keeping_credentials(str(v), parse_ollama_host, "ollama_url")

    @field_validator("lmstudio_url", mode="before")
    @classmethod
    def _lmstudio_url(cls, v: Any) -> Any:
        return None if v is None else _parse_keeping_credentials(str(v), parse_lmstudio_url, "lmstudio_url")

    @field_validator("endpoints", mode="before")
    @classmethod
    def _endpoints(cls, v: Any) -> Any:
        eps = [] if v is None else _as_value_error(_parse_endpoints, v)
        for ep in eps:
            if isinstance(ep, dict) and isinstance(ep.get("url"), str):
                ep["url"] = _parse_keeping_credentials(ep["url"], parse_endpoint_url, "endpoints")
        return eps

    @model_validator(mode="after")
    def _split_credentials(self) -> LocalSettings:
        """Move ``user:pass@`` out of every URL into ``credentials`` (keyed by the clean URL)."""
        def take(url: str) -> str:
            clean, userinfo = split_credentials(url)
            if userinfo:
                self.credentials[clean] = SecretStr(userinfo)
            return clean

        if self.ollama_url:
            self.ollama_url = take(self.ollama_url)
        if self.lmstudio_url:
            self.lmstudio_url = take(self.lmstudio_url)
        for ep in self.endpoints:
            ep.url = take(ep.url)
        return self

    @field_validator("api_key", mode="before")
    @classmethod
    def _api_key(cls, v: Any) -> Any:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw is None or (isinstance(raw, str) and not raw.strip()):  # ``export PATINOX_API_KEY=``: no key
            return None
        return clean_api_key(v)

    @model_validator(mode="after")
    def _register_secrets(self) -> LocalSettings:
        """Every secret these settings hold is redacted from all text patinox produces."""
        if self.api_key is not None:
            register_secret(self.api_key.get_secret_value())
        for cred in self.credentials.values():
            register_secret(cred.get_secret_value())
        return self

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, v: Any) -> Any:
        return _as_value_error(parse_kind, v)

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _keep_alive(cls, v: Any) -> Any:
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            return int(v)
        if isinstance(v, str) and not re.fullmatch(r"-?\d+(\.\d+)?(ns|us|ms|s|m|h)?", v.strip()):
            raise ValueError(f"{v!r} is not a duration like '5m', '1h', '30s', 0 or -1")
        return v

    # -- derived -------------------------------------------------------------------------
    @property
    def effective_ollama_url(self) -> str:
        return self.ollama_url or OLLAMA_DEFAULT_URL

    @property
    def effective_lmstudio_url(self) -> str:
        return self.lmstudio_url or LMSTUDIO_DEFAULT_URL

    def configured_urls(self) -> list[tuple[str, ProviderKind | None]]:
        """URLs the user named (any host), with their kind when known, in a fixed order."""
        out: list[tuple[str, ProviderKind | None]] = []
        if self.ollama_url:
            out.append((self.ollama_url, ProviderKind.OLLAMA))
        if self.lmstudio_url:
            out.append((self.lmstudio_url, ProviderKind.LMSTUDIO))
        out.extend((ep.url, ep.kind) for ep in self.endpoints)
        return out

    def auth_headers(self, base_url: str) -> dict[str, str]:
        """Headers for a server: Basic auth from URL credentials, else Bearer ``api_key``, which goes
        only to servers the user named (never to an unconfigured loopback default that discovery
        found: any local process may listen on 11434 or 1234)."""
        cred = self.credentials.get(base_url)
        if cred is not None:
            import base64

            token = base64.b64encode(cred.get_secret_value().encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if self.api_key is not None and base_url.rstrip("/") in {u.rstrip("/") for u, _ in self.configured_urls()}:
            return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}
        return {}


_FIELD_KEYS = {
    "ollama_url": ("PATINOX_OLLAMA_URL", "OLLAMA_BASE_URL", "OLLAMA_HOST"),
    "lmstudio_url": ("PATINOX_LMSTUDIO_URL", "LM_STUDIO_API_BASE", "LMSTUDIO_BASE_URL"),
}


def _parse_keeping_credentials(url: str, parser: Any, source: str) -> str:
    """Normalise a URL with ``parser`` but keep its ``user:pass@`` for ``_split_credentials``."""
    clean, userinfo = split_credentials(url.strip().strip("\"'"))
    parsed = _as_value_error(parser, clean, source=source)
    if not userinfo:
        return parsed
    scheme, _, rest = parsed.partition("://")
    return f"{scheme}://{userinfo}@{rest}"


# --------------------------------------------------------------------------- config file


def config_file_path() -> Path | None:
    """``./patinox.toml`` if present, else ``$XDG_CONFIG_HOME/patinox/config.toml`` if present."""
    local = Path.cwd() / "patinox.toml"
    if local.is_file():
        return local
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(xdg) / "patinox" / "config.toml"
    return user if user.is_file() else None


class _TomlSource(PydanticBaseSettingsSource):
    """Top-level keys of the TOML file, or those under a ``[patinox]`` table."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.path = config_file_path()
        self.data: dict[str, Any] = {}
        if self.path is not None:
            try:
                raw = tomllib.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigurationError(
                    f"config file {self.path} cannot be read: {exc}", hint="fix the TOML syntax or remove the file"
                ) from exc
            self.data = raw.get("patinox", raw) if isinstance(raw.get("patinox"), dict) else raw

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        check_known_keys(self.data, f"config file {self.path}", "patinox.toml")
        return {k: v for k, v in self.data.items() if k in LocalSettings.model_fields}


def _source_of(field: str, init_values: dict[str, Any]) -> str:
    if field in init_values:
        return "argument"
    names = _FIELD_KEYS.get(field, (f"PATINOX_{field.upper()}",))
    for name in names:
        if name.isupper() and name in {k.upper() for k in os.environ}:
            return f"environment variable {name}"
    path = config_file_path()
    return f"config file {path}" if path else "default"


def _config_error(exc: ValidationError, init_values: dict[str, Any]) -> ConfigurationError:
    err = exc.errors()[0]
    loc = err.get("loc") or ("settings",)
    field = str(loc[0])
    for canonical, names in _FIELD_KEYS.items():
        if field.upper() in names:
            field = canonical
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    source = _source_of(field, init_values)
    where = ".".join(str(p) for p in loc[1:])
    return ConfigurationError(
        f"invalid setting {field}{'.' + where if where else ''} (from {source}): {redact(msg)}",
        hint={"argument": "pass a valid value", "default": None}.get(
            source, f"fix or unset {source.removeprefix('environment variable ')}"
        ),
    )


_HEADER_SAFE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def clean_api_key(value: Any) -> SecretStr:
    """An API key fit for an ``Authorization`` header: surrounding whitespace (a key file's trailing
    newline) stripped; control or non-ASCII characters are a ``ValueError`` that never shows the key.

    >>> clean_api_key("sk-abc\\n").get_secret_value()
    'sk-abc'
    >>> clean_api_key("sk-a\\r\\nX-Evil: 1")
    Traceback (most recent call last):
    ValueError: api_key has a character that cannot be sent in an HTTP header (U+000D at position 5 of 15; \
the key itself is not shown)
    """
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise ValueError(f"api_key must be a string, not {type(raw).__name__}")
    key = raw.strip()
    if not key:
        raise ValueError("api_key is empty (or only whitespace)")
    if not _HEADER_SAFE.fullmatch(key):
        pos = next(i for i, c in enumerate(key) if not " " <= c <= "~")
        raise ValueError(f"api_key has a character that cannot be sent in an HTTP header (U+{ord(key[pos]):04X} at "
                         f"position {pos + 1} of {len(key)}; the key itself is not shown)")
    return SecretStr(key)


def _known_keys() -> set[str]:
    keys = set(LocalSettings.model_fields)
    for names in _FIELD_KEYS.values():
        keys.update(n.lower() for n in names)
    return keys


def check_known_keys(values: Any, source: str, what: str) -> None:
    """A misspelled setting is an error naming the nearest valid one, not a silent no-op."""
    if not isinstance(values, dict):
        return
    known = _known_keys()
    unknown = [k for k in values if str(k).lower() not in known]
    if unknown:
        raise unknown_key_error(str(unknown[0]), sorted(LocalSettings.model_fields), source, what)


def unknown_key_error(key: str, valid: Sequence[str], source: str, what: str) -> ConfigurationError:
    """``ConfigurationError`` for an unknown argument or key, suggesting the closest valid name.

    >>> str(unknown_key_error("read_timout", ["read_timeout", "cooldown"], "argument", "LocalSettings"))
    "unknown setting 'read_timout' (from argument to LocalSettings). did you mean 'read_timeout'?"
    """
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(valid)}"
    return ConfigurationError(f"unknown setting {key!r} (from {source} to {what})", hint=hint)


def _settings_error(exc: SettingsError) -> ConfigurationError:
    match = re.search(r'field "(\w+)"', str(exc))
    field = match.group(1) if match else "settings"
    name = _FIELD_KEYS.get(field, (f"PATINOX_{field.upper()}",))[0]
    return ConfigurationError(f"invalid setting {field} (from environment variable {name}): not valid JSON",
                              hint=f"fix or unset {name}: it must be a JSON object")


__all__ = [
    "Endpoint",
    "LocalSettings",
    "ProviderKind",
    "parse_endpoint_url",
    "parse_kind",
    "parse_lmstudio_url",
    "parse_ollama_host",
    "redact",
    "split_credentials",
]

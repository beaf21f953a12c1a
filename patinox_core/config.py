"""Settings: explicit argument > environment > config file > default.

``LocalSettings`` reads ``PATINOX_*`` plus the variables other tools already use (``OLLAMA_HOST`` in
all its spellings, ``OLLAMA_BASE_URL``, ``LM_STUDIO_API_BASE``, ``LMSTUDIO_BASE_URL``) and a TOML
file (``./patinox.toml`` or ``$XDG_CONFIG_HOME/patinox/config.toml``). A bad value raises
``ConfigurationError`` naming the field and where the value came from. Credentials embedded in URLs
(``http://user:pass@host``) are split off into ``LocalSettings.credentials`` and never shown.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from .errors import ConfigurationError
from .kinds import KINDS, ProviderKind, parse_kind, spec_for_kind
from .redaction import redact, register_secret
from .request_checks import check_header_name
from .urls import (
    check_base_url,
    hide_url_credentials,
    join_credentials,
    parse_endpoint_url,
    parse_keeping_credentials,
    parse_lmstudio_url,
    parse_ollama_host,
    parse_url_for,
    split_credentials,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Each kind's URL field of ``LocalSettings`` and the names it is read from, in precedence order.
_URL_SPECS = {s.settings_field: s for s in KINDS if s.settings_field}
_FIELD_KEYS = {field: (f"PATINOX_{field.upper()}", *s.env_vars) for field, s in _URL_SPECS.items()}
_FIELD_KEYS["ollama_api_key"] = ("PATINOX_OLLAMA_API_KEY", "OLLAMA_API_KEY")
#: LM Studio's API token: ours, then the variable LM Studio's own SDKs read.
_FIELD_KEYS["lmstudio_api_token"] = ("PATINOX_LMSTUDIO_API_TOKEN", "LM_API_TOKEN")


# --------------------------------------------------------------------------- settings


class Endpoint(BaseModel):
    """An extra server: its URL and, optionally, which kind it is (else discovery fingerprints it).
    ``gateway``: a URL in front of several engines (a LiteLLM proxy, llm-d, Ray Serve, KServe, a load
    balancer): patinox treats it as one server and never asks it for an engine's admin endpoints.
    ``max_concurrency``: how many requests it serves at once (else what the server reports, else
    its kind's default). ``affinity_header``: the header this server gets each conversation's
    key in (None: the global ``affinity_header`` if it is a gateway, none otherwise; ``""``: never)."""

    url: str
    kind: ProviderKind | None = None
    gateway: bool = False
    max_concurrency: int | None = Field(default=None, ge=1, le=4096)
    affinity_header: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return None if v in (None, "") else _as_value_error(parse_kind, v)

    @field_validator("affinity_header", mode="before")
    @classmethod
    def _affinity_header(cls, v: Any) -> Any:
        return None if v is None else check_header_name(v)


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
    ollama_url: str | None = Field(default=None, validation_alias=AliasChoices(*_FIELD_KEYS["ollama_url"]))
    lmstudio_url: str | None = Field(default=None, validation_alias=AliasChoices(*_FIELD_KEYS["lmstudio_url"]))
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
    ollama_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "ollama_api_key", *_FIELD_KEYS["ollama_api_key"]), repr=False)
    lmstudio_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("lmstudio_api_token", *_FIELD_KEYS["lmstudio_api_token"]),
        repr=False)
    context_guard: Literal["warn", "raise", "off"] = "warn"
    embed_batch_size: int = Field(default=256, ge=1, le=4096)
    affinity_header: str = "x-session-id"  # a gateway gets each conversation's key in it ("" : none)
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
    @field_validator(*_URL_SPECS, mode="before")
    @classmethod
    def _kind_url(cls, v: Any, info: ValidationInfo) -> Any:
        """A kind's URL field, parsed with that kind's default port and ``/v1`` rule."""
        if v is None:
            return None
        spec = _URL_SPECS[str(info.field_name)]
        return parse_keeping_credentials(str(v), lambda url, source: parse_url_for(spec, url, source=source),
                                         str(info.field_name))

    @field_validator("endpoints", mode="before")
    @classmethod
    def _endpoints(cls, v: Any) -> Any:
        eps = [] if v is None else _as_value_error(_parse_endpoints, v)
        for ep in eps:
            if isinstance(ep, dict) and isinstance(ep.get("url"), str):
                ep["url"] = parse_keeping_credentials(ep["url"], parse_endpoint_url, "endpoints")
        return eps

    @model_validator(mode="after")
    def _split_credentials(self) -> LocalSettings:
        """Move ``user:pass@`` out of every URL into ``credentials`` (keyed by the clean URL)."""
        def take(url: str) -> str:
            clean, userinfo = split_credentials(url)
            if userinfo:
                self.credentials[clean] = SecretStr(userinfo)
            return clean

        for field in _URL_SPECS:
            if url := getattr(self, field):
                setattr(self, field, take(url))
        for ep in self.endpoints:
            ep.url = take(ep.url)
        return self

    @field_validator("api_key", "ollama_api_key", "lmstudio_api_token", mode="before")
    @classmethod
    def _api_key(cls, v: Any) -> Any:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw is None or (isinstance(raw, str) and not raw.strip()):  # ``export PATINOX_API_KEY=``: no key
            return None
        return clean_api_key(v)

    @model_validator(mode="after")
    def _register_secrets(self) -> LocalSettings:
        """Every secret these settings hold is redacted from all text patinox produces."""
        for key in (self.api_key, self.ollama_api_key, self.lmstudio_api_token):
            if key is not None:
                register_secret(key.get_secret_value())
        for cred in self.credentials.values():
            register_secret(cred.get_secret_value())
        return self

    @field_validator("affinity_header", mode="before")
    @classmethod
    def _affinity_header(cls, v: Any) -> Any:
        return "" if v is None else check_header_name(v)

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
        return self.ollama_url or str(spec_for_kind(ProviderKind.OLLAMA).default_url)

    @property
    def effective_lmstudio_url(self) -> str:
        return self.lmstudio_url or str(spec_for_kind(ProviderKind.LMSTUDIO).default_url)

    def configured_urls(self) -> list[tuple[str, ProviderKind | None]]:
        """URLs the user named (any host), with their kind when known, in a fixed order."""
        out: list[tuple[str, ProviderKind | None]] = [
            (url, spec.family) for field, spec in _URL_SPECS.items() if (url := getattr(self, field))]
        out.extend((ep.url, ep.kind) for ep in self.endpoints)
        return out

    def is_gateway(self, base_url: str) -> bool:
        """Whether the user marked ``base_url`` as a gateway (``endpoints`` entry ``gateway: true``).

        >>> LocalSettings(endpoints=[{"url": "http://gw:4000", "gateway": True}]).is_gateway("http://gw:4000/")
        True
        """
        return base_url.rstrip("/") in {ep.url.rstrip("/") for ep in self.endpoints if ep.gateway}

    def max_concurrency_for(self, base_url: str) -> int | None:
        """The ``max_concurrency`` configured for the endpoint at ``base_url``, if any."""
        url = base_url.rstrip("/")
        return next((ep.max_concurrency for ep in self.endpoints if ep.url.rstrip("/") == url), None)

    def _ollama_urls(self) -> set[str]:
        """The Ollama URLs the user configured (``ollama_url``, endpoints of kind ollama)."""
        return {u.rstrip("/") for u, kind in self.configured_urls() if kind is ProviderKind.OLLAMA}

    def affinity_header_for(self, base_url: str, gateway: bool) -> str | None:
        """The header the server at ``base_url`` gets a conversation's key in: the endpoint's own
        ``affinity_header``, else the global one for a gateway; None for none.

        >>> s = LocalSettings(endpoints=[{"url": "http://gw:4000", "gateway": True},
        ...                              {"url": "http://smg:30000", "affinity_header": "x-smg-routing-key"}])
        >>> s.affinity_header_for("http://gw:4000", True), s.affinity_header_for("http://smg:30000", False)
        ('x-session-id', 'x-smg-routing-key')
        >>> s.affinity_header_for("http://box:11434", False) is None
        True
        """
        url = base_url.rstrip("/")
        own = next((ep.affinity_header for ep in self.endpoints if ep.url.rstrip("/") == url), None)
        name = own if own is not None else self.affinity_header if gateway else ""
        return name or None

    def auth_headers(self, base_url: str) -> dict[str, str]:
        """Headers for a server: Basic auth from URL credentials, else Bearer ``ollama_api_key``
        (``OLLAMA_API_KEY``) for a configured Ollama URL (``OLLAMA_HOST=https://ollama.com``), else
        Bearer ``lmstudio_api_token`` (``LM_API_TOKEN``) for LM Studio (``lmstudio_urls``), else
        Bearer ``api_key``. Keys go only to servers the user named (never to an unconfigured
        loopback default that discovery found: any local process may listen on 11434 or 1234), except
        the LM Studio token, which also goes to LM Studio's loopback default."""
        cred = self.credentials.get(base_url)
        if cred is not None:
            import base64

            token = base64.b64encode(cred.get_secret_value().encode()).decode()
            return {"Authorization": f"Basic {token}"}
        url = base_url.rstrip("/")
        if self.ollama_api_key is not None and url in self._ollama_urls():
            return {"Authorization": f"Bearer {self.ollama_api_key.get_secret_value()}"}
        if self.lmstudio_api_token is not None and url in self.lmstudio_urls():
            return {"Authorization": f"Bearer {self.lmstudio_api_token.get_secret_value()}"}
        if self.api_key is not None and url in {u.rstrip("/") for u, _ in self.configured_urls()}:
            return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}
        return {}

    def lmstudio_urls(self) -> set[str]:
        """Where ``lmstudio_api_token`` goes: the LM Studio URL (configured, else its loopback default)
        and every endpoint of kind ``lmstudio``.

        >>> sorted(LocalSettings(endpoints=["lmstudio=http://box:1234", "http://gpu:8000"]).lmstudio_urls())
        ['http://127.0.0.1:1234', 'http://box:1234']
        """
        urls = {self.effective_lmstudio_url.rstrip("/")}
        urls.update(ep.url.rstrip("/") for ep in self.endpoints if ep.kind is ProviderKind.LMSTUDIO)
        return urls


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


_parse_keeping_credentials = parse_keeping_credentials  # the name pinning.py used

__all__ = [
    "Endpoint",
    "check_header_name",
    "check_base_url",
    "hide_url_credentials",
    "join_credentials",
    "LocalSettings",
    "ProviderKind",
    "parse_endpoint_url",
    "parse_kind",
    "parse_lmstudio_url",
    "parse_ollama_host",
    "redact",
    "split_credentials",
]

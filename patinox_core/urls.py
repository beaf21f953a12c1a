"""Server addresses: every spelling of a URL to a base URL, and credentials kept apart from it.

``parse_host`` normalises one address (scheme, host, IPv6, bind-all, port, path) and refuses API
paths; ``parse_url_for`` applies a server kind's default port and ``/v1`` rule from its
``KindSpec``. ``user:pass@`` is split off (``split_credentials``) before any URL is shown.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from .errors import ConfigurationError
from .kinds import KindSpec, ProviderKind, spec_for_kind


def split_credentials(url: str, *, decode: bool = True) -> tuple[str, str | None]:
    """Remove ``user:pass@`` from a URL; return (clean URL, ``"user:pass"`` or None), percent-decoded
    unless ``decode=False`` (as written: it can go back into a URL).

    >>> split_credentials("http://bob:s3cret@box.lan:11434/x")
    ('http://box.lan:11434/x', 'bob:s3cret')
    >>> split_credentials("http://bob:a%2Fb@box.lan"), split_credentials("http://bob:a%2Fb@box.lan", decode=False)
    (('http://box.lan', 'bob:a/b'), ('http://box.lan', 'bob:a%2Fb'))
    >>> split_credentials("http://box.lan:1234")
    ('http://box.lan:1234', None)
    >>> split_credentials("bob:pw@box.lan:11434")  # no scheme, as OLLAMA_HOST allows
    ('box.lan:11434', 'bob:pw')
    """
    if "://" not in url and "@" in url:  # urlsplit would read "bob:" as a scheme
        clean, userinfo = split_credentials("http://" + url, decode=decode)
        return clean.removeprefix("http://"), userinfo
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=hostport).geturl(), unquote(userinfo) if decode else userinfo


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


def _port_of(hostport: str, source: str, raw: str | None) -> tuple[str, int | None]:
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


def parse_url_for(spec: KindSpec, value: str | None, *, source: str) -> str:
    """A server address for a kind of server: its default port when none is given, and without the
    OpenAI ``/v1`` suffix where the kind's URLs are written with one (credentials split off first).

    >>> parse_url_for(spec_for_kind(ProviderKind.LMSTUDIO), "http://localhost:1234/v1", source="x")
    'http://localhost:1234'
    """
    url = parse_host(value, default_port=spec.default_port, source=source)
    return url[: -len("/v1")] if spec.strip_v1 and url.endswith("/v1") else url


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
    return parse_url_for(spec_for_kind(ProviderKind.OLLAMA), value, source=source)


def parse_lmstudio_url(value: str | None, *, source: str = "LM_STUDIO_API_BASE") -> str:
    """An LM Studio base URL without the OpenAI ``/v1`` suffix.

    >>> parse_lmstudio_url("http://localhost:1234/v1"), parse_lmstudio_url(":4321")
    ('http://localhost:1234', 'http://127.0.0.1:4321')
    """
    return parse_url_for(spec_for_kind(ProviderKind.LMSTUDIO), value, source=source)


def parse_endpoint_url(value: str, *, source: str = "PATINOX_ENDPOINTS") -> str:
    """A generic endpoint URL (OpenAI-compatible servers default to port 8080), ``/v1`` stripped.

    >>> parse_endpoint_url("127.0.0.1:8081/v1/")
    'http://127.0.0.1:8081'
    """
    return parse_url_for(spec_for_kind(ProviderKind.OPENAI_COMPATIBLE), value, source=source)


def parse_keeping_credentials(url: str, parser: Callable[..., str], source: str) -> str:
    """Normalise a URL with ``parser`` but keep its ``user:pass@`` as written (``LocalSettings`` splits
    it off into its secrets after validation); a ``ConfigurationError`` becomes a ``ValueError``.

    >>> parse_keeping_credentials("http://bob:a%2Fb@box.lan", parse_ollama_host, "ollama_url")
    'http://bob:a%2Fb@box.lan:80'
    """
    clean, userinfo = split_credentials(url.strip().strip("\"'"), decode=False)  # still encoded: it goes back
    try:
        parsed = parser(clean, source=source)
    except ConfigurationError as exc:
        raise ValueError(exc.message + (f"; {exc.hint}" if exc.hint else "")) from None
    return join_credentials(parsed, userinfo) or parsed


__all__ = [
    "API_PATHS",
    "check_base_url",
    "hide_url_credentials",
    "join_credentials",
    "parse_endpoint_url",
    "parse_host",
    "parse_keeping_credentials",
    "parse_lmstudio_url",
    "parse_ollama_host",
    "parse_url_for",
    "split_credentials",
]

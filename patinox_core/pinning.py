"""Pinning an adapter to one server: the ``LocalSettings`` behind ``base_url=``/``provider=``.

Both framework adapters (LangChain and LlamaIndex) build their settings here, so a pinned model
is answered by its pinned server only: the URL becomes the only endpoint, the URLs the environment
or config file name (``OLLAMA_HOST``, ``LM_STUDIO_API_BASE``, ``PATINOX_ENDPOINTS``, ...) are
cleared and the loopback defaults are not probed.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from .config import (
    LocalSettings,
    ProviderKind,
    _parse_keeping_credentials,
    check_base_url,
    parse_endpoint_url,
    parse_kind,
    parse_lmstudio_url,
    parse_ollama_host,
)

#: A pinned URL without a port gets its kind's usual one (Ollama 11434, LM Studio 1234, else 8080).
_PARSERS = {ProviderKind.OLLAMA: parse_ollama_host, ProviderKind.LMSTUDIO: parse_lmstudio_url}


def pinned_settings(
    *,
    base_url: str | None,
    provider: ProviderKind | str | None,
    api_key: SecretStr | None = None,
    read_timeout: float | None = None,
    max_retries: int | None = None,
) -> LocalSettings:
    """``LocalSettings`` for an adapter's ``base_url``/``provider`` fields.

    ``base_url`` pins one server: it becomes the only endpoint (kind from ``provider``, else
    fingerprinted) and nothing else is probed, whatever the environment says. ``provider`` alone
    restricts discovery to that kind. ``read_timeout`` is the adapter's ``timeout`` (what it means,
    a cold load included: ``patinox_core.timeouts``). Everything not given comes from the
    environment / config file as usual.

    >>> s = pinned_settings(base_url="box.lan", provider="ollama")
    >>> s.configured_urls(), s.discover_defaults
    ([('http://box.lan:11434', <ProviderKind.OLLAMA: 'ollama'>)], False)
    """
    values: dict[str, Any] = {}
    kind = parse_kind(provider) if provider else None
    if base_url:
        check_base_url(base_url)
        endpoint_kind = kind if kind not in (None, ProviderKind.LOCAL) else None
        parser = _PARSERS.get(endpoint_kind, parse_endpoint_url)  # type: ignore[arg-type]
        url = _parse_keeping_credentials(base_url, parser, "base_url")
        values.update(endpoints=[{"url": url, "kind": endpoint_kind}], discover_defaults=False,
                      ollama_url=None, lmstudio_url=None)
    if kind is not None:
        values["provider"] = kind
    if read_timeout is not None:
        values["read_timeout"] = read_timeout
    if max_retries is not None:
        values["max_retries"] = max_retries
    if api_key is not None:
        values["api_key"] = api_key
    return LocalSettings(**values)


__all__ = ["pinned_settings"]

"""Pinning an adapter to one server: the ``LocalSettings`` behind ``base_url=``/``provider=``.

Both framework adapters (LangChain and LlamaIndex) build their settings here, so a pinned model
is answered by its pinned server only: the URL becomes the only endpoint, the URLs the environment
or config file name (``OLLAMA_HOST``, ``LM_STUDIO_API_BASE``, ``PATINOX_ENDPOINTS``, ...) are
cleared and the loopback defaults are not probed.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from .config import LocalSettings
from .kinds import ProviderKind, parse_kind, spec_for_kind
from .urls import check_base_url, parse_url_for


def pinned_settings(
    *,
    base_url: str | None,
    provider: ProviderKind | str | None,
    credentials: SecretStr | None = None,
    api_key: SecretStr | None = None,
    read_timeout: float | None = None,
    max_retries: int | None = None,
) -> LocalSettings:
    """``LocalSettings`` for an adapter's ``base_url``/``provider`` fields.

    ``base_url`` pins one server: it becomes the only endpoint (kind from ``provider``, else
    fingerprinted) and nothing else is probed, whatever the environment says. ``provider`` alone
    restricts discovery to that kind. ``read_timeout`` is the adapter's ``timeout`` (what it means,
    a cold load included: ``patinox_core.timeouts``). ``base_url`` comes without ``user:pass@``:
    the adapter's field validator split it off once into ``credentials``, which go straight into the
    settings' secrets. Everything not given comes from the environment / config file as usual.

    >>> s = pinned_settings(base_url="box.lan", provider="ollama")
    >>> s.configured_urls(), s.discover_defaults
    ([('http://box.lan:11434', <ProviderKind.OLLAMA: 'ollama'>)], False)
    """
    values: dict[str, Any] = {}
    kind = parse_kind(provider) if provider else None
    if base_url:
        check_base_url(base_url)
        endpoint_kind = kind if kind not in (None, ProviderKind.LOCAL) else None
        spec = spec_for_kind(endpoint_kind or ProviderKind.OPENAI_COMPATIBLE)  # its port when none is given
        url = parse_url_for(spec, base_url.strip().strip("\"'"), source="base_url")
        values.update(endpoints=[{"url": url, "kind": endpoint_kind}], discover_defaults=False,
                      ollama_url=None, lmstudio_url=None)
        if credentials is not None:  # already split off by the adapter's field validator: never rejoined
            values["credentials"] = {url: credentials}
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

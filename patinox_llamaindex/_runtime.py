"""The runtime state shared by ``Patinox`` and ``PatinoxEmbedding``: the lazily built
``LocalProvider``, the server-pinning fields, and the rule that ``local_provider=``/``settings=``
exclude them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from patinox_core.config import LocalSettings, ProviderKind, hide_url_credentials, parse_kind
from patinox_core.errors import ConfigurationError
from patinox_core.pinning import pinned_settings

if TYPE_CHECKING:
    from patinox_core.capabilities import ModelInfo
    from patinox_core.router import LocalProvider

_CREATE_LOCK = threading.Lock()  # guards the lazy creation of a LocalProvider


class _Runtime:
    """An adapter's runtime state: its ``LocalProvider``, explicit settings, resolved model.

    A copy (``copy.deepcopy``, ``model_copy``) shares the provider; resolved entries are keyed by
    the ``model`` field, so a copy with another model never reports this one's metadata. Pickling
    (LlamaIndex's multiprocess ingestion) keeps only the settings: the unpickled adapter builds a
    fresh provider in its own process.
    """

    __slots__ = ("info", "local", "payload", "settings")

    def __init__(self, local: LocalProvider | None = None, settings: LocalSettings | None = None) -> None:
        self.local = local
        self.settings = settings
        # model field value -> its catalogue entry (a shallow copy with another model shares this)
        self.info: dict[str | None, ModelInfo] = {}
        # (catalogue entry, the fields metadata reads, to_payload()'s dict): LlamaIndex asks every call
        self.payload: tuple[ModelInfo | None, tuple[Any, ...], dict[str, Any]] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _Runtime:
        return _Runtime(self.local, self.settings)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Runtime, (None, self.settings))

    def provider(self, build: Any) -> LocalProvider:
        """The provider, built once with ``build(settings)`` (no network I/O)."""
        if self.local is None:
            with _CREATE_LOCK:
                if self.local is None:
                    self.local = build(self.settings)
        return self.local


class PinnedServer(BaseModel):
    """The server-pinning fields shared by ``Patinox`` and ``PatinoxEmbedding``."""

    base_url: str | None = Field(default=None, description="Pin one server (nothing else is probed).")
    base_url_credentials: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """``user:pass`` split off ``base_url`` (never shown or serialized)."""

    @model_validator(mode="before")
    @classmethod
    def _hide_url_credentials(cls, data: Any) -> Any:
        return hide_url_credentials(data)

    provider: ProviderKind | None = Field(default=None, description="Only use servers of this kind.")

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_kind(cls, v: Any) -> Any:
        return None if v in (None, "") else parse_kind(v)


def build_local_provider(adapter: Any, settings: LocalSettings | None) -> LocalProvider:
    """The ``LocalProvider`` of an adapter (``Patinox`` or ``PatinoxEmbedding``): ``settings`` if
    given, else settings pinned by its ``base_url``/``provider``/``timeout``/``max_retries``/``api_key``."""
    from patinox_core.router import LocalProvider

    return LocalProvider(settings or pinned_settings(
        base_url=adapter.base_url,
        credentials=adapter.base_url_credentials,
        provider=adapter.provider,
        read_timeout=adapter.timeout,
        max_retries=adapter.max_retries,
        api_key=adapter.api_key,
    ))


def _check_exclusive(adapter: Any, local_provider: Any, settings: Any) -> None:
    """``local_provider=``/``settings=`` carry their own server and timeout choices."""
    names = ("base_url", "provider", "timeout", "max_retries", "api_key")
    pinned = [n for n in names if getattr(adapter, n) is not None]
    given = [n for n, v in (("local_provider", local_provider), ("settings", settings)) if v is not None]
    if len(given) > 1 or (given and pinned):
        raise ConfigurationError(
            f"{given[0]}= cannot be combined with {', '.join(n + '=' for n in (given[1:] + pinned))}",
            hint="put servers, timeouts and retries in the LocalSettings / LocalProvider itself",
        )


__all__ = ["PinnedServer", "build_local_provider"]

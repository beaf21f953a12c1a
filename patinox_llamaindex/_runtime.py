"""The runtime state shared by ``Patinox`` and ``PatinoxEmbedding``: the lazily built
``LocalProvider``, the server-pinning fields, the rule that ``local_provider=``/``settings=``
exclude them, and ``requires=`` (the model chosen by requirement, once, kept under the key ``None``
of ``_Runtime.info``: the ``model`` field such an adapter has)."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from patinox_core.errors import ConfigurationError
from patinox_core.kinds import ProviderKind, parse_kind
from patinox_core.requirements import Requirements, as_requirements
from patinox_core.urls import hide_url_credentials

if TYPE_CHECKING:
    from patinox_core.capabilities import ModelInfo
    from patinox_core.config import LocalSettings
    from patinox_core.router import LocalProvider

T = TypeVar("T")
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


class RequiresField(BaseModel):
    """``requires=``: choose the model by what it must do (docs/choosing.md)."""

    requires: Requirements | None = Field(
        default=None, description="Choose the model by requirement instead of naming it: Requirements, a dict of "
        "its keys ({'tools': True, 'min_context': 32768}) or text ('tools, ctx>=32k'); chosen once, at first use.")

    @field_validator("requires", mode="before")
    @classmethod
    def _requires(cls, v: Any) -> Any:
        return as_requirements(v)  # a ConfigurationError naming the nearest key

    @model_validator(mode="after")
    def _model_or_requires(self) -> RequiresField:
        if self.requires is not None and (getattr(self, "model", None) or getattr(self, "model_name", None)):
            raise ConfigurationError(f"{type(self).__name__} got both a model name and requires=",
                                     hint="name the model, or say what it must do with requires=, not both")
        return self


def choice_pending(adapter: Any, kwargs: dict[str, Any] | None = None) -> bool:
    """``requires`` is set, the choice not made yet, and no per-call ``model=`` makes it moot."""
    return adapter.requires is not None and None not in adapter._rt.info and not (kwargs or {}).get("model")


def _requirements(adapter: Any, embeddings: bool) -> Requirements:
    req: Requirements = adapter.requires
    return req.model_copy(update={"embeddings": True}) if embeddings else req


def choose(adapter: Any, embeddings: bool = False) -> ModelInfo:
    """Make the ``requires=`` choice now (network I/O) and keep it (``metadata`` reads it)."""
    info: ModelInfo = adapter.local_provider.select(_requirements(adapter, embeddings)).model
    adapter._rt.info[None] = info
    return info


async def achoose(adapter: Any, embeddings: bool = False) -> ModelInfo:
    info: ModelInfo = (await adapter.local_provider.aselect(_requirements(adapter, embeddings))).model
    adapter._rt.info[None] = info
    return info


def chosen_name(adapter: Any) -> str | None:
    info = adapter._rt.info.get(None) if adapter.requires is not None else None
    return info.name if info is not None else None


def _named(adapter: Any) -> str | None:
    return getattr(adapter, "model", None) or getattr(adapter, "model_name", None)


def own_model(adapter: Any, kwargs: dict[str, Any] | None = None, *, embeddings: bool = False) -> str | None:
    """The adapter's model: its name, else the ``requires=`` choice (made now when still pending
    and no per-call ``model=`` is given), else None (the router's default)."""
    if adapter.requires is not None and choice_pending(adapter, kwargs):
        choose(adapter, embeddings)
    return _named(adapter) or chosen_name(adapter)


async def chosen_first(adapter: Any, kwargs: dict[str, Any], stream: Callable[[], AsyncIterator[T]],
                       ) -> AsyncGenerator[T, None]:
    """``stream()``'s items, after making the ``requires=`` choice without blocking the event loop."""
    await aown_model(adapter, kwargs)
    async for item in stream():
        yield item


async def aown_model(adapter: Any, kwargs: dict[str, Any] | None = None, *, embeddings: bool = False) -> str | None:
    """Async ``own_model``."""
    if choice_pending(adapter, kwargs):
        await achoose(adapter, embeddings)
    return _named(adapter) or chosen_name(adapter)


def build_local_provider(adapter: Any, settings: LocalSettings | None) -> LocalProvider:
    """The ``LocalProvider`` of an adapter (``Patinox`` or ``PatinoxEmbedding``): ``settings`` if
    given, else settings pinned by its ``base_url``/``provider``/``timeout``/``max_retries``/``api_key``."""
    from patinox_core.pinning import pinned_settings  # deferred: LocalSettings costs ~4 ms at import
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


__all__ = ["PinnedServer", "RequiresField", "achoose", "aown_model", "build_local_provider", "choice_pending",
           "choose", "chosen_first", "chosen_name", "own_model"]

"""One exception tree for everything a user of patinox can see.

Every error carries ``.recovery`` (what to do about it), ``.service`` (base URL, credentials
removed), ``.model``, ``.status_code`` (``None`` when no HTTP status applies) and a message that
ends with a concrete hint. httpx and json exceptions never escape: ``transport.py`` maps them here,
always ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from .safe_text import MESSAGE_LIMIT, server_text


class RecoveryStrategy(str, Enum):
    """What the caller (or the router) should do about an error."""

    RETRY = "retry"  # try again later, same server
    FALLBACK = "fallback"  # another server with the same model can serve it
    PULL_MODEL = "pull_model"  # the model is not installed: `ollama pull` / `lms get`
    LOAD_MODEL = "load_model"  # installed but not loaded (LM Studio with JIT off): `lms load`
    REDUCE_INPUT = "reduce_input"  # the prompt does not fit the context
    FIX_CONFIG = "fix_config"  # a setting or argument is wrong
    NONE = "none"  # nothing automatic helps


class LocalProviderError(Exception):
    """Root of every patinox error.

    >>> err = LocalProviderError("boom", hint="do the thing", service="http://127.0.0.1:11434")
    >>> str(err)
    'boom (service http://127.0.0.1:11434). do the thing'
    """

    default_recovery: RecoveryStrategy = RecoveryStrategy.NONE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        recovery: RecoveryStrategy | None = None,
        service: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        attempts: Sequence[LocalProviderError] = (),
    ) -> None:
        self.message = server_text(message, MESSAGE_LIMIT * 2)  # may quote a server: escaped, capped
        self.hint = None if hint is None else server_text(hint, MESSAGE_LIMIT)
        self.body: Any = None  # the server's whole reply when the error came from one (unescaped)
        self.recovery = recovery if recovery is not None else self.default_recovery
        self.service = service
        self.model = model
        self.status_code = status_code
        self.attempts: tuple[LocalProviderError, ...] = tuple(attempts)
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.service and self.service not in text:
            text += f" (service {self.service})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, recovery={self.recovery.value}, "
            f"service={self.service!r}, model={self.model!r}, status_code={self.status_code!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (multiprocessing, pytest-xdist)
        # the state goes third, so pickle memoizes the error before it: the router's final error sits
        # in its own ``.attempts``, a cycle only this form can carry
        return (_rebuild, (type(self), str(self)), self.__dict__.copy())


def _rebuild(cls: type[LocalProviderError], message: str) -> LocalProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


class ServiceUnavailableError(LocalProviderError):
    """The server cannot be reached (refused, reset, DNS) or reports itself busy/down."""

    default_recovery = RecoveryStrategy.FALLBACK


class ModelNotFoundError(LocalProviderError):
    """The model is not installed on any server that was asked."""

    default_recovery = RecoveryStrategy.PULL_MODEL


class ModelNotLoadedError(LocalProviderError):
    """The model exists but the server will not load it on demand (LM Studio with JIT off)."""

    default_recovery = RecoveryStrategy.LOAD_MODEL


class CapabilityError(LocalProviderError):
    """The model cannot do what the request asks (tools, images, thinking, embeddings, chat)."""

    default_recovery = RecoveryStrategy.NONE


class ContextOverflowError(LocalProviderError):
    """The input does not fit the model's (allocated) context window."""

    default_recovery = RecoveryStrategy.REDUCE_INPUT


class RequestTimeoutError(LocalProviderError):
    """Connect, read or cold-load timeout elapsed."""

    default_recovery = RecoveryStrategy.RETRY


class TotalDeadlineError(RequestTimeoutError):
    """The server kept sending, but too slowly to finish within the call's total deadline
    (``total_timeout``): a dripping or stuck peer, never mistaken for a busy one."""


class ServerError(LocalProviderError):
    """The server failed (5xx, 429, a runner crash, an error line mid-stream)."""

    default_recovery = RecoveryStrategy.RETRY


class ServerBusyError(ServiceUnavailableError, ServerError):
    """Every server that has the model stayed busy (their slots full, or answering 503/429) until the
    request's deadline (``total_timeout``) ran out. A ``ServiceUnavailableError`` and a
    ``ServerError`` both, so ``except`` clauses written for a 503 or a 429 keep catching it.
    ``retry_after`` is the delay the last busy server asked for, in seconds, when it said."""

    default_recovery = RecoveryStrategy.RETRY

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InvalidResponseError(LocalProviderError):
    """The server answered something patinox cannot read (malformed JSON, truncated stream)."""

    default_recovery = RecoveryStrategy.RETRY


class ConfigurationError(LocalProviderError):
    """A setting, argument or environment variable has a bad value."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


class AuthenticationError(ConfigurationError):
    """The server refused the request for want of credentials (HTTP 401/403): set a key, or sign in
    where the server says (Ollama cloud models: ``ollama signin``)."""


class PullError(ServerError):
    """A pull or download failed or was stopped; ``left_on_server`` says what stays on the server
    (partial layers, a download job still running) and how to finish or clear it."""

    default_recovery = RecoveryStrategy.RETRY

    def __init__(self, message: str, *, left_on_server: str | None = None, **kwargs: Any) -> None:
        self.left_on_server = left_on_server
        super().__init__(message, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        return f"{text}. Left on the server: {self.left_on_server}" if self.left_on_server else text


class DiskFullError(PullError):
    """The server ran out of disk space during a pull (its own error text, escaped and capped)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


class RegistryModelNotFoundError(ModelNotFoundError):
    """A pull asked for a name the registry does not have (a typo, a tag that does not exist)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


class InsufficientMemoryError(ServerError):
    """The server cannot load the model: not enough (V)RAM for its weights and context. Another
    server with the model may have the room (FALLBACK); this one is not failing (no cooldown).
    A ``ServerError``, so ``except ServerError`` written for an out-of-memory 500 keeps catching it."""

    default_recovery = RecoveryStrategy.FALLBACK


class EmbeddedServerError(LocalProviderError):
    """``patinox serve`` could not set up, start or stop the embedded model server (the message says why
    and what to do: install a compiler, free the port, read the build log)."""

    default_recovery = RecoveryStrategy.FIX_CONFIG


class SetupImpossibleError(EmbeddedServerError):
    """This machine cannot build the embedded server (no C/C++ compiler): say what to install."""


#: Recoveries for which the router tries the next server that has the model.
FALLBACK_RECOVERIES = frozenset({RecoveryStrategy.RETRY, RecoveryStrategy.FALLBACK})

_ACTIONABILITY = {  # higher = more useful to show when every attempt failed
    ModelNotFoundError: 6,
    RegistryModelNotFoundError: 6,
    InsufficientMemoryError: 5,
    DiskFullError: 5,
    PullError: 4,
    ModelNotLoadedError: 6,
    CapabilityError: 5,
    ContextOverflowError: 5,
    ConfigurationError: 5,
    InvalidResponseError: 4,
    ServerError: 3,
    ServerBusyError: 2,
    RequestTimeoutError: 2,
    ServiceUnavailableError: 1,
}


def should_fall_back(err: LocalProviderError) -> bool:
    """True when another server holding the same model may succeed."""
    return err.recovery in FALLBACK_RECOVERIES


def should_cool_down(err: LocalProviderError) -> bool:
    """True when the *server* failed (unreachable, timed out, 5xx), so the router should rest it.
    A model's bad output (an unreadable reply, ``InvalidResponseError``) is not the server's fault,
    and a busy server (``ServerBusyError``: 503/429) is working, not dead: it gets back-pressure; nor
    is a model too big for its memory (``InsufficientMemoryError``)."""
    if isinstance(err, (ServerBusyError, InsufficientMemoryError)):
        return False
    return isinstance(err, (ServiceUnavailableError, RequestTimeoutError, ServerError))


def most_actionable(attempts: Sequence[LocalProviderError]) -> LocalProviderError:
    """The attempt the user can do most about, carrying every attempt in ``.attempts`` (at least one:
    with none, ``routing.fallback`` says that no server could serve the request)."""
    if not attempts:
        raise ValueError("most_actionable needs at least one attempt")
    best = max(attempts, key=lambda e: _ACTIONABILITY.get(type(e), 0))
    best.attempts = tuple(attempts)
    return best


__all__ = [
    "AuthenticationError",
    "CapabilityError",
    "ConfigurationError",
    "ContextOverflowError",
    "DiskFullError",
    "EmbeddedServerError",
    "InsufficientMemoryError",
    "InvalidResponseError",
    "LocalProviderError",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "PullError",
    "RecoveryStrategy",
    "RegistryModelNotFoundError",
    "RequestTimeoutError",
    "ServerBusyError",
    "ServerError",
    "ServiceUnavailableError",
    "SetupImpossibleError",
    "TotalDeadlineError",
    "most_actionable",
    "should_cool_down",
    "should_fall_back",
]

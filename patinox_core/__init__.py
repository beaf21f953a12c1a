"""patinox core: discovery, model catalogue, routing and wire backends for local LLM servers."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capabilities import Capabilities, ModelInfo, QualityTier, SpeedTier
    from .config import LocalSettings, ProviderKind
    from .discovery import Service, ServiceDiscovery
    from .errors import (
        AuthenticationError,
        CapabilityError,
        ConfigurationError,
        ContextOverflowError,
        DiskFullError,
        EmbeddedServerError,
        InsufficientMemoryError,
        InvalidResponseError,
        LocalProviderError,
        ModelNotFoundError,
        ModelNotLoadedError,
        PullError,
        RecoveryStrategy,
        RegistryModelNotFoundError,
        RequestTimeoutError,
        ServerBusyError,
        ServerError,
        ServiceUnavailableError,
        SetupImpossibleError,
    )
    from .instrumentation import instrument, uninstrument
    from .provisioning.bar import ProgressBar
    from .provisioning.events import ProgressEvent
    from .requirements import Requirements
    from .router import LocalProvider, create_default_provider, ensure_model
    from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Message, Metrics, ToolCall, Usage

# Every public name is imported on first use (PEP 562), so `import patinox_core` costs next to nothing
# and an adapter pays only for the submodules it imports (deferred: the eager imports cost ~20 ms, most
# of it the kinds registry, LocalSettings and the dataclasses, which a first call needs, not an import).
_ERRORS = ("AuthenticationError", "CapabilityError", "ConfigurationError", "ContextOverflowError", "DiskFullError",
           "EmbeddedServerError", "InsufficientMemoryError", "InvalidResponseError", "LocalProviderError",
           "ModelNotFoundError", "ModelNotLoadedError", "PullError", "RecoveryStrategy",
           "RegistryModelNotFoundError", "RequestTimeoutError", "ServerBusyError", "ServerError",
           "ServiceUnavailableError", "SetupImpossibleError")
_LAZY = {
    **dict.fromkeys(("Capabilities", "ModelInfo", "QualityTier", "SpeedTier"), "patinox_core.capabilities"),
    **dict.fromkeys(("LocalSettings", "ProviderKind"), "patinox_core.config"),
    **dict.fromkeys(_ERRORS, "patinox_core.errors"),
    **dict.fromkeys(("instrument", "uninstrument"), "patinox_core.instrumentation"),
    "ProgressEvent": "patinox_core.provisioning.events",
    "Requirements": "patinox_core.requirements",
    **dict.fromkeys(("ChatChunk", "ChatRequest", "ChatResult", "EmbeddingResult", "Message", "Metrics", "ToolCall",
                     "Usage"), "patinox_core.types"),
    **dict.fromkeys(("LocalProvider", "create_default_provider", "ensure_model"), "patinox_core.router"),
    "ProgressBar": "patinox_core.provisioning.bar",
    **dict.fromkeys(("Service", "ServiceDiscovery"), "patinox_core.discovery"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # once: later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'patinox_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AuthenticationError",
    "Capabilities",
    "CapabilityError",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ConfigurationError",
    "ContextOverflowError",
    "DiskFullError",
    "EmbeddedServerError",
    "EmbeddingResult",
    "InsufficientMemoryError",
    "InvalidResponseError",
    "LocalProvider",
    "LocalProviderError",
    "LocalSettings",
    "Message",
    "Metrics",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ProgressBar",
    "ProgressEvent",
    "ProviderKind",
    "PullError",
    "QualityTier",
    "RecoveryStrategy",
    "RegistryModelNotFoundError",
    "RequestTimeoutError",
    "Requirements",
    "ServerBusyError",
    "ServerError",
    "Service",
    "ServiceDiscovery",
    "ServiceUnavailableError",
    "SetupImpossibleError",
    "SpeedTier",
    "ToolCall",
    "Usage",
    "create_default_provider",
    "ensure_model",
    "instrument",
    "uninstrument",
]

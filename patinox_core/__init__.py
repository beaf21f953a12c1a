"""patinox core: discovery, model catalogue, routing and wire backends for local LLM servers."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .capabilities import Capabilities, ModelInfo, QualityTier, SpeedTier
from .config import LocalSettings, ProviderKind
from .errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    EmbeddedServerError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerBusyError,
    ServerError,
    ServiceUnavailableError,
    SetupImpossibleError,
)
from .instrumentation import instrument, uninstrument
from .requirements import Requirements
from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Message, Metrics, ToolCall, Usage

if TYPE_CHECKING:
    from .discovery import Service, ServiceDiscovery
    from .router import LocalProvider, create_default_provider

# Imported on first use, so `import patinox_core` stays cheap (no httpx until a provider is built).
_LAZY = {
    "LocalProvider": "patinox_core.router",
    "create_default_provider": "patinox_core.router",
    "Service": "patinox_core.discovery",
    "ServiceDiscovery": "patinox_core.discovery",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'patinox_core' has no attribute {name!r}")


__all__ = [
    "AuthenticationError",
    "Capabilities",
    "CapabilityError",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ConfigurationError",
    "ContextOverflowError",
    "EmbeddedServerError",
    "EmbeddingResult",
    "InvalidResponseError",
    "LocalProvider",
    "LocalProviderError",
    "LocalSettings",
    "Message",
    "Metrics",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ProviderKind",
    "QualityTier",
    "RecoveryStrategy",
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
    "instrument",
    "uninstrument",
]

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
from .provisioning.events import ProgressEvent
from .requirements import Requirements
from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Message, Metrics, ToolCall, Usage

if TYPE_CHECKING:
    from .discovery import Service, ServiceDiscovery
    from .provisioning.bar import ProgressBar
    from .router import LocalProvider, create_default_provider, ensure_model

# Imported on first use, so `import patinox_core` stays cheap (no httpx until a provider is built).
_LAZY = {
    "LocalProvider": "patinox_core.router",
    "create_default_provider": "patinox_core.router",
    "ensure_model": "patinox_core.router",
    "ProgressBar": "patinox_core.provisioning.bar",
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

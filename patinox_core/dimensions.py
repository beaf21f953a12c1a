"""``dimensions`` asked of an embedding model that ignores it: say so, never silently.

OpenAI-compatible servers such as llama-cpp-python accept ``dimensions`` and return the model's
full vectors anyway (640 for Gemma 3 270M). The vectors are kept as the server sent them (cutting a
vector the model did not train for shortening would change its meaning) and an
``EmbeddingDimensionsWarning`` names the size asked and the size returned. Turn it into an error
with ``warnings.simplefilter("error", EmbeddingDimensionsWarning)``.
"""

from __future__ import annotations

import warnings

from .types import EmbeddingResult


class EmbeddingDimensionsWarning(UserWarning):
    """The server's vectors do not have the ``dimensions`` that were asked for."""


def checked_dimensions(result: EmbeddingResult, asked: int | None) -> EmbeddingResult:
    """``result`` unchanged; warns when its vectors are not ``asked`` long.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     _ = checked_dimensions(EmbeddingResult([[0.1] * 640], model="g", service="http://h"), 8)
    >>> print(seen[0].message)
    asked for 8-dimensional vectors, but g on http://h returned 640: the server ignores `dimensions`. use the \
vectors as they are, drop `dimensions`, or use a model that supports it
    """
    size = len(result.vectors[0]) if result.vectors else None
    if asked is not None and size is not None and size != asked:
        warnings.warn(f"asked for {asked}-dimensional vectors, but {result.model} on {result.service} returned "
                      f"{size}: the server ignores `dimensions`. use the vectors as they are, drop `dimensions`, "
                      "or use a model that supports it", EmbeddingDimensionsWarning, stacklevel=3)
    return result


__all__ = ["EmbeddingDimensionsWarning", "checked_dimensions"]

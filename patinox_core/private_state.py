"""A pydantic model's private attribute, read on a per-call path.

``model._name`` reaches pydantic's ``BaseModel.__getattr__`` only after the normal lookup failed,
and that path raises and catches an ``AttributeError`` of its own on the way (two Python frames and
an exception per read, ~1 µs). The adapters read their per-instance state on every call, so they
read it with ``private``; writes stay ordinary assignments.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def private(model: BaseModel, name: str) -> Any:
    """``model``'s private attribute ``name`` (declared with ``PrivateAttr``).

    >>> from pydantic import PrivateAttr
    >>> class M(BaseModel):
    ...     _state: int = PrivateAttr(default=3)
    >>> private(M(), "_state")
    3
    """
    return model.__pydantic_private__[name]  # type: ignore[index]


__all__ = ["private"]

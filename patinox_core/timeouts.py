"""What a request's ``timeout`` means, for every backend and both adapters.

``timeout`` (``ChatRequest.timeout``, ``ChatPatinox(timeout=)``, ``Patinox(timeout=)`` through
``read_timeout``) is the request timeout: the read timeout of a reply from a model known to be
loaded. A model that may have to load first gets ``max(timeout, cold_load_timeout)``: a short
timeout never cuts a cold load, and a long one is never shortened by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import LocalSettings
    from .transport import TimeoutKind


def read_timeout(settings: LocalSettings, kind: TimeoutKind, timeout: float | None) -> float | None:
    """The read timeout of one request of ``kind`` given the caller's ``timeout`` (``None``: the
    transport's default for ``kind``).

    >>> from patinox_core.config import LocalSettings
    >>> s = LocalSettings(read_timeout=120, cold_load_timeout=600)
    >>> read_timeout(s, "normal", 0.3), read_timeout(s, "cold", 0.3), read_timeout(s, "cold", 900)
    (0.3, 600.0, 900)
    """
    if kind != "cold":
        return timeout
    return max(settings.read_timeout if timeout is None else timeout, settings.cold_load_timeout)


__all__ = ["read_timeout"]

"""Timeouts, chosen per request: the split httpx timeout, the total deadline, and what a request's
``timeout`` means, for every backend and both adapters.

``timeout`` (``ChatRequest.timeout``, ``ChatPatinox(timeout=)``, ``Patinox(timeout=)`` through
``read_timeout``) is the request timeout: the read timeout of a reply from a model known to be
loaded. A model that may have to load first gets ``max(timeout, cold_load_timeout)``: a short
timeout never cuts a cold load, and a long one is never shortened by it. The caller says which
kind a request is (``TimeoutKind``): ``"probe"`` (discovery), ``"normal"``, ``"cold"`` (may load).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Literal

import httpx

if TYPE_CHECKING:
    from .config import LocalSettings

TimeoutKind = Literal["probe", "normal", "cold"]


def read_timeout(settings: LocalSettings, kind: TimeoutKind, timeout: float | None) -> float | None:
    """The read timeout of one request of ``kind`` given the caller's ``timeout`` (``None``: the
    default for ``kind``).

    >>> from patinox_core.config import LocalSettings
    >>> s = LocalSettings(read_timeout=120, cold_load_timeout=600)
    >>> read_timeout(s, "normal", 0.3), read_timeout(s, "cold", 0.3), read_timeout(s, "cold", 900)
    (0.3, 600.0, 900)
    """
    if kind != "cold":
        return timeout
    return max(settings.read_timeout if timeout is None else timeout, settings.cold_load_timeout)


def split_timeout(settings: LocalSettings, kind: TimeoutKind = "normal", read: float | None = None) -> httpx.Timeout:
    """Short connect always; read (and write: both are gaps in the exchange) per kind.

    >>> from patinox_core.config import LocalSettings
    >>> split_timeout(LocalSettings(connect_timeout=2, read_timeout=120), "normal")
    Timeout(connect=2.0, read=120.0, write=120.0, pool=120.0)
    """
    s = settings
    if read is None:
        read = s.probe_timeout if kind == "probe" else s.cold_load_timeout if kind == "cold" else s.read_timeout
    return _timeout(read, s.probe_timeout if kind == "probe" else s.connect_timeout)


@functools.lru_cache(maxsize=64)
def _timeout(read: float, connect: float) -> httpx.Timeout:
    """One ``httpx.Timeout`` per (read, connect): building one costs ~2 µs, nothing mutates it."""
    return httpx.Timeout(read, connect=connect, pool=max(connect, read), write=read)


def total_deadline_s(settings: LocalSettings, kind: TimeoutKind = "normal", read: float | None = None) -> float:
    """The total deadline of one call: a probe gets its connect plus its read budget; a request
    ``total_timeout`` (plus ``cold_load_timeout`` when the model may have to load first), and
    never less than its own connect plus read timeouts."""
    s = settings
    if kind == "probe":
        return 2 * (read or s.probe_timeout)
    total = s.total_timeout + (s.cold_load_timeout if kind == "cold" else 0.0)
    return max(total, s.connect_timeout + (read or 0.0))


__all__ = ["TimeoutKind", "read_timeout", "split_timeout", "total_deadline_s"]

"""Server health and cooldown: which servers to try first, and which to leave alone for a while.

``Health`` remembers what discovery last said about each server (healthy or not) and, after a
failure whose error calls for it (``errors.should_cool_down``), cools the server down for
``settings.cooldown`` seconds: routing tries it last, the catalogue does not refresh it, and a
server tried while a later candidate is usable does not retry a refused connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from contextvars import Token

from ..config import LocalSettings
from ..discovery import Service
from ..errors import LocalProviderError, should_cool_down
from ..transport import CONNECT_RETRIES

log = logging.getLogger("patinox.router")


class Health:
    """Health and cooldown deadlines per server URL; thread-safe; no I/O."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._until: dict[str, float] = {}  # service -> time.monotonic() its cooldown ends
        self._healthy: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped when a cooldown starts or discovery's verdict changes (plans cached on it)

    def cool(self, service: str, err: LocalProviderError) -> None:
        """Cool ``service`` down after ``err`` (when the error calls for it); one warning per outage."""
        if not should_cool_down(err):
            return
        now = time.monotonic()
        with self._lock:
            already = self._until.get(service, 0.0) > now
            self._until[service] = now + self.settings.cooldown
            self.generation += 1
        log.log(logging.DEBUG if already else logging.WARNING, "cooling down %s for %ss after %s: %s",
                service, self.settings.cooldown, type(err).__name__, err)

    def cooling(self, service: str, now: float | None = None) -> bool:
        return self._until.get(service, 0.0) > (time.monotonic() if now is None else now)

    def usable(self, service: str, now: float | None = None) -> bool:
        """Healthy as far as discovery knows, and not cooling down."""
        return self._healthy.get(service, True) and not self.cooling(service, now)

    def seen(self, services: Sequence[Service]) -> None:
        """Record what discovery said about each server."""
        if any(self._healthy.get(s.base_url) is not s.healthy for s in services):
            with self._lock:
                self._healthy.update((s.base_url, s.healthy) for s in services)
                self.generation += 1

    def snapshot(self) -> tuple[dict[str, bool], dict[str, float]]:
        """(health by server, cooldown deadline by server), copied under the lock."""
        with self._lock:
            return dict(self._healthy), dict(self._until)

    def cooldown_ends(self, now: float) -> list[float]:
        """The deadlines of the cooldowns still running (a cached view expires at the first)."""
        with self._lock:
            return [t for t in self._until.values() if t > now]

    def fail_fast(self, later: Iterable[str]) -> Token[int | None] | None:
        """While one candidate is tried and a ``later`` one is usable, a refused connection is not
        retried: the next server is tried at once (the last usable candidate keeps every retry).
        Returns the token to reset with ``CONNECT_RETRIES.reset``, or None."""
        now = time.monotonic()
        if not any(self.usable(s, now) for s in later):
            return None
        return CONNECT_RETRIES.set(0)


__all__ = ["Health"]

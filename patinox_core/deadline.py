"""Total deadlines: a call ends by a fixed time even when every byte arrives within the read timeout.

The read timeout bounds the *gap* between two bytes (a model server legitimately pauses while it
loads or thinks); a ``Deadline`` bounds the whole exchange, so a server that drips one byte at a
time, or answers ``100 Continue`` forever, cannot hold a call. Sync: ``bound(deadline)`` makes
every socket operation of this thread (connect, name lookup, read, write; see
``_sync_network.py``) wait at most until the deadline. Async: ``abound(deadline)`` cancels the
awaiting task at the deadline and raises ``DeadlineExceeded`` instead.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from types import TracebackType

import httpx


class DeadlineExceeded(httpx.TimeoutException):
    """The total deadline passed (mapped to ``RequestTimeoutError`` by the transport)."""


class Deadline:
    """``total`` seconds from now; ``renew()`` starts the same budget again (a stream's next line).

    >>> d = Deadline(60.0); d.expired, 59 < d.remaining() <= 60
    (False, True)
    """

    __slots__ = ("at", "total")

    def __init__(self, total: float) -> None:
        self.total = total
        self.at = time.monotonic() + total

    def renew(self) -> None:
        self.at = time.monotonic() + self.total

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at


#: ``thread_state.deadline``: the deadline bounding this thread's socket operations (absent or
#: ``None``: unbounded). Set by ``bound``, and by the sync driver around each read of a stream.
thread_state = threading.local()


class bound:
    """Bound this thread's socket operations by ``deadline`` (nests: the previous one is restored)."""

    __slots__ = ("_deadline", "_previous")

    def __init__(self, deadline: Deadline | None) -> None:
        self._deadline = deadline

    def __enter__(self) -> None:
        self._previous = getattr(thread_state, "deadline", None)
        thread_state.deadline = self._deadline

    def __exit__(self, *exc: object) -> None:
        thread_state.deadline = self._previous


def bounded_timeout(timeout: float | None) -> float | None:
    """``timeout`` shortened to what is left of this thread's deadline; ``None`` when none is set.
    Raises ``TimeoutError`` when the deadline already passed (callers map it to their own timeout)."""
    deadline = getattr(thread_state, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline.at - time.monotonic()
    if left <= 0:
        raise TimeoutError("the total deadline passed")
    return left if timeout is None or timeout > left else timeout


class abound:
    """Async: cancel the current task's await at ``deadline`` and raise ``DeadlineExceeded`` instead.
    Arm it only around awaits of patinox's own I/O (never around a ``yield`` to the caller)."""

    __slots__ = ("_deadline", "_fired", "_handle", "_task")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._fired = False

    def __enter__(self) -> None:
        left = self._deadline.remaining()
        if left <= 0:
            raise DeadlineExceeded(f"the total deadline of {self._deadline.total:g}s passed")
        task = asyncio.current_task()
        assert task is not None, "abound() needs a running task"
        self._task = task
        self._handle = asyncio.get_running_loop().call_later(left, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._handle.cancel()
        if not self._fired:
            return
        if sys.version_info >= (3, 11):
            self._task.uncancel()
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise DeadlineExceeded(f"the total deadline of {self._deadline.total:g}s passed") from exc


__all__ = ["Deadline", "DeadlineExceeded", "abound", "bound", "bounded_timeout", "thread_state"]

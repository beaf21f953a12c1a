"""``LoopLocks``: one ``asyncio.Lock`` per event loop, for state shared by sync and async callers.

An ``asyncio.Lock`` belongs to the loop it is first awaited on, and a provider or a discovery
object may be used from several loops (``asyncio.run`` per call, threads with their own loops).
"""

from __future__ import annotations

import asyncio
import threading
import weakref


class LoopLocks:
    """``get()`` is the running loop's lock, created at first use; a closed loop's lock goes with it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()

    def get(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
        return lock


__all__ = ["LoopLocks"]

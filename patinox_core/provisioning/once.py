"""``pull_if_missing=`` / ``preload=`` of the adapters: ``ensure_model`` once, before the first request.

An adapter keeps one ``Readiness`` and calls ``ready(provider, ...)`` (or ``aready``) at the start of
each request; the first call pulls the model when it is missing (``pull``) and loads it (``load``),
drawing the progress bar on stderr; later calls return at once. A failure is raised and retried at
the next request. Copies of an adapter start afresh; pickling keeps nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..loop_locks import LoopLocks
from .bar import ProgressBar

if TYPE_CHECKING:
    from ..capabilities import ModelInfo
    from ..router import LocalProvider


class Readiness:
    """Whether an adapter's model has been ensured (see the module docstring)."""

    __slots__ = ("alocks", "done", "lock")

    def __init__(self) -> None:
        self.done = False
        self.lock = threading.Lock()
        self.alocks = LoopLocks()  # concurrent first requests on one loop pull once

    def __deepcopy__(self, memo: dict[int, Any]) -> Readiness:
        return Readiness()

    def __reduce__(self) -> tuple[Any, ...]:
        return (Readiness, ())

    def ready(self, provider: LocalProvider, model: str | None, *, pull: bool, load: bool,
              keep_alive: str | int | None = None, context: int | None = None,
              capability: str = "chat") -> ModelInfo | None:
        """Ensure ``model`` (None: the default model for ``capability``) once; None when already done."""
        if self.done or not (pull or load):
            return None
        with self.lock:
            if self.done:
                return None
            name = model or provider.get_model(None, capability=capability).name
            info = provider.ensure_model(name, pull=pull, load=load, keep_alive=keep_alive, context=context,
                                         progress=ProgressBar())
            self.done = True
            return info

    async def aready(self, provider: LocalProvider, model: str | None, *, pull: bool, load: bool,
                     keep_alive: str | int | None = None, context: int | None = None,
                     capability: str = "chat") -> ModelInfo | None:
        if self.done or not (pull or load):
            return None
        async with self.alocks.get():
            if self.done:
                return None
            name = model or (await provider.aget_model(None, capability=capability)).name
            info = await provider.aensure_model(name, pull=pull, load=load, keep_alive=keep_alive, context=context,
                                                progress=ProgressBar())
            self.done = True
            return info


__all__ = ["Readiness"]

"""The one progress bar: a thin consumer of ``ProgressEvent``s.

``ProgressBar()`` is a callable for ``progress=``: one tqdm bar per layer of a pull (``tqdm.auto``, so
a terminal gets a text bar and a notebook with ``ipywidgets`` a widget), the server's other steps
(``pulling manifest``, ``verifying sha256 digest``, ``loading``) as lines, and at the end of a failed or
cancelled pull what it left on the server. Without tqdm (``pip install 'patinox[all]'``) it prints
plain lines at every quarter of each layer. Everything is drawn on ``file`` (stderr by default).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from .events import ProgressEvent, human_bytes

TqdmFactory = Callable[..., Any]


def default_tqdm() -> TqdmFactory | None:
    """``tqdm.auto.tqdm`` (a widget in notebooks when ipywidgets is installed), or None without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm  # type: ignore[no-any-return]


def _label(event: ProgressEvent) -> str:
    if event.layer:
        return f"pulling {event.layer.removeprefix('sha256:')[:12]}"
    return f"downloading {event.model}"


def describe(event: ProgressEvent) -> str | None:
    """The line a step prints (None for byte progress, which a bar shows).

    >>> describe(ProgressEvent("qwen3", "http://o", "loaded", seconds=2.5, total=8192))
    'loaded qwen3 in 2.5 s (context 8192 tokens)'
    >>> describe(ProgressEvent("m", "http://o", "cancelled", left_on_server="nothing"))
    'pull of m cancelled; left on http://o: nothing'
    """
    phase = event.phase
    if phase in ("layer", "downloading") and event.total:
        return None
    if phase == "loading":
        return f"loading {event.model} on {event.service} …"
    if phase == "loaded":
        context = f" (context {event.total} tokens)" if event.total else ""
        took = f" in {event.seconds:.1f} s" if event.seconds is not None else ""
        return f"loaded {event.model}{took}{context}"
    if phase == "unloaded":
        return f"unloaded {event.model} from {event.service}"
    if phase in ("failed", "cancelled"):
        head = f"pull of {event.model} {phase}"
        reason = f": {event.status}" if phase == "failed" and event.status else ""
        return f"{head}{reason}; left on {event.service}: {event.left_on_server or 'unknown'}"
    if phase == "paused":
        return f"download of {event.model} paused in LM Studio ({human_bytes(event.completed)} so far)"
    return event.status or phase


class ProgressBar:
    """Draws pull, download and load progress (see the module docstring). ``tqdm=`` replaces the bar
    factory (``None`` with ``plain=True``: lines only); ``file`` is where it all goes."""

    def __init__(self, file: TextIO | None = None, *, tqdm: TqdmFactory | None = None, plain: bool = False) -> None:
        self.file = file
        self.factory = None if plain else tqdm or default_tqdm()
        self.bars: dict[str, Any] = {}
        self._quarters: dict[str, int] = {}

    @property
    def out(self) -> TextIO:
        return self.file or sys.stderr

    def __call__(self, event: ProgressEvent) -> None:
        line = describe(event)
        if line is None:
            self._advance(event)
            return
        if event.phase in ("done", "failed", "cancelled", "loaded", "unloaded") or event.phase != "layer":
            self.close()
        print(line, file=self.out, flush=True)

    def _advance(self, event: ProgressEvent) -> None:
        key, total, done = event.layer or "", event.total or 0, event.completed or 0
        if self.factory is None:
            quarter = 4 * done // total if total else 0
            if quarter > self._quarters.get(key, -1):
                self._quarters[key] = quarter
                print(f"{_label(event)}: {25 * quarter}% of {human_bytes(total)}", file=self.out, flush=True)
            return
        bar = self.bars.get(key)
        if bar is None:
            for other in list(self.bars):  # Ollama fetches one layer after another
                self.bars.pop(other).close()
            bar = self.bars[key] = self.factory(total=total, desc=_label(event), unit="B", unit_scale=True,
                                                unit_divisor=1000, file=self.out, leave=True, dynamic_ncols=True)
        if done > bar.n:
            bar.update(done - bar.n)

    def close(self) -> None:
        for key in list(self.bars):
            self.bars.pop(key).close()


__all__ = ["ProgressBar", "default_tqdm", "describe"]

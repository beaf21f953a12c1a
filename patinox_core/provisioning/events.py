"""Progress of a pull, download or load as typed events: what the core emits, what a bar consumes.

A ``ProgressEvent`` says which model on which server, the ``phase`` (one vocabulary for every
server) and, where the server tells, the layer (Ollama's blob digest), bytes completed and total,
speed and the server's own status text (escaped and capped). ``PullTally`` adds up what a pull has
fetched so far, so a failed or cancelled one can say what it left on the server. All pure: the
server-specific converters (``backends/ollama_pull.py``, ``backends/lmstudio_models.py``) build
events from wire replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..safe_text import server_text

Phase = Literal["manifest", "layer", "verifying", "writing", "cleanup", "status", "downloading", "paused",
                "loading", "loaded", "unloaded", "done", "failed", "cancelled"]
#: the phases after which nothing more comes
FINAL_PHASES = frozenset({"loaded", "unloaded", "done", "failed", "cancelled"})

#: a consumer of events: a bar (``provisioning.bar.ProgressBar``), a list's ``append``, a logger
ProgressCallback = Callable[["ProgressEvent"], None]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a pull, download or load.

    ``layer``: the blob being fetched (Ollama's ``sha256:…`` digest; None for a whole-model download);
    ``completed``/``total``: bytes of that layer (Ollama) or of the whole download (LM Studio), None
    when the server does not say; ``status``: the server's text; ``left_on_server``: on a final
    ``failed``/``cancelled`` event, what stays on the server and what to do about it.
    """

    model: str
    service: str
    phase: Phase
    status: str = ""
    layer: str | None = None
    completed: int | None = None
    total: int | None = None
    bytes_per_second: float | None = None
    seconds: float | None = None  # a load's duration, when it is over
    left_on_server: str | None = None

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    @property
    def fraction(self) -> float | None:
        """completed / total in [0, 1], when both are known."""
        if self.completed is None or not self.total:
            return None
        return min(1.0, max(0.0, self.completed / self.total))


def safe_status(text: object) -> str:
    """A server's status text as one safe, short line.

    >>> safe_status("pulling \\x1b[2Jabc")
    'pulling \\\\x1b[2Jabc'
    """
    return server_text(text, 200)


@dataclass
class PullTally:
    """Bytes fetched per layer so far (the largest ``completed`` seen), to say what a pull left behind.

    >>> t = PullTally()
    >>> t.add(ProgressEvent("m", "s", "layer", layer="sha256:aa", completed=10, total=100))
    >>> t.add(ProgressEvent("m", "s", "layer", layer="sha256:aa", completed=60, total=100))
    >>> t.completed, t.total, t.unfinished
    (60, 100, ['sha256:aa'])
    """

    layers: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    last: ProgressEvent | None = None
    job: str | None = None  # the server's job id, when a download runs as one (LM Studio)

    def add(self, event: ProgressEvent) -> None:
        self.last = event
        key = event.layer or ("" if event.phase in ("downloading", "paused") else None)
        if key is None or event.completed is None:
            return
        done, _ = self.layers.get(key, (0, None))
        self.layers[key] = (max(done, event.completed), event.total)

    @property
    def completed(self) -> int:
        return sum(done for done, _ in self.layers.values())

    @property
    def total(self) -> int | None:
        totals = [total for _, total in self.layers.values()]
        return None if not totals or None in totals else sum(t for t in totals if t is not None)

    @property
    def unfinished(self) -> list[str]:
        return [k for k, (done, total) in self.layers.items() if total is None or done < total]


def human_bytes(n: int | None) -> str:
    """``n`` bytes for people.

    >>> human_bytes(2_019_393_189), human_bytes(948), human_bytes(None)
    ('2.0 GB', '948 B', '? B')
    """
    if n is None:
        return "? B"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["FINAL_PHASES", "Phase", "ProgressCallback", "ProgressEvent", "PullTally", "human_bytes", "safe_status"]

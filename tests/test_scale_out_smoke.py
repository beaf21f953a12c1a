"""The scale-out benchmark runs end to end on a tiny workload and counts what it should.

Only counts are asserted (requests per server, lost requests, turns), never a time. LiteLLM is
left out here: it is a ``bench`` extra, not a test dependency.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scale_out import END, START, Run, affinity, write_section

ROOT = Path(__file__).resolve().parent.parent


def _row(text: str, heading: str, client: str) -> list[str]:
    section = text[text.index(heading):]
    line = next(ln for ln in section.splitlines() if ln.startswith(f"| {client} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.timeout(150)
def test_smoke_run_counts_requests_per_server(tmp_path: Path) -> None:
    out = tmp_path / "SCALE_OUT.md"
    out.write_text(f"# Scale-out\n\nkept\n\n{START}\nold\n{END}\n\nalso kept\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale_out", "--smoke", "--clients", "raw,patinox",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=140)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert "kept" in text and "also kept" in text and "\nold\n" not in text
    assert text.count(START) == 1 and text.count(END) == 1

    raw = _row(text, "### 1.", "raw httpx round-robin")
    assert raw[3] == "6 / 6 / 6 / 6" and raw[4] == "0"  # 24 requests, strictly round-robin, none lost
    patinox = _row(text, "### 1.", "patinox LocalProvider.achat")
    assert sum(int(n) for n in patinox[3].split(" / ")) == 24 and patinox[4] == "0"
    shed = _row(text, "### 2.", "raw httpx round-robin")
    assert len(shed) == 10 and shed[3] == "6 / 6 / 6 / 6" and shed[6] == "n/a"  # raw has no cooldowns
    overstated = _row(text, "### 2.", "patinox LocalProvider.achat, max_concurrency=8 (overstated)")
    assert overstated[7] == "0" and overstated[6] == "0"  # nothing lost, no server cooled down for a 503
    lost = "| four servers: requests lost or mixed (a reply naming another request) | 0 | 0 (0 mixed) | met |"
    assert "### Acceptance" in text and lost in text
    turns = _row(text, "### 3.", "patinox LocalProvider.achat")
    assert turns[1].endswith("/12)") and turns[4] == "0"  # 4 conversations x 3 later turns, none lost
    assert _row(text, "### 0.", "raw httpx round-robin")[1] != "n/a"
    assert text.split(START)[1].split(END)[0].strip() in proc.stdout


def test_affinity_counts_later_turns_on_the_first_server() -> None:
    def record(key: str, arrived: float, refused: bool = False) -> dict[str, object]:
        return {"key": key, "arrived": arrived, "refused": refused}

    run = Run("x", stats=[
        {"records": [record("conversation 1: turn 1", 1), record("conversation 1: turn 1", 2),
                     record("conversation 2: turn 1", 4), record("warm-up 0", 0)]},
        {"records": [record("conversation 1: turn 1", 3), record("conversation 2: turn 1", 1),
                     record("conversation 2: turn 1", 2, refused=True)]},
    ])
    # conversation 1: turn 1 on server 0, then 0 and 1; conversation 2: turn 1 on server 1, then 0
    assert affinity(run) == (1, 3)


def test_write_section_creates_the_file_with_markers(tmp_path: Path) -> None:
    out = tmp_path / "new.md"
    write_section(out, "## Results\n")
    write_section(out, "## Results again\n")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Scale-out benchmark") and "Results again" in text and "## Results\n" not in text


def test_a_reply_meant_for_another_request_counts_as_mixed_not_served() -> None:
    import asyncio

    from benchmarks.scale_out import _call
    from benchmarks.scale_runs import Run

    class Crossed:  # answers every call with another request's reply
        async def send(self, messages: list[dict[str, str]]) -> str:
            return "Hello (re: request 99: say hello)"

    run = Run("crossed")
    asked = [{"role": "user", "content": "request 1: say hello"}]
    answer = asyncio.run(_call(Crossed(), asked, run, 5.0))  # type: ignore[arg-type]
    assert answer is None and run.errors["mixed"] == 1 and run.latencies == []

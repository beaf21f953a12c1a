"""The notebooks in ``notebooks/`` execute without error (nbclient, a real kernel) against a fake
server that discovery finds through ``PATINOX_ENDPOINTS``; and they are committed without outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from llamaindex.servers import AgentOllama, agent_ollama  # tests/ is on sys.path (rootdir conftest)
from nbclient import NotebookClient
from reliability.machine_load import slowdown

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Per cell and for the kernel to start: 60 s on a quiet machine, up to 3x that on a loaded one
#: (a cell takes about a second; the bound is for a cell that hangs).
CELL_TIMEOUT_S = round(60 * slowdown())
#: What each notebook must print on the fake server (proof the interesting cells did their work).
EXPECT = {
    "langchain_quickstart": ["tool calls: [{", "tool result: 42", "City(name=", "3 vectors of"],
    "llamaindex_rag": ["paris | Paris is the capital", "called multiply", "The tool says 42.", "of a trained maximum"],
    "discovery_tour": ["Servers", "Hello from the first server.", "Hello from the second server.", "down"],
}


def test_the_three_notebooks_exist() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"langchain_quickstart", "llamaindex_rag", "discovery_tour"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_outputs_are_stripped(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"


@pytest.fixture(scope="module")
def fake() -> Iterator[AgentOllama]:
    with agent_ollama() as server:
        yield server


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, fake: AgentOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATINOX_ENDPOINTS", fake.url)  # inherited by the kernel process
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")  # never a real server on the default ports
    monkeypatch.setenv("PATINOX_PROBE_TIMEOUT", "10")  # a probe of the fake starved past 0.5 s is not a fault
    book = nbformat.read(path, as_version=4)
    before = len(fake.requests)
    client = NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3", startup_timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Traceback" not in text
    assert any(r.path == "/api/tags" for r in fake.requests[before:])  # discovery found the fake server
    missing = [e for e in EXPECT.get(path.stem, []) if e not in text]
    assert not missing, f"{path.name} did not print {missing}:\n{text[-3000:]}"

"""In a Jupyter kernel, ``ProgressBar()`` (tqdm.auto) draws ipywidgets bars, as docs/models.md says."""

from __future__ import annotations

from pathlib import Path

import pytest

CELL = """
from patinox_core import ProgressBar, ProgressEvent
bar = ProgressBar()
s, layer = "http://127.0.0.1:11434", "sha256:dde5aa3fc5ff"
for event in [ProgressEvent("llama3.2", s, "manifest", "pulling manifest"),
              ProgressEvent("llama3.2", s, "layer", "pulling dde5aa3fc5ff", layer=layer, completed=0, total=2019377376),
              ProgressEvent("llama3.2", s, "layer", "pulling dde5aa3fc5ff", layer=layer, completed=2019377376,
                            total=2019377376),
              ProgressEvent("llama3.2", s, "done", "success")]:
    bar(event)
from tqdm.notebook import tqdm as notebook_tqdm
print("notebook bar:", issubclass(bar.factory, notebook_tqdm))
"""


@pytest.mark.timeout(180)
def test_the_bar_is_a_widget_in_a_notebook(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    pytest.importorskip("tqdm")
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    client = nbclient.NotebookClient(book, timeout=60, kernel_name="python3", startup_timeout=60,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = book.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    widgets = [o for o in outputs if o.output_type == "display_data"
               and "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert widgets, f"no widget was displayed: {outputs}"
    assert "notebook bar: True" in text and "pulling manifest" in text and "success" in text

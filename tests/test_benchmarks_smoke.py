"""The benchmark harness runs end to end (``--smoke``: a handful of iterations) and writes its table.

Only that it runs and reports: timings are never asserted here (see benchmarks/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(150)
def test_smoke_run_writes_markdown_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=140,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# patinox benchmarks")
    assert "## Targets (issue 8)" in text
    assert "| target | measured (median) | range | holds |" in text
    for heading in ("## Invoke", "## Streaming, per chunk", "concurrent async calls", "## Embeddings",
                    "## Discovery and failover", "## Import time"):
        assert heading in text
    # every floor produced a number (a floor that failed would leave the section without a baseline)
    for floor in ("raw httpx POST + json.loads", "raw httpx NDJSON loop + json.loads", "raw httpx.AsyncClient",
                  "raw httpx, one request with all texts"):
        line = next(ln for ln in text.splitlines() if floor in ln)
        assert "n/a" not in line, line
    assert text in proc.stdout  # printed as well as written


def test_server_speaks_both_apis_and_counts_batches() -> None:
    import httpx

    from benchmarks.harness import ServerProcess

    with ServerProcess(ports=2, embed_base_ms=1, embed_per_text_ms=0) as server, httpx.Client(timeout=10) as client:
        base = server.urls[0]
        assert client.get(base + "/").text == "Ollama is running"
        reply = client.post(base + "/api/chat", json={"model": "llama3.2", "messages": [], "stream": False}).json()
        assert reply["done"] is True and reply["message"]["content"]
        for prompt, expected in (("hi", 17), ("go [long stream]", 501)):  # 16 or 500 tokens + the final line
            body = {"model": "llama3.2", "messages": [{"role": "user", "content": prompt}]}
            with client.stream("POST", base + "/api/chat", json=body) as resp:
                lines = [ln for ln in resp.iter_lines() if ln]
            assert len(lines) == expected and '"done":true' in lines[-1]
        body = {"stream": True, "stream_options": {"include_usage": True}, "messages": [{"content": "[long stream]"}]}
        with client.stream("POST", base + "/v1/chat/completions", json=body) as resp:
            events = [ln for ln in resp.iter_lines() if ln]
        assert len(events) == 503 and events[-1] == "data: [DONE]" and '"usage"' in events[-2]
        server.reset()
        vectors = client.post(base + "/api/embed", json={"model": "nomic-embed-text", "input": ["a"] * 7}).json()
        assert len(vectors["embeddings"]) == 7 and len(vectors["embeddings"][0]) == 768
        data = client.post(base + "/v1/embeddings", json={"input": ["a", "b"], "encoding_format": "base64"}).json()
        assert [d["index"] for d in data["data"]] == [0, 1]
        stats = server.stats()
        assert stats["embed_requests"] == 2 and stats["embed_max_batch"] == 7
        server.kill_port(1)
        with pytest.raises(httpx.ConnectError):
            client.get(server.urls[1] + "/api/version")
        server.start_port(1)
        assert client.get(server.urls[1] + "/api/version").json() == {"version": "0.12.6"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("row", ["off", "on", "sdk"])
def test_the_instruction_count_rows_run(row: str) -> None:
    """``benchmarks.instructions`` runs each row plainly (callgrind runs exactly this); no count asserted."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.instructions", "--row", row, "--calls", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]

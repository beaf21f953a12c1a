"""Every ``python`` code block of ``docs/langchain.md`` runs, against fake Ollama and LM Studio servers.

The environment is the one ``tests/test_docs.py`` gives README examples (``OLLAMA_HOST`` and
``LM_STUDIO_API_BASE`` pointing at the fakes, no probing of default ports, the default addresses
written in examples rewritten to the fakes), with the same models, so the section runs unchanged
when it is copied into README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

DOC = Path(__file__).resolve().parents[2] / "docs" / "langchain.md"
FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<code>.*?)^```$", re.S | re.M)
SHOWN_ONLY = {"bash", "text", "console", "toml"}


def blocks() -> list[tuple[int, str, str]]:
    """(first code line, language, code) of every fenced block."""
    text = DOC.read_text(encoding="utf-8")
    return [(text[: m.start("code")].count("\n") + 1, m["lang"].strip().split(" ")[0], m["code"])
            for m in FENCE.finditer(text)]


PYTHON = [pytest.param(code, id=f"langchain.md:{line}") for line, lang, code in blocks() if lang == "python"]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    ollama = FakeOllamaServer([
        OllamaModel("llama3.2", reply="The sky is blue because air scatters blue light most.",
                    capabilities=["completion", "tools"], loaded=True,
                    tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        OllamaModel("qwen3:8b", reply="Yes, 97 is prime.", thinking="97 is not divisible by 2, 3, 5 or 7.",
                    capabilities=["completion", "tools", "thinking"], family="qwen3", parameter_size="8.2B",
                    context_length=40960),
        OllamaModel("gemma3:1b", capabilities=["completion"], family="gemma3", parameter_size="1.0B",
                    context_length=32768),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embedding_dim=768, family="nomic-bert",
                    parameter_size="137M", quantization="F16", context_length=2048, loaded_context_length=2048),
    ], version="0.12.11")  # logprobs
    lmstudio = FakeLMStudioServer([
        LMStudioModel("qwen/qwen3-8b", reply="The sky is blue because of Rayleigh scattering.", tool_use=True,
                      reasoning="Short question, short answer.", reasoning_capable=True, arch="qwen3"),
        LMStudioModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", loaded=False, arch="nomic-bert",
                      embedding_dim=768, max_context_length=2048, loaded_context_length=2048),
    ])
    with ollama, lmstudio:
        yield {"http://localhost:11434": ollama.url, "http://localhost:1234": lmstudio.url}


@pytest.fixture
def docs_env(servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.setenv("OLLAMA_HOST", servers["http://localhost:11434"])
    monkeypatch.setenv("LM_STUDIO_API_BASE", servers["http://localhost:1234"])
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    monkeypatch.chdir(tmp_path)
    return servers


def test_every_block_is_tagged() -> None:
    found = blocks()
    assert len([b for b in found if b[1] == "python"]) >= 10
    for line, lang, _ in found:
        assert lang == "python" or lang in SHOWN_ONLY, f"langchain.md:{line}: tag the block python or bash"


@pytest.mark.parametrize("code", PYTHON)
def test_example_runs(code: str, docs_env: dict[str, str]) -> None:
    for default, fake in docs_env.items():
        code = code.replace(default, fake)
    out = StringIO()
    with redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__docs_example__"})
    assert out.getvalue().strip(), "an example should show its result"

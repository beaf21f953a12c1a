"""Every code block of docs/llamaindex.md runs against fake servers (the README's LlamaIndex
section is copied from that page).

``python`` blocks execute in order, each in a fresh namespace, with ``OLLAMA_HOST`` and
``LM_STUDIO_API_BASE`` pointing at a fake Ollama and a fake LM Studio and default discovery off;
addresses written in an example (``http://localhost:11434``, ``…:1234``) are rewritten to the fakes.
``bash``/``text`` blocks are not run; a block in any other language (or none) fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings

from .servers import agent_ollama, lmstudio

PAGE = Path(__file__).resolve().parents[2] / "docs" / "llamaindex.md"
RUN, NOT_RUN = {"python"}, {"bash", "shell", "text", "console", "toml"}
_FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(text: str) -> list[tuple[int, str, str]]:
    """``(first code line, language, code)`` of each fenced block.

    >>> blocks("a\\n```python\\nx = 1\\n```\\n```bash\\nls\\n```\\n")
    [(3, 'python', 'x = 1\\n'), (6, 'bash', 'ls\\n')]
    """
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        out.append((i + 2, m.group(1), "\n".join(lines[i + 1 : j]) + "\n"))
        i = j + 1
    return out


BLOCKS = blocks(PAGE.read_text(encoding="utf-8"))
PYTHON = [b for b in BLOCKS if b[1] in RUN]


def test_every_block_is_run_or_declared() -> None:
    assert len(PYTHON) >= 10
    assert [b for b in BLOCKS if b[1] not in RUN | NOT_RUN] == []


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, str]]:
    with agent_ollama() as ollama, lmstudio() as lms:
        yield {"ollama": ollama.url, "lmstudio": lms.url}


def rewrite(code: str, urls: dict[str, str]) -> str:
    """Default loopback addresses in an example -> the fake servers.

    >>> rewrite('u = "http://localhost:1234/v1"', {"ollama": "http://127.0.0.1:5", "lmstudio": "http://127.0.0.1:6"})
    'u = "http://127.0.0.1:6/v1"'
    """
    code = re.sub(r"http://(?:localhost|127\.0\.0\.1):11434", urls["ollama"], code)
    return re.sub(r"http://(?:localhost|127\.0\.0\.1):1234", urls["lmstudio"], code)


@pytest.mark.parametrize(("line", "lang", "code"), PYTHON, ids=[f"llamaindex.md:{b[0]}" for b in PYTHON])
def test_example_runs(line: int, lang: str, code: str, fakes: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fakes["ollama"])
    monkeypatch.setenv("LM_STUDIO_API_BASE", fakes["lmstudio"] + "/v1")
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    monkeypatch.setattr(Settings, "_llm", None)  # examples may set the global Settings
    monkeypatch.setattr(Settings, "_embed_model", None)
    namespace: dict[str, Any] = {"__name__": "__docs_example__"}
    out = StringIO()
    with redirect_stdout(out):
        exec(compile("\n" * (line - 1) + rewrite(code, fakes), str(PAGE), "exec"), namespace)
    assert out.getvalue().strip(), "every example prints something"
    assert "Traceback" not in out.getvalue()


def test_outputs_the_page_promises(fakes: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The values the examples' comments state, on the fake servers."""
    monkeypatch.setenv("OLLAMA_HOST", fakes["ollama"])
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    from patinox_llamaindex import Patinox

    llm = Patinox(model="qwen3")
    assert llm.metadata.context_window == 3900
    info = llm.resolve()
    assert (llm.metadata.context_window, info.context_length) == (8192, 40960)
    from llama_index.core.tools import FunctionTool

    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    tool = FunctionTool.from_defaults(fn=multiply)
    assert Patinox(model="llama3.2").predict_and_call([tool], user_msg="What is 6 times 7?").response == "42"


def test_module_doctests() -> None:
    import doctest
    import sys

    assert doctest.testmod(sys.modules[__name__]).failed == 0

"""Issue 14, item 5: ``patinox status``, ``models`` and ``chat`` never pass server-supplied control
sequences to the terminal, a ``\\n`` in a model name cannot forge a table row, long names are
truncated; whichever way the server was configured (OLLAMA_HOST, PATINOX_ENDPOINTS, patinox.toml)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from patinox_core.cli import main
from patinox_core.testing import FakeOllamaServer, OllamaModel

CLEAR, TITLE, CLIPBOARD, BELL = "\x1b[2J", "\x1b]0;owned\x07", "\x1b]52;c;cm0gLXJmIH4=\x07", "\x07"
EVIL_NAME = f"evil{CLEAR}{TITLE}\nFORGED  http://x  yes  1/1  chat  small  fast\r"
LONG_NAME = "l" * 200
EVIL_REPLY = f"Hello{CLIPBOARD}{CLEAR} world\n\tdone\r"
MAX_CELL = 60  # patinox_core.cli_output.MAX_CELL
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour codes rich itself emits on a terminal


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    models = [OllamaModel(EVIL_NAME.replace(":", ""), reply=EVIL_REPLY, loaded=True), OllamaModel(LONG_NAME)]
    with FakeOllamaServer(models, version=f"0.12.10{CLEAR}{BELL}") as fake:
        yield fake


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _configure(how: str, url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATINOX_DISCOVER_DEFAULTS", "false")
    if how == "OLLAMA_HOST":
        monkeypatch.setenv("OLLAMA_HOST", url)
    elif how == "PATINOX_ENDPOINTS":
        monkeypatch.setenv("PATINOX_ENDPOINTS", f"ollama={url}")
    else:
        (tmp_path / "patinox.toml").write_text(f'ollama_url = "{url}"\n')
        monkeypatch.chdir(tmp_path)


def _assert_neutral(text: str) -> None:
    text = SGR.sub("", text)
    for ch in ("\x1b", "\x07", "\r"):
        assert ch not in text, f"raw {ch!r} reached the terminal: {text!r}"
    assert not any(line.lstrip().startswith("FORGED") for line in text.splitlines()), text


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize("command", ["status", "models"])
@pytest.mark.parametrize("how", ["OLLAMA_HOST", "PATINOX_ENDPOINTS", "patinox.toml"])
def test_tables_neutralise_server_text(how: str, command: str, tty: bool, server: FakeOllamaServer,
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _configure(how, server.url, monkeypatch, tmp_path)
    out = Terminal() if tty else io.StringIO()
    assert main([command], out=out) == 0
    text = out.getvalue()
    _assert_neutral(text)
    assert "evil\\x1b[2J" in SGR.sub("", text), "the hostile name is shown, escaped"
    assert LONG_NAME not in text and "l" * (MAX_CELL - 1) + "…" in text, "long names are truncated"


def test_a_down_servers_reason_is_neutralised() -> None:
    from patinox_core.cli import services_table
    from patinox_core.config import ProviderKind
    from patinox_core.discovery import Service

    down = Service(ProviderKind.OLLAMA, "http://127.0.0.1:9", version=f"1{CLEAR}", error=f"{TITLE}\nFORGED line\r")
    _assert_neutral(services_table([down]))


@pytest.mark.parametrize("how", ["OLLAMA_HOST", "PATINOX_ENDPOINTS", "patinox.toml"])
def test_chat_output_is_neutralised_on_a_terminal_and_exact_when_piped(
        how: str, server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _configure(how, server.url, monkeypatch, tmp_path)
    model = EVIL_NAME.replace(":", "")
    terminal = Terminal()
    assert main(["chat", model, "hi"], out=terminal) == 0
    shown = terminal.getvalue()
    _assert_neutral(shown)
    assert "Hello\\x1b]52;c;" in shown and "\n\tdone" in shown, "newline and tab are kept"
    piped = io.StringIO()
    assert main(["chat", model, "hi"], out=piped) == 0
    assert piped.getvalue().startswith(EVIL_REPLY), "a pipe gets the exact text"

"""``patinox status --watch``: frames of servers, loaded models and load; nothing a server sends can
drive the terminal; Ctrl-C ends it cleanly (exit 0, no traceback)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from patinox_core import LocalProvider, LocalSettings
from patinox_core.cli import main
from patinox_core.cli_watch import CLEAR, watch
from patinox_core.testing import FakeOllamaServer, OllamaModel

EVIL = "evil\x1b]0;pwned\x07\x1b[2J\rmodel"  # sets the window title, clears the screen, rewrites the line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer([OllamaModel("llama3.2", loaded=True), OllamaModel(EVIL, loaded=True)]) as srv:
        yield srv


def _provider(url: str) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=[{"url": url, "kind": "ollama"}], discover_defaults=False))


def _run(url: str, out: io.StringIO, *extra: str) -> int:
    with _provider(url) as p:
        return main(["status", "--watch", "--interval", "0", "--count", "2", *extra], provider=p, out=out)


def test_piped_frames_follow_one_another_with_servers_loaded_models_and_load(server: FakeOllamaServer) -> None:
    out = io.StringIO()
    assert _run(server.url, out) == 0
    text = out.getvalue()
    assert text.count("patinox status  ") == 2 and text.count("Loaded models") == 2
    assert "llama3.2:latest" in text and server.url in text and "IN FLIGHT" in text
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text  # not a terminal: no control at all
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\rmodel" in text  # the server's name, shown escaped


def test_on_a_terminal_only_patinoxs_own_sequences_reach_it(server: FakeOllamaServer) -> None:
    out = Terminal()
    assert _run(server.url, out) == 0
    text = out.getvalue()
    assert text.count(CLEAR) == 2  # each frame replaces the last
    rest = re.sub(r"\x1b\[[0-9;]*m", "", text.replace(CLEAR, ""))  # colours of the tables' own styles
    assert "\x1b" not in rest and "\x07" not in rest and "\r" not in rest
    assert "pwned\\x07" in rest


def test_a_server_going_down_shows_in_the_next_frame(server: FakeOllamaServer) -> None:
    frames: list[str] = []
    with _provider(server.url) as p:
        def stop_after_first(seconds: float) -> None:
            server.stop()
        from patinox_core.cli import watch_frame
        watch(lambda: frames.append(watch_frame(p, io.StringIO())) or frames[-1], io.StringIO(), interval=0,
              count=2, sleep=stop_after_first)
    assert "llama3.2:latest" in frames[0] and "No model server answers" in frames[1]


def test_ctrl_c_ends_the_watch_cleanly() -> None:
    out = io.StringIO()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    assert watch(lambda: "frame", out, interval=5, sleep=interrupted) == 0
    assert out.getvalue().count("frame") == 1 and out.getvalue().endswith("\n")


def test_the_interval_is_checked() -> None:
    with pytest.raises(SystemExit):
        main(["status", "--watch", "--interval", "-1"], out=io.StringIO())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_sigint_to_the_command_exits_0_without_a_traceback(server: FakeOllamaServer) -> None:
    env = {**os.environ, "PATINOX_ENDPOINTS": f'[{{"url": "{server.url}", "kind": "ollama"}}]',
           "PATINOX_DISCOVER_DEFAULTS": "false", "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-m", "patinox_core.cli", "status", "--watch", "--interval", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while "patinox status" not in line and time.monotonic() < deadline:
            line = child.stdout.readline()
        assert "patinox status" in line
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == 0, err
    assert "Traceback" not in err

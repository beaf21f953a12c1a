"""``patinox serve`` on bad input: a clear message and exit code 1, never a traceback; and set-up that
is bounded, all-or-nothing and says what to install."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from patinox_core.cli import NOTHING_FOUND, main
from patinox_core.embedded.install import ensure_installed, installed, run_step
from patinox_core.embedded.paths import cache_dir
from patinox_core.embedded.server import free_port
from patinox_core.embedded.state import process_alive, running_servers
from patinox_core.errors import EmbeddedServerError, SetupImpossibleError

from .fakes import register, server_process


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_stop_with_nothing_running(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "stop")
    assert code == 1 and "no embedded server is running" in err and "patinox serve" in err


def test_stop_ends_the_process_and_removes_the_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with server_process() as proc:
        register("http://127.0.0.1:9", proc.pid, tmp_path)
        code, out, _ = run(capsys, "serve", "stop")
        assert code == 0 and f"pid {proc.pid}" in out
        assert proc.wait(10) is not None and running_servers() == []


def test_a_model_that_is_not_a_gguf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code, _, err = run(capsys, "serve", "--model", str(notes), "--port", str(free_port()))
    assert code == 1 and "not a GGUF model file" in err
    code, _, err = run(capsys, "serve", "--model", str(tmp_path / "missing.gguf"), "--port", str(free_port()))
    assert code == 1 and "no such file" in err
    assert not (cache_dir() / "wheels").exists()  # refused before any build


def test_an_unknown_built_in_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--setup-only", "--model", "llama9")
    assert code == 1 and "unknown built-in model 'llama9'" in err and "smollm2" in err


def test_port_taken_by_another_program(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        code, _, err = run(capsys, "serve", "--port", str(sock.getsockname()[1]))
    assert code == 1 and "is taken by another program" in err and "--port" in err


def test_port_taken_by_the_embedded_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock, server_process() as proc:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        register(f"http://127.0.0.1:{port}", proc.pid, tmp_path)
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == 1 and "already runs" in err and "patinox serve stop" in err


def test_no_compiler_says_what_to_install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    leftover = cache_dir() / "tmp" / "wheel" / "half-built.o"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("junk from an interrupted build")
    monkeypatch.setenv("PATH", str(cache_dir()))  # no cc, no c++
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    code, _, err = run(capsys, "serve", "--setup-only")
    assert code == 1 and "C and a C++ compiler" in err and "build-essential" in err
    assert not leftover.exists()  # every set-up starts clean
    with pytest.raises(SetupImpossibleError):
        ensure_installed(["smollm2"], timeout=30)
    assert installed(["smollm2"]) is None


def test_a_failed_build_names_its_log_and_the_hint(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(EmbeddedServerError) as err:
        run_step([sys.executable, "-c", "print('error: ggml.c: no such thing'); raise SystemExit(3)"], log=log,
                 deadline=time.monotonic() + 60, what="building llama-cpp-python", hint="CMAKE_ARGS hint")
    text = str(err.value)
    assert "exit code 3" in text and str(log) in text and "no such thing" in text and "CMAKE_ARGS hint" in text


def test_a_step_over_its_limit_is_stopped_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    t0 = time.monotonic()
    with pytest.raises(EmbeddedServerError, match="did not finish within the set-up limit"):
        run_step([sys.executable, "-c", code], log=tmp_path / "log", deadline=time.monotonic() + 2, what="a build")
    assert time.monotonic() - t0 < 30
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child)  # the whole process group went


def test_nothing_found_names_the_zero_install_option() -> None:
    assert "patinox serve" in NOTHING_FOUND and "zero-install" in NOTHING_FOUND


def test_process_alive_is_false_for_a_dead_pid() -> None:
    with server_process() as proc:
        assert process_alive(proc.pid)
    assert not process_alive(proc.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_during_a_step_stops_its_process_group(tmp_path: Path) -> None:
    """Ctrl-C in ``patinox serve`` while pip/cmake runs: the build's whole process group goes too."""
    import signal
    import subprocess

    pid_file = tmp_path / "child.pid"
    child = ("import subprocess, sys, time; "
             "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
             f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    driver = ("import sys, time; from pathlib import Path; from patinox_core.embedded.install import run_step; "
              f"run_step([sys.executable, '-c', {child!r}], log=Path({str(tmp_path / 'log')!r}), "
              "deadline=time.monotonic() + 120, what='a build')")
    proc = subprocess.Popen([sys.executable, "-c", driver])
    try:
        for _ in range(300):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    grandchild = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    assert not _alive(grandchild)


def test_quickstart_with_a_found_server_prints_the_answer_as_lines(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A found server answers; the answer keeps its newlines and a model cannot drive the terminal."""
    from patinox_core.testing import FakeOllamaServer, OllamaModel

    model = OllamaModel("llama3.2", reply="Paris.\nIt is the capital.\x1b[2J")
    with FakeOllamaServer([model]) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        code, out, _ = run(capsys, "quickstart", "What is the capital of France?")
    assert code == 0
    assert "A (llama3.2:latest on " in out and "Paris.\nIt is the capital.\\x1b[2J\n" in out
    assert "\x1b" not in out and "No model server found" not in out

"""``patinox status --watch``: frames of servers, loaded models and load; nothing a server sends can
drive the terminal; Ctrl-C ends it cleanly (exit 0, no traceback)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from patinox_core import LocalProvider, LocalSettings
from patinox_core.cli import main, watch_frame
from patinox_core.cli_watch import CLEAR, watch
from patinox_core.testing import FakeLlamaServer, FakeOllamaServer, FakeSGLangServer, FakeVLLMServer, OllamaModel

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


# -- the load each server reports of its own (every client's requests, not only this process's) ------
def _section(frame: str, title: str) -> dict[str, list[str]]:
    """The rows of the frame's table under ``title``, by server URL, split into cells; a server's
    note below the table (why its load is unreadable) as its last cell."""
    lines = frame.split(title, 1)[1].split("\n\n", 1)[0].splitlines()[2:]  # past the title's rest and the header
    rows: dict[str, list[str]] = {}
    for line in lines:
        if ": cannot read its load: " in line:
            url, why = line.strip().split(": cannot read its load: ")
            rows[url].append(why)
        else:
            cells = re.split(r"\s{2,}", line.strip())
            rows[cells[0]] = cells
    return rows


def _other_client(url: str, model: str) -> threading.Thread:
    """A request from another client (not this process's provider), held by the server."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    thread = threading.Thread(target=httpx.post, args=(url + "/v1/chat/completions",),
                              kwargs={"json": body, "timeout": 30})
    thread.start()
    return thread


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"not reached within 10 s: {what}"
        time.sleep(0.005)


def test_the_load_is_what_each_server_reports_and_n_a_where_it_reports_none(server: FakeOllamaServer) -> None:
    with FakeLlamaServer(slots=2, service_s=0) as llama, FakeVLLMServer(slots=1, service_s=0) as vllm, \
            FakeSGLangServer(enable_metrics=True) as sglang, FakeSGLangServer() as no_metrics:
        sglang.running, sglang.queued = 3, 5
        llama.hold = vllm.hold = True
        others = [_other_client(llama.url, "gemma-3-4b-it")]
        others += [_other_client(vllm.url, "Qwen/Qwen3-8B") for _ in range(3)]
        try:
            _until(lambda: llama.pool.processing == 1 and (vllm.pool.processing, vllm.pool.queued) == (1, 2),
                   "the other client's requests at work")
            urls = [llama.url, vllm.url, sglang.url, no_metrics.url]
            settings = LocalSettings(endpoints=[{"url": server.url, "kind": "ollama"}] +
                                     [{"url": u, "kind": "openai_compatible"} for u in urls], discover_defaults=False)
            with LocalProvider(settings) as p:
                frame = watch_frame(p, io.StringIO())
        finally:
            llama.hold = vllm.hold = False
            for thread in others:
                thread.join(30)
        rows = _section(frame, "Load (as each server reports it")
        assert rows[llama.url][1:] == ["llama_server", "1", "-", "2", "0 in flight, 0 queued"]
        assert rows[vllm.url][1:] == ["vllm", "1", "2", "-", "0 in flight, 0 queued"]
        assert rows[sglang.url][1:] == ["sglang", "3", "5", "-", "0 in flight, 0 queued"]
        assert rows[no_metrics.url][2] == "unreadable (below)"
        assert rows[no_metrics.url][-1] == "/metrics answered 404; SGLang serves /metrics only when started with " \
                                           "--enable-metrics"
        assert rows[server.url][1:3] == ["ollama", "n/a (server does not report)"]
        assert "This process's requests in flight and queued, per model" in frame


class _BadMetrics(FakeVLLMServer):
    def __init__(self, body: str) -> None:
        super().__init__()
        self.body = body

    def metrics(self) -> str:
        return self.body


@pytest.mark.parametrize(("body", "why"), [
    ("vllm:num_requests_running{x=\"\x1b[2J\"} NaN\n", "unreadable vllm:num_requests_running sample"),
    ("\x1b]0;pwned\x07 nothing here\n", "no vllm:num_requests_running gauge"),
    ("vllm:num_requests_running 1\n" + "#" * (2 << 20), "more than"),  # past the 1 MiB a probe reads
])
def test_a_server_whose_figures_cannot_be_read_says_so_escaped_and_bounded(body: str, why: str) -> None:
    with _BadMetrics(body) as bad:
        settings = LocalSettings(endpoints=[{"url": bad.url, "kind": "openai_compatible"}], discover_defaults=False)
        with LocalProvider(settings) as p:
            frame = watch_frame(p, io.StringIO())
    [cells] = _section(frame, "Load (as each server reports it").values()
    assert cells[2] == "unreadable (below)" and why in cells[-1]
    assert "\x1b" not in frame and "\x07" not in frame


def test_the_server_load_readers() -> None:
    from patinox_core.errors import InvalidResponseError
    from patinox_core.kinds.load import ServerLoad, metrics_reader, slots_load

    assert slots_load(b"[]") == ServerLoad(0, None, 0)
    read = metrics_reader("vllm:num_requests_running", "vllm:num_requests_waiting")
    text = (b'vllm:num_requests_running{engine="0",model_name="a"} 2.0\n'
            b'vllm:num_requests_running{engine="1",model_name="a"} 1.0 1700000000\n'
            b"vllm:num_requests_running_total 99\nvllm:num_requests_waiting 4\n")
    assert read(text) == ServerLoad(3, 4)
    assert read(b"vllm:num_requests_running 0\n") == ServerLoad(0, None)  # no queue gauge: not reported
    for bad in (b"vllm:num_requests_running -1\n", b"vllm:num_requests_running{a=\"b\"}\n", b"{}"):
        with pytest.raises(InvalidResponseError):
            read(bad)

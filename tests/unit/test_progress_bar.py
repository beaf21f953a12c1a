"""The progress events' pure converters and the bar that consumes them (no terminal needed)."""

from __future__ import annotations

import io

import pytest

from patinox_core.backends.base import ErrorPayload
from patinox_core.backends.lmstudio_models import download_event, instances, load_reply
from patinox_core.backends.ollama_pull import PullParser, left_on_ollama, pull_event
from patinox_core.errors import PullError
from patinox_core.provisioning.bar import ProgressBar, describe
from patinox_core.provisioning.events import ProgressEvent, PullTally

S = "http://127.0.0.1:11434"
LINES = [
    '{"status":"pulling manifest"}',
    '{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ff","total":2019377376}',
    '{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ff","total":2019377376,"completed":1009688688}',
    '{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ff","total":2019377376,"completed":2019377376}',
    '{"status":"verifying sha256 digest"}',
    '{"status":"writing manifest"}',
    '{"status":"success"}',
]


def events() -> list[ProgressEvent]:
    parser = PullParser("llama3.2", S, PullTally())
    out = [e for line in LINES for e in parser.feed(line)]
    assert parser.close() == []
    return out


def test_ollama_lines_become_typed_events() -> None:
    got = events()
    assert [e.phase for e in got] == ["manifest", "layer", "layer", "layer", "verifying", "writing", "done"]
    assert [e.completed for e in got[1:4]] == [0, 1009688688, 2019377376]
    assert got[2].fraction == pytest.approx(0.5, abs=1e-6) and got[0].fraction is None
    assert all(e.model == "llama3.2" and e.service == S for e in got)


def test_an_error_line_and_an_early_end() -> None:
    parser = PullParser("x", S, PullTally())
    with pytest.raises(ErrorPayload):
        parser.feed('{"error":"pull model manifest: file does not exist"}')
    parser.feed(LINES[0])
    with pytest.raises(PullError, match="stopped sending"):
        parser.close()


def test_server_status_text_is_escaped() -> None:
    e = pull_event({"status": "pulling \x1b]0;pwned\x07"}, model="m", service=S)
    assert "\x1b" not in e.status and e.phase == "layer"


def test_what_a_stopped_pull_leaves() -> None:
    tally = PullTally()
    assert left_on_ollama(tally).startswith("nothing")
    for e in events()[:4]:
        tally.add(e)
    assert left_on_ollama(tally).startswith("every layer, but not the manifest")


def test_lmstudio_converters() -> None:
    done = download_event({"job_id": "job_1", "status": "completed", "total_size_bytes": 10, "downloaded_bytes": 10},
                          model="m", service=S)
    assert (done.phase, done.completed, done.total) == ("done", 10, 10)
    assert download_event({"status": "already_downloaded"}, model="m", service=S).phase == "done"
    assert download_event({"job_id": "j", "status": "paused", "downloaded_bytes": 5}, model="m", service=S).phase \
        == "paused"
    assert load_reply({"model_instance_id": "m", "config": {"context_length": 16384}, "load_time_seconds": 9.1}) \
        == ("m", 9.1, 16384)  # the newer docs' shape too
    assert instances({"key": "m", "loaded_instances": []}) == []


def test_plain_bar_prints_quarters_and_steps() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, plain=True)
    for e in events():
        bar(e)
    assert out.getvalue().splitlines() == [
        "pulling manifest", "pulling dde5aa3fc5ff: 0% of 2.0 GB", "pulling dde5aa3fc5ff: 50% of 2.0 GB",
        "pulling dde5aa3fc5ff: 100% of 2.0 GB", "verifying sha256 digest", "writing manifest", "success"]


def test_tqdm_bar_draws_bytes_per_layer() -> None:
    tqdm = pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = ProgressBar(out, tqdm=tqdm.tqdm)
    for e in events():
        bar(e)
    text = out.getvalue()
    assert "pulling dde5aa3fc5ff: 100%" in text and "2.02G/2.02G" in text and text.endswith("success\n")
    assert not bar.bars  # closed at the end


def test_notebook_bars_are_widgets() -> None:
    notebook = pytest.importorskip("tqdm.notebook")
    widgets = pytest.importorskip("ipywidgets")
    made = []

    def factory(**kw: object) -> object:
        made.append(notebook.tqdm(display=False, **kw))
        return made[-1]

    bar = ProgressBar(io.StringIO(), tqdm=factory)
    for e in events():
        bar(e)
    assert made and isinstance(made[0].container, widgets.HBox)
    assert made[0].container.children[1].value == made[0].container.children[1].max  # the bar reached the end


def test_final_lines_say_what_was_left() -> None:
    failed = ProgressEvent("m", S, "failed", status="disk full", left_on_server="1.0 GB in 1 partial layer file(s)")
    assert describe(failed) == f"pull of m failed: disk full; left on {S}: 1.0 GB in 1 partial layer file(s)"
    assert describe(ProgressEvent("m", S, "loading")) == f"loading m on {S} …"

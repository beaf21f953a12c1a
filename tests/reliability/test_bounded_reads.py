"""Issue 14, items 1-3: nothing a server sends is held in memory without limit.

Each case runs one call in a subprocess (``attacks.run_attack``) against a ``HostileServer`` and
checks what escaped (a ``LocalProviderError`` of the right class, naming the limit), how much the
process grew (peak RSS) and how long it took: a cap must apply *while* reading.
"""

from __future__ import annotations

import pytest

from .attacks import run_attack
from .hostile import (
    OLLAMA_ROOT,
    OLLAMA_VERSION,
    HostileServer,
    Route,
    endless_chunked,
    endless_line,
    gzip_bomb,
    huge_content_length,
    many_valid_lines,
    sse_junk,
)

SMALL_CAP = {"max_response_bytes": 8 << 20}
GROWTH_MB = 150  # peak RSS growth allowed with the small cap (the cap, decoding slack, threads)


def _assert_capped(out: dict, *, growth_mb: float, within_s: float, needle: str = "max_response_bytes") -> None:
    assert out["error"] == "InvalidResponseError", out
    assert needle in out["message"] and "limit" in out["message"], out
    assert out["rss_growth_mb"] is not None and out["rss_growth_mb"] < growth_mb, out
    assert out["elapsed"] < within_s, out


ATTACKS = {"content_length": huge_content_length, "chunked": endless_chunked, "gzip": gzip_bomb}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("op", ["chat", "achat", "embed", "aembed"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_complete_replies_are_capped_while_reading(attack: str, op: str) -> None:
    path = "/api/embed" if "embed" in op else "/api/chat"
    with HostileServer({path: ATTACKS[attack]}) as server:
        out = run_attack(server.url, op, settings=SMALL_CAP)
    _assert_capped(out, growth_mb=GROWTH_MB, within_s=15)


@pytest.mark.timeout(120)
def test_the_default_cap_bounds_a_2gb_reply() -> None:
    with HostileServer({"/api/chat": endless_chunked}) as server:
        out = run_attack(server.url, "chat")
    _assert_capped(out, growth_mb=450, within_s=30)
    assert str(128 << 20) in out["message"], out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("op", ["discover", "adiscover"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_discovery_probes_are_capped(attack: str, op: str) -> None:
    with HostileServer({"/": ATTACKS[attack]}) as server:
        out = run_attack(server.url, op, settings={"ollama_url": server.url, "probe_timeout": 2.0})
    assert out["error"] is None, out
    [(_url, healthy, error)] = out["result"]
    assert not healthy and "1048576-byte limit" in error, out
    assert out["rss_growth_mb"] < 60, out
    assert out["elapsed"] < 10, out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("op", ["stream", "astream"])
@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_a_line_that_never_ends_is_capped(kind: str, op: str) -> None:
    path, ctype = ("/api/chat", "application/x-ndjson") if kind == "ollama" else ("/v1/chat/completions",
                                                                                 "text/event-stream")
    with HostileServer({path: endless_line(ctype)}) as server:
        out = run_attack(server.url, op, kind=kind, settings=SMALL_CAP)
    _assert_capped(out, growth_mb=GROWTH_MB, within_s=15)
    assert "a line of the stream" in out["message"], out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("op", ["stream", "astream"])
def test_html_instead_of_sse_fails_fast(op: str) -> None:
    with HostileServer({"/v1/chat/completions": sse_junk}) as server:
        out = run_attack(server.url, op, kind="openai")
    assert out["error"] == "InvalidResponseError", out
    assert "not SSE" in out["message"] or "non-SSE" in out["message"], out
    assert out["elapsed"] < 5 and out["rss_growth_mb"] < 60, out


def test_probe_helpers_are_ordinary_servers() -> None:
    """The hostile server answers ordinary replies too (the fingerprint of an Ollama server)."""
    with HostileServer({"/api/version": OLLAMA_VERSION, "/": OLLAMA_ROOT}) as server:
        out = run_attack(server.url, "discover", settings={"ollama_url": server.url})
    assert out["error"] is None and out["result"][0][1] is True, out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("op", ["stream_count", "astream_count"])
def test_a_long_stream_of_valid_lines_stays_flat(op: str) -> None:
    """120 MB of ordinary one-token lines: every one arrives, and memory does not grow with them.
    About 7 s on a quiet machine; the server keeps sending (and the child reading) for up to 240 s, so
    a loaded machine does not cut the stream short: what is measured here is memory, not time."""
    with HostileServer({"/api/chat": Route(many_valid_lines(120), max_s=240)}) as server:
        out = run_attack(server.url, op, settings=SMALL_CAP, timeout=250)
    assert out["error"] is None and out["result"] > 1_000_000, out
    assert out["rss_growth_mb"] < 60, out

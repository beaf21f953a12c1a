"""Issue 14, items 4 and 8: every call ends by a total deadline, however a server drips its bytes,
and name lookups are bounded on the sync path as on the async one.

The read timeout bounds the gap between two bytes; these servers never leave such a gap. Each
case runs in a subprocess (``attacks.run_attack``) whose wall time is measured; the parent kills
a child that outlives its budget and reports it as ``hung``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .attacks import run_attack
from .hostile import (
    OLLAMA_ROOT,
    HostileServer,
    Route,
    drip,
    drip_body,
    endless_continue,
    head,
    never_answer,
)
from .machine_load import slowdown

#: Headers dripped one byte every 0.3 s: about 70 s in all, far beyond any budget below.
HEADERS = head(headers={"Content-Type": "application/json", "Content-Length": "2", "X-Pad": "p" * 160}) + b"{}"
#: Time budgets are multiplied by this (1 on a quiet machine, at most 3): a child waiting for a CPU is
#: not a deadline missed, and every budget stays far below the drip it bounds.
SLOW = slowdown()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("op", ["discover", "adiscover"])
def test_a_dripping_probe_ends_by_the_probe_deadline(op: str) -> None:
    with HostileServer({"/": drip(OLLAMA_ROOT_BYTES, 0.2)}) as server:
        out = run_attack(server.url, op, settings={"ollama_url": server.url, "probe_timeout": 0.5}, timeout=30)
    assert out["error"] is None, out
    [(_url, healthy, error)] = out["result"]
    assert not healthy and "deadline" in error, out
    assert out["elapsed"] < 4 * SLOW, out  # 2 x probe_timeout per probe, one probe; the drip lasts 16 s


DRIP_OPS = ("chat", "achat", "stream", "astream", "embed", "aembed")
DRIPS = ("headers", "body", "continue")


def _drip(attack: str, op: str) -> dict:
    path = "/api/embed" if "embed" in op else "/api/chat"
    arm = {"headers": drip(HEADERS, 0.3), "body": drip_body(0.3), "continue": endless_continue(0.3)}[attack]
    settings = {"read_timeout": 2.0, "total_timeout": 3.0, "max_retries": 0}
    with HostileServer({path: arm}) as server:
        return run_attack(server.url, op, settings=settings, timeout=60)


@pytest.fixture(scope="module")
def drips() -> dict[tuple[str, str], dict]:
    """Every drip case at once (each child mostly waits for its deadline): about 10 s, not 70."""
    cases = [(a, op) for a in DRIPS for op in DRIP_OPS]
    with ThreadPoolExecutor(6) as pool:
        return dict(zip(cases, pool.map(lambda c: _drip(*c), cases), strict=True))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("op", DRIP_OPS)
@pytest.mark.parametrize("attack", DRIPS)
def test_a_dripping_reply_ends_by_the_total_deadline(attack: str, op: str, drips: dict) -> None:
    out = drips[(attack, op)]
    assert out["error"] == "TotalDeadlineError", out  # a RequestTimeoutError subclass
    assert "total deadline" in out["message"] and "total_timeout" in out["message"], out
    assert out["elapsed"] < 3.0 + 5 * SLOW, out  # total_timeout 3 s; the drips last 70 s or forever


@pytest.mark.timeout(120)
@pytest.mark.parametrize("op", ["chat", "achat"])
def test_sending_to_a_server_that_never_reads_follows_the_timeouts(op: str) -> None:
    """32 MB to a server that reads nothing: the write timeout is the configured one, not 30 s."""
    with HostileServer({"/api/chat": Route(never_answer, read_body=False)}) as server:
        out = run_attack(server.url, op, settings={"read_timeout": 1.0, "total_timeout": 2.0, "max_retries": 0},
                         prompt_size=32 << 20, timeout=40)
    assert out["error"] in ("RequestTimeoutError", "TotalDeadlineError"), out  # write timeout or total deadline
    assert out["elapsed"] < 8, out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("op", ["discover", "chat", "adiscover", "achat"])
def test_a_slow_name_lookup_is_bounded_by_the_timeouts(op: str) -> None:
    """``slow-dns.test`` takes 3 s to resolve (the child's getaddrinfo is patched): sync discovery is
    bounded by probe_timeout, a call by connect_timeout."""
    with HostileServer({"/": OLLAMA_ROOT}) as server:
        url = server.url.replace("127.0.0.1", "slow-dns.test")
        out = run_attack(url, op, settings={"ollama_url": url, "probe_timeout": 0.5, "connect_timeout": 0.5,
                                            "max_retries": 0}, slow_dns=3.0, timeout=30)
    assert out["elapsed"] < 2.0, out
    if "discover" in op:
        assert out["error"] is None and out["result"][0][1] is False, out
    else:
        assert out["error"] == "ServiceUnavailableError", out


OLLAMA_ROOT_BYTES = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\nOllama is running"

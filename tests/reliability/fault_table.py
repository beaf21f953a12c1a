"""The fault matrix: one row per fault, the single source of truth for the tests and the docs.

Each ``FaultRow`` says how a fault is provoked on a fake server (``arm``), which operations it
applies to, the ``LocalProviderError`` subclass and ``RecoveryStrategy`` a caller must see, and
what happens when a second server holds the same model (``fallback``). ``test_fault_matrix.py``
runs every row against every public entry point; ``docs/reliability.md`` shows ``render()``'s
table, checked by a test. Regenerate the page after editing a row::

    python -m tests.reliability.fault_table --write
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from patinox_core.errors import (
    CapabilityError,
    ContextOverflowError,
    InvalidResponseError,
    LocalProviderError,
    ModelNotFoundError,
    RecoveryStrategy,
    RequestTimeoutError,
    ServerBusyError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.fakes.lmstudio import sse_error_line
from patinox_core.testing import Fault, Reply

from .machine_load import slowdown

__test__: dict[str, object] = {}  # not a test module (doctest-modules imports it)

#: Every duration below is multiplied by this: 1 on a quiet machine, up to 3 on a loaded one, where
#: a thread may wait that long for a CPU (a 0.4 s connect to a healthy fake then times out).
SLOW = slowdown()
#: Timeouts every fault test runs with (seconds): short, so the matrix runs fast.
CONNECT_S = 0.4 * SLOW
READ_S = 1.0 * SLOW
COLD_S = 3.0 * SLOW
#: How long a slow server waits before its first byte in the timeout rows.
SLOW_BEYOND_READ_S = READ_S + 1.5 * SLOW
LOADING_S = READ_S + 0.3 * SLOW  # beyond the read timeout, within the cold-load timeout
PACE_S = 0.05  # between streamed chunks when a fault cuts a stream
BODY_CAP = 1 << 20  # max_response_bytes in the fault tests: the oversized rows send twice this
TOTAL_S = 6.0 * SLOW  # total_timeout in the fault tests
HOSTILE_TEXT = "\x1b[2J\x1b]0;owned\x07\r\nFAKE LINE "  # clear screen, window title, bell, forged line

OPS = ("chat", "stream", "embed")
KINDS = ("ollama", "lmstudio")
KIND_NAMES = {"ollama": "Ollama", "lmstudio": "LM Studio"}
DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
START, END = "<!-- fault-table:start -->", "<!-- fault-table:end -->"


class Scenario(Protocol):
    """What a row's ``arm`` may touch: the faulty server (the first one tried) and the request."""

    kind: str  # "ollama" | "lmstudio"
    op: str  # "chat" | "stream" | "embed"
    server: Any  # FakeOllamaServer | FakeLMStudioServer
    paths: list[str]  # request paths this operation uses on this server
    model: str  # the model the request names

    def blackhole(self) -> None:
        """The server stops; its port keeps listening but never accepts (connect hangs)."""

    def pace(self, seconds: float) -> None:
        """Stream chunks ``seconds`` apart, as a model generates them."""


Arm = Callable[[Scenario], None]


@dataclass(frozen=True)
class FaultRow:
    """One fault and the outcome every entry point must show."""

    id: str
    fault: str  # what goes wrong, for the docs
    arm: Arm
    ops: tuple[str, ...] = OPS
    kinds: tuple[str, ...] = KINDS
    error: type[LocalProviderError] | None = None  # None: the call must succeed
    recovery: RecoveryStrategy | None = None
    fallback: bool = False  # a second server holding the model serves the call instead
    mid_stream: bool = False  # the error arrives after the first chunks (so it is never replayed)
    loaded: bool = True  # is the model resident before the call (normal vs cold-load read timeout)
    min_s: float = 0.0  # the failing call takes at least this long (it really waited)
    max_s: float = 4.0 * SLOW  # ... and at most this long
    note: str = ""
    says: str = ""  # the error message must contain this
    busy: bool = False  # back-pressure (503/429): never a cooldown

    @property
    def second_server(self) -> str:
        if self.error is None:
            return "-"
        if self.fallback:
            return ("succeeds there; no cooldown (a busy server is not a dead one)" if self.busy
                    else "succeeds there; this server cools down")
        if self.mid_stream:
            return "same error: a stream is never restarted once chunks were shown"
        return "same error: no other server is tried"


# --------------------------------------------------------------------------- arms


def _each_path(s: Scenario, fault: Callable[[str], Fault]) -> None:
    for path in s.paths:
        s.server.inject(fault(path))


def _reply(ollama: Any, lmstudio: Any, status: int, content_type: str = "application/json") -> Arm:
    """Answer every request of the operation with ``status`` and the server family's body."""

    def arm(s: Scenario) -> None:
        body = ollama if s.kind == "ollama" else lmstudio
        body = body(s) if callable(body) else body
        _each_path(s, lambda p: Fault(path=p, times=None, reply=Reply(status, body, content_type=content_type)))

    return arm


def _lms_error(message: str, code: str | None = None, etype: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": "model", "code": code}}


def _refuse(s: Scenario) -> None:
    s.server.kill()


def _blackhole(s: Scenario) -> None:
    s.blackhole()


def _delay(seconds: float) -> Arm:
    return lambda s: _each_path(s, lambda p: Fault(path=p, times=None, delay=seconds))


def _malformed(s: Scenario) -> None:
    body = (b'{"model":"x","created_at":"2025-01-01T00:00:00Z","message":{"role":"assis' if s.kind == "ollama"
            else b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"mess')
    _each_path(s, lambda p: Fault(path=p, times=None, reply=Reply(body=body)))


def _fault(**effect: Any) -> Arm:
    """A persistent ``Fault`` with ``effect`` on every path of the operation; streams paced."""

    def arm(s: Scenario) -> None:
        s.pace(PACE_S)
        _each_path(s, lambda p: Fault(path=p, times=None, **effect))

    return arm


def _error_line(s: Scenario) -> None:
    text = "an error was encountered while running the model"
    line = json.dumps({"error": text}) + "\n" if s.kind == "ollama" else sse_error_line(text)
    s.pace(PACE_S)
    _each_path(s, lambda p: Fault(path=p, times=None, error_line_after=2, error_line=line))


def _oversized(s: Scenario) -> None:
    """A body twice ``max_response_bytes`` (one unbroken line, so a stream's line cap applies too)."""
    _each_path(s, lambda p: Fault(path=p, times=None, reply=Reply(body=b"x" * (2 * BODY_CAP))))


def _redirect(s: Scenario) -> None:
    reply = Reply(307, b"", headers={"Location": "http://10.9.9.9:8080/elsewhere"})
    _each_path(s, lambda p: Fault(path=p, times=None, reply=reply))


def _html_stream(s: Scenario) -> None:
    page = "<html><body><h1>Proxy maintenance</h1></body></html>\n" * 200
    _each_path(s, lambda p: Fault(path=p, times=None, reply=Reply(200, page, content_type="text/event-stream")))


def _load_replies(times: int) -> Arm:
    return lambda s: s.server.load_reply_next(times)


# --------------------------------------------------------------------------- the rows

ROWS: tuple[FaultRow, ...] = (
    FaultRow("refused", "connection refused (server stopped)", _refuse,
             error=ServiceUnavailableError, recovery=RecoveryStrategy.FALLBACK, fallback=True),
    FaultRow("connect_timeout", "connect timeout (port listens, never accepts)", _blackhole,
             error=ServiceUnavailableError, recovery=RecoveryStrategy.FALLBACK, fallback=True,
             min_s=CONNECT_S * 0.8, max_s=CONNECT_S + 2.5 * SLOW),
    FaultRow("read_timeout", "first byte later than the read timeout (model loaded)", _delay(SLOW_BEYOND_READ_S),
             error=RequestTimeoutError, recovery=RecoveryStrategy.RETRY, fallback=True,
             min_s=READ_S * 0.9, max_s=READ_S + 2.5 * SLOW),
    FaultRow("cold_load", "model still loading: first byte after the read timeout, within the cold-load timeout",
             _delay(LOADING_S), loaded=False, min_s=LOADING_S * 0.9, max_s=COLD_S,
             note="a model not known to be resident gets `cold_load_timeout`"),
    FaultRow("not_found", "404 unknown model (deleted since the catalogue was read)",
             _reply(lambda s: {"error": f"model '{s.model}' not found"},
                    lambda s: _lms_error(f'Invalid model identifier "{s.model}". Please specify a valid '
                                         "downloaded model (e.g., other).", "model_not_found"), 404),
             error=ModelNotFoundError, recovery=RecoveryStrategy.PULL_MODEL),
    FaultRow("capability", "400 capability error",
             _reply(lambda s: {"error": f'"{s.model}" does not support ' + ("embeddings" if s.op == "embed"
                                                                             else "tools")},
                    lambda s: _lms_error(f'Failed to load model "{s.model}". Error: Model is not embedding.'
                                         if s.op == "embed" else "Model does not support tool use"), 400),
             error=CapabilityError, recovery=RecoveryStrategy.NONE),
    FaultRow("context_overflow", "400 context overflow",
             _reply({"error": "the input length exceeds the context length"},
                    _lms_error("Trying to keep the first 6000 tokens when context the overflows. However, the "
                               "model is loaded with context length of 4096 tokens, which is not enough."), 400),
             error=ContextOverflowError, recovery=RecoveryStrategy.REDUCE_INPUT),
    FaultRow("rate_limited", "429 too many requests",
             _reply({"error": "too many requests"}, _lms_error("Too many requests", etype="rate_limit_error"), 429),
             error=ServerBusyError, recovery=RecoveryStrategy.RETRY, fallback=True, busy=True,
             max_s=TOTAL_S + 2.0 * SLOW,
             note="back-pressure: retried after `Retry-After` or a short back-off until `total_timeout`"),
    FaultRow("server_error", "500 runner crash",
             _reply({"error": "llama runner process has terminated: signal: killed"},
                    _lms_error("Model crashed during generation", etype="server_error"), 500),
             error=ServerError, recovery=RecoveryStrategy.RETRY, fallback=True),
    FaultRow("bad_gateway", "502 from a proxy (HTML body)",
             _reply("<html><body><h1>502 Bad Gateway</h1></body></html>",
                    "<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html"),
             error=ServerError, recovery=RecoveryStrategy.RETRY, fallback=True,
             note="retried `max_retries` times with backoff first"),
    FaultRow("malformed_json", "malformed JSON body (HTTP 200)", _malformed,
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, fallback=True),
    FaultRow("truncated_ndjson", "truncated NDJSON stream (ends mid-line, no `done`)",
             _fault(truncate_after=2), ops=("stream",), kinds=("ollama",),
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, mid_stream=True),
    FaultRow("truncated_sse", "truncated SSE stream (ends mid-event, no `[DONE]`)",
             _fault(truncate_after=3), ops=("stream",), kinds=("lmstudio",),
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, mid_stream=True),
    FaultRow("error_line", "error line mid-stream", _error_line, ops=("stream",),
             error=ServerError, recovery=RecoveryStrategy.RETRY, mid_stream=True),
    FaultRow("load_reply", 'empty `done_reason:"load"` reply, once', _load_replies(1), ops=("chat", "stream"),
             kinds=("ollama",), note="the request is resent once"),
    FaultRow("load_reply_twice", 'empty `done_reason:"load"` reply, twice in a row', _load_replies(2),
             ops=("chat", "stream"), kinds=("ollama",),
             error=ServerError, recovery=RecoveryStrategy.RETRY, fallback=True),
    FaultRow("killed_mid_stream", "server killed mid-stream (connection reset)", _fault(cut_after=2),
             ops=("stream",), error=ServiceUnavailableError, recovery=RecoveryStrategy.FALLBACK, mid_stream=True),
    FaultRow("stopped_mid_stream", "server stopped mid-stream (SIGTERM: the body ends cleanly between events)",
             _fault(error_line_after=2, error_line="\n"), ops=("stream",), error=ServiceUnavailableError,
             recovery=RecoveryStrategy.FALLBACK, mid_stream=True),
    FaultRow("dropped", "connection closed without a reply", _fault(drop=True),
             error=ServiceUnavailableError, recovery=RecoveryStrategy.FALLBACK, fallback=True),
    FaultRow("oversized", "reply (or one stream line) larger than `max_response_bytes`", _oversized,
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, fallback=True,
             note="read at most the cap, decompressed size included; the message names the setting",
             says="max_response_bytes"),
    FaultRow("redirect", "redirect (HTTP 307) to another host", _redirect,
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, fallback=True,
             note="not followed; the message says where it pointed", says="redirect (HTTP 307) to http://10.9.9.9"),
    FaultRow("html_stream", "an HTML proxy page instead of a stream", _html_stream, ops=("stream",),
             error=InvalidResponseError, recovery=RecoveryStrategy.RETRY, fallback=True,
             note="fails on the first line that is not the stream format", says="<html>"),
    FaultRow("hostile_text", "500 whose message holds terminal escapes and a forged line",
             _reply({"error": HOSTILE_TEXT + "x" * 3000}, _lms_error(HOSTILE_TEXT + "x" * 3000), 500),
             error=ServerError, recovery=RecoveryStrategy.RETRY, fallback=True,
             note="shown escaped and capped; the reply stays on `.body`", says="\\x1b[2J"),
)
ROW_IDS = {row.id: row for row in ROWS}


# --------------------------------------------------------------------------- hostile servers and bad input


@dataclass(frozen=True)
class HardeningRow:
    """A fault a model server would never produce, provoked by a hostile server or bad input in the
    named test (each such test runs the call in a subprocess where memory or time is at stake)."""

    fault: str
    outcome: str
    test: str  # "file.py::test_name"


HARDENING_ROWS: tuple[HardeningRow, ...] = (
    HardeningRow("`Content-Length: 2000000000`, an endless chunked body, a gzip bomb (2 MB inflating to 2 GB)",
                 "`InvalidResponseError` naming `max_response_bytes`, with peak memory bounded by it",
                 "test_bounded_reads.py::test_complete_replies_are_capped_while_reading"),
    HardeningRow("the same against a discovery probe", "the server is reported down (probe replies are capped "
                 "at 1 MiB)", "test_bounded_reads.py::test_discovery_probes_are_capped"),
    HardeningRow("an NDJSON or SSE line that never ends", "`InvalidResponseError` (a line is capped at 16 MiB "
                 "or `max_response_bytes`)", "test_bounded_reads.py::test_a_line_that_never_ends_is_capped"),
    HardeningRow("an HTML page, over and over, where SSE should be", "`InvalidResponseError` on its first line",
                 "test_bounded_reads.py::test_html_instead_of_sse_fails_fast"),
    HardeningRow("a probe dripping one byte every 0.2 s", "the server is reported down after 2 x `probe_timeout`",
                 "test_deadlines.py::test_a_dripping_probe_ends_by_the_probe_deadline"),
    HardeningRow("headers or body dripped within the read timeout, or `100 Continue` forever",
                 "`TotalDeadlineError` (a `RequestTimeoutError`) at `total_timeout` (+ `cold_load_timeout` for a "
                 "cold model)",
                 "test_deadlines.py::test_a_dripping_reply_ends_by_the_total_deadline"),
    HardeningRow("a server that never reads a large request", "`RequestTimeoutError`: writes follow the read "
                 "timeout and the total deadline", "test_deadlines.py::test_sending_to_a_server_that_never_reads_"
                 "follows_the_timeouts"),
    HardeningRow("a name lookup that takes 3 s", "bounded by `probe_timeout` / `connect_timeout`, sync as async",
                 "test_deadlines.py::test_a_slow_name_lookup_is_bounded_by_the_timeouts"),
    HardeningRow("terminal escapes, `\\r`, `\\n` or 100 KB of text in an error, a log record or the CLI",
                 "escaped and capped; the whole reply on the exception's `.body`",
                 "test_hostile_text.py::test_server_text_in_errors_is_escaped_and_capped"),
    HardeningRow("model names and versions with escapes or newlines in `patinox status` / `models` / `chat`",
                 "shown escaped; long names truncated; chat output escaped on a terminal, exact when piped",
                 "test_terminal_output.py::test_tables_neutralise_server_text"),
    HardeningRow("an API key with a trailing newline, CRLF or non-ASCII characters", "stripped, or a "
                 "`ConfigurationError` that never shows the key", "test_secrets_hardening.py::test_a_key_that_"
                 "cannot_be_a_header_is_a_configuration_error_that_hides_it"),
    HardeningRow("a server that echoes the key back, or sets a cookie", "the key is redacted; no cookie is kept",
                 "test_secrets_hardening.py::test_no_cookie_crosses_from_one_server_to_another"),
    HardeningRow("a lone surrogate, a tool schema that is not a JSON Schema object, `temperature=nan`",
                 "`ConfigurationError` before anything is sent",
                 "test_bad_inputs.py::test_tool_schemas_that_are_not_json_schema_objects"),
    HardeningRow("100,000 nested `[` in an SSE line or tool-call arguments", "`InvalidResponseError`",
                 "test_bad_inputs.py::test_deep_nesting_in_a_reply_is_an_invalid_response"),
    HardeningRow("unknown or mistyped arguments and settings (`num_predict=5`, `read_timout`, bad JSON in "
                 "`PATINOX_OVERRIDES`)", "`ConfigurationError` naming the source and the nearest valid name",
                 "test_bad_inputs.py::test_adapter_arguments_of_the_wrong_name_or_type"),
)


def render_hardening() -> str:
    lines = ["| Hostile server or input | What you get | Test (`tests/reliability/`) |", "|---|---|---|"]
    lines += [f"| {r.fault} | {r.outcome} | `{r.test}` |" for r in HARDENING_ROWS]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- docs


def _cell(row: FaultRow) -> tuple[str, ...]:
    error = f"`{row.error.__name__}`" if row.error else "succeeds"
    recovery = f"`{row.recovery.name}`" if row.recovery else "-"
    kinds = ", ".join(KIND_NAMES[k] for k in row.kinds)
    fault = row.fault + (f"; {row.note}" if row.note else "")
    return fault, kinds, ", ".join(row.ops), error, recovery, row.second_server


def render() -> str:
    """The fault table as Markdown (what ``docs/reliability.md`` shows between its markers)."""
    head = ("Fault", "Servers", "Operations", "Error raised", "`.recovery`", "With a second server holding the model")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(row)) + " |" for row in ROWS]
    return "\n".join(lines) + "\n\n" + render_hardening()


def replace_table(page: str, table: str) -> str:
    """``page`` with the text between the fault-table markers replaced by ``table``."""
    before, _, rest = page.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{table}{END}{after}"


def documented_table(page: str) -> str:
    """The table currently between the markers of ``page``."""
    _, _, rest = page.partition(START)
    return rest.partition(END)[0].lstrip("\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        DOCS_PAGE.write_text(replace_table(DOCS_PAGE.read_text(encoding="utf-8"), render()), encoding="utf-8")
        print(f"updated {DOCS_PAGE}")
    else:
        sys.stdout.write(render())

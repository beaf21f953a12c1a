"""The fault matrix (``fault_table.ROWS``) x every public entry point, on real loopback fake servers.

Each case asserts the ``LocalProviderError`` subclass and ``.recovery`` of its row, that the
failure came within the row's time bounds (and really waited for a timeout where one applies),
which server served, that a stream failing mid-way showed chunks first and was not replayed, and
that the same provider works again once the fault is gone. With a second server holding the model,
a row marked ``fallback`` must succeed there.

The cases selected for this run are executed together, eight at a time, by a module fixture (they
share nothing, and most of their time is spent waiting out timeouts); each test then checks its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .fault_table import DOCS_PAGE, HARDENING_ROWS, ROWS, SLOW, documented_table, render
from .harness import ENTRY_POINTS, Case, Outcome, build_cases, reply_of, run_cases

CASES = build_cases()
FALLBACK_BUDGET_S = 1.0 * SLOW  # what answering from the second server may add
HEAL_BUDGET_S = 3.0 * SLOW  # the first call after the fault is gone


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> dict[str, Outcome]:
    """The outcome of every ``test_fault`` case selected in this session, run concurrently."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "module", None) is request.module
                and "case" in getattr(getattr(item, "callspec", None), "params", {})]
    return run_cases(selected)


def _describe(out: Outcome) -> str:
    return (f"error={out.error!r} result={out.result!r} elapsed={out.elapsed:.2f}s chunks={out.chunks} "
            f"served={out.served} healed={out.healed!r} heal_error={out.heal_error!r} "
            f"heal_elapsed={out.heal_elapsed:.2f}s")


def _assert_result(case: Case, result: object, tag: str) -> None:
    if case.ep.op == "embed":
        assert isinstance(result, list) and len(result) == 2, result
        assert all(isinstance(v, list) and v and all(isinstance(x, float) for x in v) for v in result), result
    else:
        assert result == reply_of(tag)


def _assert_success(case: Case, out: Outcome, tag: str) -> None:
    assert out.error is None, _describe(out)
    _assert_result(case, out.result, tag)
    served_by = out.served[ord(tag) - ord("A")]
    assert served_by >= 1, f"server {tag} got no request: {_describe(out)}"


def _assert_failure(case: Case, out: Outcome) -> None:
    row = case.row
    assert row.error is not None and row.recovery is not None
    err = out.error
    assert isinstance(err, row.error), _describe(out)
    assert err.recovery is row.recovery, _describe(out)
    assert err.service == out.urls[0], f"the error names {err.service!r}, not the failed server {out.urls[0]}"
    assert str(err), "an error must say what happened"
    assert row.says in str(err), f"the message should say {row.says!r}: {err}"
    assert not any(c in str(err) for c in "\x1b\x07\r\n"), f"raw control characters in {str(err)!r}"
    if row.mid_stream and case.ep.op == "stream":
        assert out.chunks >= 1, f"the fault should hit after the first chunks: {_describe(out)}"


@pytest.mark.timeout(600)  # the first case waits for the whole (concurrent) matrix
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, outcomes: dict[str, Outcome]) -> None:
    row = case.row
    out = outcomes[case.id]
    if out.crash is not None:
        raise out.crash
    if row.error is None:
        _assert_success(case, out, "A")
    elif case.pair and row.fallback:
        _assert_success(case, out, "B")
    else:
        _assert_failure(case, out)
        if case.pair:
            assert out.served[1] == 0, f"the second server must not be tried: {_describe(out)}"
        else:
            assert out.heal_error is None, f"the provider stays broken after the fault is gone: {_describe(out)}"
            _assert_result(case, out.healed, "A")
            assert out.heal_elapsed <= HEAL_BUDGET_S, f"recovery took {out.heal_elapsed:.2f}s"
    budget = row.max_s + (FALLBACK_BUDGET_S if case.pair else 0.0)
    assert row.min_s <= out.elapsed <= budget, f"took {out.elapsed:.2f}s, expected {row.min_s}-{budget}s"


def test_every_row_runs_on_every_entry_point_of_its_operations() -> None:
    for row in ROWS:
        eps = {c.ep.id for c in CASES if c.row is row}
        assert eps == {ep.id for ep in ENTRY_POINTS if ep.op in row.ops}, row.id
        if row.fallback or row.error is not None:
            assert any(c.pair for c in CASES if c.row is row), row.id


def test_docs_show_the_fault_table() -> None:
    page = DOCS_PAGE.read_text(encoding="utf-8")
    assert documented_table(page) == render(), (
        "docs/reliability.md is stale: run `python -m tests.reliability.fault_table --write`")


def test_every_hardening_row_names_a_test_that_exists() -> None:
    for row in HARDENING_ROWS:
        file, _, name = row.test.partition("::")
        source = (Path(__file__).parent / file).read_text(encoding="utf-8")
        assert f"def {name}(" in source, f"{row.test} is not a test"

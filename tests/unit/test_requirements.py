"""``Requirements`` and the ``--explain`` grammar: what each term sets, and typed errors for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from patinox_core import ConfigurationError, Requirements
from patinox_core.requirements import as_requirements, parse_requirements

GRAMMAR = [
    ("", Requirements()),
    ("tools", Requirements(tools=True)),
    (" Tools , VISION ", Requirements(tools=True, vision=True)),
    ("thinking, embeddings, structured", Requirements(thinking=True, embeddings=True, structured_output=True)),
    ("ctx>=32k", Requirements(min_context=32768)),
    ("ctx >= 8192", Requirements(min_context=8192)),
    ("context>=1m", Requirements(min_context=1024 * 1024)),
    ("size<=8GB", Requirements(max_size_bytes=8_000_000_000)),
    ("size<=4.5gb", Requirements(max_size_bytes=4_500_000_000)),
    ("size<=2GiB", Requirements(max_size_bytes=2 * 2**30)),
    ("prefer=fastest", Requirements(prefer="fastest")),
    ("prefer=BEST", Requirements(prefer="best")),
    ("server=http://127.0.0.1:1234/, server=ollama", Requirements(servers=("http://127.0.0.1:1234", "ollama"))),
    ("remote", Requirements(allow_remote=True)),
    ("tools,,remote", Requirements(tools=True, allow_remote=True)),
]


@pytest.mark.parametrize(("text", "expected"), GRAMMAR, ids=[t or "empty" for t, _ in GRAMMAR])
def test_each_term_sets_its_key(text, expected):
    parsed = parse_requirements(text)
    assert parsed == expected
    assert parse_requirements(parsed.describe() if parsed.describe() != "any model" else "") == parsed  # round trip


BAD = [
    ("toosl", "did you mean 'tools'?"),
    ("vison", "did you mean 'vision'?"),
    ("ctx>=lots", "'lots' is not an amount"),
    ("ctx>=0", "above zero"),
    ("ctx<=32k", "write it like 'ctx>=32k'"),
    ("size>=8GB", "write it like 'size<=8GB'"),
    ("size<=8 parsecs", "not an amount"),
    ("prefer=cheapest", "prefer is one of loaded, fastest, best"),
    ("gpu", "the terms are:"),
]


@pytest.mark.parametrize(("text", "says"), BAD)
def test_bad_terms_are_typed_errors_that_say_how(text, says):
    with pytest.raises(ConfigurationError) as err:
        parse_requirements(text)
    assert says in str(err.value)


def test_requirements_are_frozen_and_validated():
    req = Requirements(tools=True)
    with pytest.raises(ValidationError, match="frozen"):
        req.tools = False  # type: ignore[misc]
    with pytest.raises(ConfigurationError, match="min_context"):
        Requirements(min_context=0)
    with pytest.raises(ConfigurationError, match="prefer"):
        Requirements(prefer="cheap")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="did you mean 'max_size_bytes'"):
        Requirements(max_size=1)


def test_what_requires_accepts():
    req = Requirements(tools=True)
    assert as_requirements(req) is req and as_requirements(None) is None
    assert as_requirements({"tools": True}) == req == as_requirements("tools")
    with pytest.raises(ConfigurationError, match="not list"):
        as_requirements(["tools"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="did you mean 'allow_remote'"):
        as_requirements({"allow_remot": True})

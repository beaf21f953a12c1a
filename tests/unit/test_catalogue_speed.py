"""``Catalogue.record_speed`` defers rewriting an entry while the speed tier stays the same; what
readers see must equal folding every measurement in at once with ``capabilities.record_speed``."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from patinox_core.capabilities import SpeedTier, fold_speed, record_speed
from patinox_core.catalogue import Catalogue
from patinox_core.config import LocalSettings, ProviderKind
from patinox_core.routing.fallback import with_model
from patinox_core.types import ChatRequest, Message

A = "http://127.0.0.1:11434"


def _catalogue(**overrides: dict[str, object]) -> Catalogue:
    cat = Catalogue(LocalSettings(discover_defaults=False, discovery_ttl=60, overrides=overrides))
    cat.store(A, ProviderKind.OLLAMA, "0.12.0", [{"name": "a", "parameter_size": "8B"},
                                                 {"name": "b", "loaded": True}])  # type: ignore[list-item]
    return cat


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("pinned", [False, True])
def test_deferred_speeds_read_like_immediate_ones(seed: int, pinned: bool) -> None:
    rng = random.Random(seed)
    cat = _catalogue(**({"a": {"speed_tier": "slow"}} if pinned else {}))
    expected = cat.entries([A])[0]
    versions = [cat.version]
    for step in range(60):
        speed = rng.choice([5.0, 9.0, 30.0, 31.0, 70.0, 200.0]) * rng.uniform(0.9, 1.1)
        cat.record_speed(A, "a", speed)
        before = expected.speed_tier
        expected = record_speed(expected, speed)
        if step == 20:
            cat.mark_loaded(A, "a")
            expected = replace(expected, loaded=True)
        if rng.random() < 0.3:  # read now and then: deferred speeds are caught up on read
            got = cat.entries([A])[0]
            assert got == expected
        if expected.speed_tier is not before:  # routing must see a new tier at once
            assert cat.version > versions[-1]
        versions.append(cat.version)
    assert cat.entries([A])[0] == expected
    assert cat.entries([A])[1].tokens_per_second is None  # the other model is untouched
    if pinned:
        assert expected.speed_tier is SpeedTier.SLOW


def test_refresh_keeps_the_deferred_speed() -> None:
    cat = _catalogue()
    for speed in (40.0, 41.0, 42.0):  # one tier: the last two are deferred
        cat.record_speed(A, "a", speed)
    tps = fold_speed(fold_speed(fold_speed(None, 40.0), 41.0), 42.0)
    cat.store(A, ProviderKind.OLLAMA, None, [{"name": "a"}])
    assert cat.entries([A])[0].tokens_per_second == pytest.approx(tps)
    cat.record_speed(A, "a", 0.0)  # not a measurement
    assert cat.entries([A])[0].tokens_per_second == pytest.approx(tps)


def test_with_model_copies_every_field() -> None:
    req = ChatRequest(model="m", messages=[Message("user", "hi")], tools=[{"name": "f"}], tool_choice="f",
                      temperature=0.1, max_tokens=5, top_p=0.9, top_k=3, seed=1, stop=["x"], response_format="json",
                      think="low", keep_alive="5m", num_ctx=4096, timeout=3.0, max_retries=1, options={"a": 1})
    renamed = with_model(req, "m:latest")
    assert renamed == replace(req, model="m:latest") and req.model == "m"
    assert with_model(req, "m") is req

"""The pure parts of ``num_ctx`` on LM Studio (``backends/lmstudio_context.py``): which instance a
request names, and the load plan's once-per-context rule, driven step by step without I/O."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from patinox_core.backends.lmstudio_context import Instances, Known, instance_plan, known_from_listing, no_load_api
from patinox_core.backends.lmstudio_models import Loaded
from patinox_core.backends.malformed import MalformedReply
from patinox_core.errors import InsufficientMemoryError
from patinox_core.exchange import Sleep

PAUSE = object()  # a step the test answers, standing for the load's HTTP exchange


def table(*instances: tuple[str, int | None], max_context: int | None = 32768) -> Instances:
    t = Instances()
    t.listed({"m": Known(max_context, instances)})
    return t


def plan(t: Instances, want: int, result: Loaded | Exception, loads: list[Any], api: str = "v1",
         service: str = "http://s", listed: Known | None = None) -> Generator[Any, Any, tuple[str, float | None]]:
    """``loads`` gets "listing" for each listing (which finds ``listed``, else what ``t`` knew) and
    the context of each load."""
    def listing() -> Generator[Any, Any, None]:
        loads.append("listing")
        if listed is not None:
            t.listed({"m": listed})
        return
        yield  # a generator

    def load(context: int) -> Generator[Any, Any, Loaded]:
        loads.append(context)
        yield PAUSE
        if isinstance(result, Exception):
            raise result
        return result
    return instance_plan(t, "m", want, service=service, native_api=lambda: api, listing=listing, load=load)


def finish(p: Generator[Any, Any, Any]) -> Any:
    try:
        while True:
            p.send(None)
    except StopIteration as stop:
        return stop.value


@pytest.mark.parametrize(("instances", "want", "picked"), [
    ((("m", 8192),), 8192, "m"),
    ((("m", 8192), ("m:2", 32768)), 4096, "m"),
    ((("m", 8192), ("m:2", 32768), ("m:3", 16384)), 9000, "m:3"),
    ((("m:2", 8192),), 8192, "m:2"),  # the key's first copy was unloaded: the one left
    ((("m", None),), 2048, None),  # an allocation nobody said: load one that says
    ((), 2048, None),
])
def test_pick(instances: tuple[tuple[str, int | None], ...], want: int, picked: str | None) -> None:
    assert table(*instances).pick("m", want) == picked


def test_a_load_allocating_less_than_asked_warns_once_and_is_not_repeated() -> None:
    t, loads = table(("m", 4096), max_context=None), []
    with pytest.warns(UserWarning, match="allocated 16384 tokens of context to m, not the 65536"):
        assert finish(plan(t, 65536, Loaded("m:2", 2.0, 16384), loads)) == ("m:2", 2.0)
    assert t.pick("m", 65536) == "m:2" and loads == ["listing", 65536]  # no reload thrash
    t.listed({"m": Known(None, (("m", 4096),))})  # m:2 unloaded elsewhere: the grant goes with it
    assert t.pick("m", 65536) is None


def test_concurrent_plans_load_once_and_share_the_instance() -> None:
    t, loads = table(("m", 4096)), []
    first, second = plan(t, 16384, Loaded("m:2", 1.5, 16384), loads), plan(t, 16384, Loaded("x", 0, 1), loads)
    assert first.send(None) is PAUSE  # loading
    assert isinstance(second.send(None), Sleep) and isinstance(second.send(None), Sleep)  # waiting
    assert finish(first) == ("m:2", 1.5)
    assert finish(second) == ("m:2", None) and loads == ["listing", 16384]


def test_a_waiter_gets_the_loaders_error_and_the_next_request_loads_again() -> None:
    t, loads = table(("m", 4096)), []
    refused = InsufficientMemoryError("no room", hint="a smaller context")
    first, second = plan(t, 16384, refused, loads), plan(t, 16384, refused, loads)
    assert first.send(None) is PAUSE and isinstance(second.send(None), Sleep)
    with pytest.raises(InsufficientMemoryError):
        finish(first)
    with pytest.raises(InsufficientMemoryError) as info:
        finish(second)
    assert info.value is not refused and info.value.hint == "a smaller context"
    assert finish(plan(t, 16384, Loaded("m:2", 1.0, 16384), loads)) == ("m:2", 1.0)
    assert loads == ["listing", 16384, "listing", 16384]


def test_a_cancelled_load_hands_over_to_a_waiter() -> None:
    t, loads = table(("m", 4096)), []
    first, second = plan(t, 16384, Loaded("m:2", 1.0, 16384), loads), plan(t, 16384, Loaded("m:2", 1.0, 16384), loads)
    assert first.send(None) is PAUSE and isinstance(second.send(None), Sleep)
    first.close()  # the caller went away (task cancelled, Ctrl-C)
    assert second.send(None) is PAUSE  # the waiter loads now
    assert finish(second) == ("m:2", 1.0) and loads == ["listing", 16384, "listing", 16384]


def test_other_servers_and_contexts_do_not_wait_for_each_other() -> None:
    t, u, loads = table(("m", 4096)), table(("m", 4096)), []
    a = plan(t, 16384, Loaded("m:2", 1.0, 16384), loads)
    b = plan(u, 16384, Loaded("m:2", 1.0, 16384), loads, service="http://other")
    c = plan(t, 20000, Loaded("m:3", 1.0, 20000), loads)
    assert a.send(None) is PAUSE and b.send(None) is PAUSE and c.send(None) is PAUSE
    for p in (a, b, c):
        finish(p)
    assert [n for n in loads if n != "listing"] == [16384, 16384, 20000]


def test_an_instance_loaded_meanwhile_is_found_by_the_listing_before_a_load() -> None:
    t, loads = table(("m", 4096)), []
    meanwhile = Known(32768, (("m", 4096), ("m:2", 16384)))  # another client, or a listing older than a load
    assert finish(plan(t, 16384, Loaded("m:3", 1.0, 16384), loads, listed=meanwhile)) == ("m:2", None)
    assert loads == ["listing"]


def test_an_unknown_model_is_listed_first_then_loaded_without_a_second_listing() -> None:
    t, loads = Instances(), []
    assert finish(plan(t, 16384, Loaded("m", 1.0, 16384), loads, listed=Known(32768, ()))) == ("m", 1.0)
    assert loads == ["listing", 16384] and t.pick("m", 16384) == "m"


def test_without_the_v1_api_nothing_is_loaded() -> None:
    t, loads = table(("m", 4096)), []
    with pytest.raises(Exception, match="num_ctx=8192 needs m loaded with that context") as info:
        finish(plan(t, 8192, Loaded("m:2", 1.0, 8192), loads, api="v0"))
    assert "(m has 4096 tokens allocated)" in str(info.value) and not loads
    assert "allocated" not in no_load_api("m", 8192, None, "http://s").message


def test_a_malformed_listing_is_a_malformed_reply() -> None:
    """Parsed inside the listing's ``call``, which makes it an ``InvalidResponseError``."""
    with pytest.raises(MalformedReply):
        known_from_listing("v1", {"models": [{"key": "m", "loaded_instances": "oops"}]})
    assert known_from_listing(None, {"data": [{"id": "m"}]}) == {}

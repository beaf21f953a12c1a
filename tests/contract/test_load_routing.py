"""Load-aware routing against slot-limited llama-server fakes: spread by capacity, patinox's own
queue, 503/429 as back-pressure and ``ServerBusyError`` at the deadline; sync, async and streams.

Assertions are on counts and splits; times appear only as generous hang guards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from typing import Any

import pytest

from patinox_core import (
    ChatRequest,
    LocalProvider,
    LocalSettings,
    Message,
    ServerBusyError,
    ServerError,
    ServiceUnavailableError,
)
from patinox_core.testing import FakeLlamaServer

MODEL = "gemma-3-4b-it"


def _ask(i: int) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[Message(role="user", content=f"request {i}")])


def _provider(servers: list[FakeLlamaServer], *, limits: dict[int, int] | None = None, **extra: Any) -> LocalProvider:
    endpoints = [{"url": s.url, **({"max_concurrency": limits[i]} if limits and i in limits else {})}
                 for i, s in enumerate(servers)]
    return LocalProvider(LocalSettings(endpoints=endpoints, discover_defaults=False, **extra))


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Iterator[list[FakeLlamaServer]]:
    specs = getattr(request, "param", [{"slots": 4}, {"slots": 2}, {"slots": 1}, {"slots": 1}])
    with ExitStack() as stack:
        yield [stack.enter_context(FakeLlamaServer(MODEL, **{"service_s": 0.02, **spec}).start()) for spec in specs]


def _served(fleet: list[FakeLlamaServer]) -> list[int]:
    return [s.stats()["served"] for s in fleet]


def _never_over_slots(fleet: list[FakeLlamaServer]) -> None:
    for s in fleet:
        stats = s.stats()
        assert stats["max_concurrency"] <= stats["slots"], stats
        assert stats["max_queued"] == 0, f"patinox queued at the server instead of holding: {stats}"


@pytest.mark.timeout(60)
def test_async_spreads_by_capacity_and_never_overfills(fleet: list[FakeLlamaServer]) -> None:
    async def main() -> list[Any]:
        async with _provider(fleet) as provider:
            await provider.alist_models()
            for s in fleet:
                s.reset_stats()
            return await asyncio.gather(*(provider.achat(_ask(i)) for i in range(96)))

    results = asyncio.run(main())
    assert len(results) == 96 and all(r.message.content for r in results)
    served = _served(fleet)
    assert sum(served) == 96
    assert served[0] > served[1] > max(served[2], served[3]) >= 1, served  # 4 > 2 > 1 slots
    _never_over_slots(fleet)
    for s in fleet:  # the capacity came from /props total_slots
        assert s.stats()["max_concurrency"] == s.stats()["slots"]


@pytest.mark.timeout(60)
def test_sync_threads_share_one_queue(fleet: list[FakeLlamaServer]) -> None:
    with _provider(fleet) as provider:
        provider.list_models()
        for s in fleet:
            s.reset_stats()
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: provider.chat(_ask(i)), range(48)))
        lanes = {(row["service"], row["model"]): row for row in provider.scheduler.snapshot()}
    assert len(results) == 48
    assert sum(_served(fleet)) == 48 and all(n >= 1 for n in _served(fleet))
    _never_over_slots(fleet)
    assert all(row["in_flight"] == 0 and row["queued"] == 0 for row in lanes.values())
    assert lanes[(fleet[0].url, MODEL)]["capacity"] == 4


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 1}, {"slots": 1}]], indirect=True)
def test_a_stream_holds_its_slot_to_the_end(fleet: list[FakeLlamaServer]) -> None:
    async def one(provider: LocalProvider, i: int) -> str:
        text = ""
        async for chunk in provider.astream_chat(_ask(i)):
            text += chunk.content
            await asyncio.sleep(0.005)  # the stream stays open while the caller reads
        return text

    async def main() -> list[str]:
        async with _provider(fleet) as provider:
            await provider.alist_models()
            texts = await asyncio.gather(*(one(provider, i) for i in range(6)))
            assert all(row["in_flight"] == 0 for row in provider.scheduler.snapshot())
            return texts

    assert all(asyncio.run(main()))
    _never_over_slots(fleet)

    with _provider(fleet) as provider:
        stream = provider.stream_chat(_ask(0))
        next(stream)
        assert sum(row["in_flight"] for row in provider.scheduler.snapshot()) == 1  # held while open
        stream.close()
        assert sum(row["in_flight"] for row in provider.scheduler.snapshot()) == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 1, "queue_limit": 0}, {"slots": 2}]], indirect=True)
def test_503_goes_to_another_server_and_never_cools_down(fleet: list[FakeLlamaServer]) -> None:
    # the first server claims more than it has (max_concurrency=4 over 1 slot): it answers 503
    with _provider(fleet, limits={0: 4}) as provider:
        provider.list_models()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: provider.chat(_ask(i)), range(24)))
        assert len(results) == 24
        assert fleet[0].stats()["refused"] >= 1 and sum(_served(fleet)) == 24
        assert not provider._health.cooling(fleet[0].url)  # busy is not dead
        lane = {r["service"]: r for r in provider.scheduler.snapshot()}[fleet[0].url]
        assert lane["busy_replies"] >= 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 1, "queue_limit": 0, "retry_after": 1}]], indirect=True)
def test_503_with_retry_after_is_retried_on_the_same_server(fleet: list[FakeLlamaServer]) -> None:
    async def main() -> list[Any]:
        async with _provider(fleet, limits={0: 3}, total_timeout=30) as provider:
            await provider.alist_models()
            return await asyncio.gather(*(provider.achat(_ask(i)) for i in range(3)))

    assert len(asyncio.run(main())) == 3
    stats = fleet[0].stats()
    assert stats["served"] >= 3 and stats["refused"] >= 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 1}]], indirect=True)
def test_server_busy_error_when_the_deadline_runs_out_in_the_queue(fleet: list[FakeLlamaServer]) -> None:
    server = fleet[0]
    with _provider(fleet, total_timeout=1.0) as provider:
        provider.list_models()
        server.hold = True  # the one slot stays taken
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(provider.chat, _ask(0))
            for _ in range(500):  # hang guard: the first request holds the slot
                if server.pool.processing:
                    break
                threading.Event().wait(0.01)
            with pytest.raises(ServerBusyError) as info:
                provider.chat(_ask(1))
            server.hold = False
            wait([first], 30)  # the held request ends either way (answered, or out of time)
    err = info.value
    assert isinstance(err, ServiceUnavailableError) and isinstance(err, ServerError)
    assert "total_timeout" in str(err) and err.recovery.value == "retry"
    assert server.stats()["served"] <= 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 1, "queue_limit": 0, "retry_after": 1}]], indirect=True)
def test_server_busy_error_after_503s_until_the_deadline(fleet: list[FakeLlamaServer]) -> None:
    server = fleet[0]

    async def main() -> BaseException:
        async with _provider(fleet, limits={0: 2}, total_timeout=1.5) as provider:
            await provider.alist_models()
            server.hold = True
            held = asyncio.create_task(provider.achat(_ask(0)))
            for _ in range(500):
                if server.pool.processing:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(ServerBusyError) as info:
                await provider.achat(_ask(1))
            server.hold = False
            await asyncio.gather(held, return_exceptions=True)
            assert not provider._health.cooling(server.url)
            return info.value

    err = asyncio.run(main())
    assert err.status_code == 503 and err.retry_after == 1.0 and server.stats()["refused"] >= 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 2, "embedding_dim": 8}, {"slots": 1, "embedding_dim": 8}]],
                         indirect=True)
def test_embedding_jobs_split_over_servers_of_one_build_by_capacity(fleet: list[FakeLlamaServer]) -> None:
    texts = [f"text {i}" for i in range(30)]

    async def main() -> Any:
        async with _provider(fleet) as provider:
            await provider.alist_models()
            fleet[0].hold = True  # the first job keeps a busy, so the second is sent to b: each size seen once
            first = asyncio.create_task(provider.aembed(["warm"], MODEL))
            for _ in range(500):
                if fleet[0].pool.processing:
                    break
                await asyncio.sleep(0.01)
            await provider.aembed(["warm"], MODEL)
            fleet[0].hold = False
            await first
            for s in fleet:
                s.reset_stats()
            return await provider.aembed(texts, MODEL, batch_size=1, max_concurrency=6)

    result = asyncio.run(main())
    assert len(result.vectors) == 30 and {len(v) for v in result.vectors} == {8}
    served = _served(fleet)
    assert sum(served) == 30 and served[0] > served[1] >= 1, served  # 2 slots against 1
    _never_over_slots(fleet)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 2}, {"slots": 1}]], indirect=True)
def test_status_shows_capacity_in_flight_queued_and_latency(fleet: list[FakeLlamaServer],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    import argparse
    import io
    import json
    import logging

    from patinox_core.cli import cmd_status

    with _provider(fleet) as provider:
        with caplog.at_level(logging.DEBUG, logger="patinox_core.routing"), ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: provider.chat(_ask(i)), range(8)))
        rows = {r["service"]: r for r in provider.load_status()}
        out = io.StringIO()
        cmd_status(provider, argparse.Namespace(json=True, require=False), out)
        data = json.loads(out.getvalue())
        text = io.StringIO()
        cmd_status(provider, argparse.Namespace(json=False, require=False), text)
    assert [rows[s.url]["capacity"] for s in fleet] == [2, 1]
    assert sum(r["served"] for r in rows.values()) == 8
    assert all(r["in_flight"] == 0 and r["queued"] == 0 for r in rows.values())
    assert all(rows[s.url]["latency_ms"] is not None for s in fleet if rows[s.url]["served"])
    assert {r["service"]: r["capacity"] for r in data["load"]} == {fleet[0].url: 2, fleet[1].url: 1}
    assert "SLOTS" in text.getvalue() and "QUEUED" in text.getvalue()
    decisions = [r.getMessage() for r in caplog.records if r.name == "patinox_core.routing"]
    assert any(" -> " in m and "least expected completion" in m for m in decisions), decisions


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fleet", [[{"slots": 2}, {"slots": 2}]], indirect=True)
def test_conversations_stay_on_the_server_of_their_first_turn(fleet: list[FakeLlamaServer]) -> None:
    async def talk(provider: LocalProvider, c: int) -> None:
        messages = [Message(role="system", content=f"conversation {c}: be brief")]  # the fakes key on it
        for turn in range(1, 4):
            messages.append(Message(role="user", content=f"turn {turn}"))
            reply = await provider.achat(ChatRequest(model=MODEL, messages=list(messages)))
            messages.append(reply.message)

    async def main() -> None:
        async with _provider(fleet) as provider:
            await provider.alist_models()
            for s in fleet:
                s.reset_stats()
            await asyncio.gather(*(talk(provider, c) for c in range(12)))

    asyncio.run(main())
    visits: dict[str, list[tuple[float, int]]] = {}
    for index, server in enumerate(fleet):
        for record in server.stats(records=True)["records"]:
            visits.setdefault(record["key"], []).append((record["arrived"], index))
    stay = later = 0
    for turns in visits.values():
        turns.sort()
        later += len(turns) - 1
        stay += sum(1 for _, index in turns[1:] if index == turns[0][1])
    assert later == 24 and stay >= 22, (stay, later)
    assert all(n >= 6 for n in _served(fleet)), _served(fleet)  # both servers used


def test_an_explicit_session_id_keeps_different_prompts_together(fleet: list[FakeLlamaServer]) -> None:
    with _provider(fleet) as provider:
        first = provider.chat(ChatRequest(model=MODEL, messages=[Message(role="user", content="a")], session_id="s1"))
        for text in ("b", "c", "d"):
            again = provider.chat(ChatRequest(model=MODEL, messages=[Message(role="user", content=text)],
                                              session_id="s1"))
            assert again.service == first.service


def test_adapters_pass_session_id_per_instance_and_per_call(fleet: list[FakeLlamaServer]) -> None:
    from langchain_core.messages import HumanMessage
    from llama_index.core.llms import ChatMessage

    from patinox_langchain import ChatPatinox
    from patinox_llamaindex import Patinox
    from patinox_llamaindex._convert import to_chat_request

    with _provider(fleet) as provider:
        lc = ChatPatinox(model=MODEL, client=provider, session_id="lc")
        first = lc.invoke([HumanMessage("x")]).response_metadata["service"]
        assert all(lc.invoke([HumanMessage(t)]).response_metadata["service"] == first for t in "abc")
        assert provider.affinity.get("lc") == (first, MODEL)
        lc.invoke([HumanMessage("y")], session_id="per-call")
        assert provider.affinity.get("per-call") is not None
    msgs = [ChatMessage(role="user", content="x")]
    assert to_chat_request(msgs, defaults={"session_id": "li"}, call={}).session_id == "li"
    assert to_chat_request(msgs, defaults={"session_id": "li"}, call={"session_id": "call"}).session_id == "call"
    assert Patinox(model=MODEL, session_id="li").session_id == "li"

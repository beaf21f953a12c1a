"""Event loops: one adapter object used under ``asyncio.run()`` three times, mixed with sync calls,
and from a running loop the way a Jupyter cell uses it (sync ``invoke`` straight from a coroutine,
from a worker thread, and ``await ainvoke`` in the same loop), with no nest-asyncio.

Each adapter is built the way users build it (``base_url=`` pinned to a fake server, its own
provider and the default aiohttp transport), so per-loop clients are really exercised. A client bound
to a closed loop would fail with "Event loop is closed"; an unclosed aiohttp session is reported by
asyncio's exception handler at ERROR: both are checked.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest

from patinox_core.testing import FakeOllamaServer, OllamaModel

RUNS = 3


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    models = [OllamaModel("llama3.2", reply="Paris is the capital.", loaded=True),
              OllamaModel("nomic-embed-text", capabilities=["embedding"], loaded=True)]
    with FakeOllamaServer(models) as fake:
        yield fake


def _no_loop_trouble(caplog: pytest.LogCaptureFixture) -> None:
    gc.collect()  # unclosed sessions/transports are reported when collected
    bad = [r.getMessage() for r in caplog.records
           if r.levelno >= logging.ERROR or "Unclosed" in r.getMessage() or "Event loop is closed" in r.getMessage()]
    assert not bad, bad


def _chat_patinox(server: FakeOllamaServer):
    from patinox_langchain import ChatPatinox

    return ChatPatinox(model="llama3.2", base_url=server.url, provider="ollama")


def _patinox(server: FakeOllamaServer):
    from patinox_llamaindex import Patinox

    return Patinox(model="llama3.2", base_url=server.url, provider="ollama")


def _li_messages() -> list:
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content="capital of France?")]


def test_chat_patinox_under_three_asyncio_runs(server, caplog) -> None:
    caplog.set_level(logging.WARNING)
    llm = _chat_patinox(server)
    assert llm.invoke("hi").content == "Paris is the capital."

    async def use() -> list[str]:
        parts = [c.content async for c in llm.astream("hi")]
        return [(await llm.ainvoke("hi")).content, "".join(parts), (await llm.abatch(["a", "b"]))[1].content]

    for _ in range(RUNS):
        assert asyncio.run(use()) == ["Paris is the capital."] * 3
        assert llm.invoke("between runs").content == "Paris is the capital."
    _no_loop_trouble(caplog)


def test_patinox_under_three_asyncio_runs(server, caplog) -> None:
    caplog.set_level(logging.WARNING)
    llm = _patinox(server)
    assert llm.chat(_li_messages()).message.content == "Paris is the capital."

    async def use() -> list[str]:
        gen = await llm.astream_chat(_li_messages())
        streamed = [r async for r in gen][-1].message.content
        return [(await llm.achat(_li_messages())).message.content, streamed, (await llm.acomplete("hi")).text]

    for _ in range(RUNS):
        assert asyncio.run(use()) == ["Paris is the capital."] * 3
        assert llm.complete("between runs").text == "Paris is the capital."
    _no_loop_trouble(caplog)


def test_embeddings_under_three_asyncio_runs(server, caplog) -> None:
    from patinox_langchain import PatinoxEmbeddings
    from patinox_llamaindex import PatinoxEmbedding

    caplog.set_level(logging.WARNING)
    lc = PatinoxEmbeddings(model="nomic-embed-text", base_url=server.url, provider="ollama")
    li = PatinoxEmbedding(model_name="nomic-embed-text", base_url=server.url, provider="ollama")
    expected = lc.embed_documents(["a", "b"])
    for _ in range(RUNS):
        assert asyncio.run(lc.aembed_documents(["a", "b"])) == expected
        assert asyncio.run(li.aget_text_embedding_batch(["a", "b"])) == expected
        assert li.get_text_embedding_batch(["a", "b"]) == expected
    _no_loop_trouble(caplog)


def test_jupyter_style_use_from_a_running_loop(server, caplog) -> None:
    """A notebook cell runs inside the kernel's loop: sync calls made from it block that loop (they
    must not try to run one), sync calls pushed to a thread and ``await``-ed calls share it."""
    caplog.set_level(logging.WARNING)
    lc, li = _chat_patinox(server), _patinox(server)

    async def cell() -> list[str]:
        out = [lc.invoke("sync in the loop").content, li.complete("sync in the loop").text]
        out += [(await lc.ainvoke("await")).content, (await li.acomplete("await")).text]
        threaded = await asyncio.gather(asyncio.to_thread(lc.invoke, "thread"), lc.ainvoke("same loop"),
                                        asyncio.to_thread(li.complete, "thread"), li.acomplete("same loop"))
        out += [threaded[0].content, threaded[1].content, threaded[2].text, threaded[3].text]
        out += ["".join(c.content for c in lc.stream("sync stream in the loop"))]
        out += ["".join([c.content async for c in lc.astream("async stream")])]
        return out

    for _ in range(2):  # a second "kernel" (loop) with the same objects
        assert asyncio.run(cell()) == ["Paris is the capital."] * 10
    _no_loop_trouble(caplog)


async def test_inside_pytest_asyncio_loop_too(server, caplog) -> None:
    """The same under pytest-asyncio's own loop (as a notebook kernel would hold it)."""
    caplog.set_level(logging.WARNING)
    lc, li = _chat_patinox(server), _patinox(server)
    assert lc.invoke("sync").content == (await lc.ainvoke("async")).content == "Paris is the capital."
    assert li.complete("sync").text == (await li.acomplete("async")).text == "Paris is the capital."
    _no_loop_trouble(caplog)

"""Live tier: ``Patinox`` / ``PatinoxEmbedding`` on the real llama-cpp-python server
(``pytest -m live``): contract basics, RAG end to end and an agent calling a tool.

Gemma 3 270M *base* writes rambling text: these tests check plumbing (types, usage, ids, request
shapes), never meaning, and every generation is bounded (``max_tokens`` <= 16).
"""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.tools import FunctionTool

from patinox_core.errors import LocalProviderError
from patinox_llamaindex import Patinox, PatinoxEmbedding

pytestmark = pytest.mark.live

MODEL = "gemma3-270m"
TOOLS = "gemma3-270m-tools"
HI = [ChatMessage(role="user", content="Write one sentence about cats.")]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
def url(live_server) -> str:  # type: ignore[no-untyped-def]
    return live_server.base_url


def llm(url: str, model: str = MODEL, **kw: object) -> Patinox:
    kw = {"temperature": 0, "seed": 1, "max_tokens": 16, **kw}
    return Patinox(model=model, base_url=url, provider="openai_compatible", timeout=60, **kw)  # type: ignore[arg-type]


def test_chat_complete_and_usage(url: str) -> None:
    model = llm(url)
    resp = model.chat(HI)
    assert isinstance(resp, ChatResponse) and isinstance(resp.message.content, str)
    usage = resp.raw["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 16
    assert resp.additional_kwargs["finish_reason"] in ("stop", "length")
    assert model.complete("Cats are").raw["usage"]["completion_tokens"] <= 16
    assert model.metadata.model_name == MODEL


def test_stream_matches_chat(url: str) -> None:
    model = llm(url)
    full = model.chat(HI).message.content
    parts = list(model.stream_chat(HI))
    assert "".join(p.delta or "" for p in parts) == parts[-1].message.content == full


async def test_async_matches_sync(url: str) -> None:
    model = llm(url)
    full = model.chat(HI).message.content
    assert (await model.achat(HI)).message.content == full
    assert "".join([r.delta or "" async for r in await model.astream_chat(HI)]) == full


def test_max_tokens_and_stop(url: str) -> None:
    resp = llm(url, max_tokens=2).chat(HI)
    assert resp.raw["usage"]["completion_tokens"] <= 2
    assert resp.additional_kwargs["finish_reason"] == "length"
    stopped = llm(url, stop=["."]).chat(HI).message.content or ""
    assert "." not in stopped


def test_forced_tool_call_has_an_id(url: str) -> None:
    model = llm(url, TOOLS, max_tokens=32)
    resp = model.chat_with_tools([FunctionTool.from_defaults(fn=multiply)], user_msg="What is 6 times 7?",
                                 tool_required=True)
    (sel,) = model.get_tool_calls_from_response(resp)
    assert sel.tool_name == "multiply" and sel.tool_id and sel.tool_id != "multiply"
    assert set(sel.tool_kwargs) <= {"a", "b"}


def test_errors_are_typed(url: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there
    with pytest.raises(LocalProviderError):
        PatinoxEmbedding(model_name=MODEL, base_url=dead, timeout=5, max_retries=0).get_text_embedding("x")
    with pytest.raises(LocalProviderError):
        llm(url, stop=None).chat([ChatMessage(role="user", content="word " * 5000)])  # beyond n_ctx 2048


def test_embeddings(url: str) -> None:
    emb = PatinoxEmbedding(model_name=MODEL, base_url=url, provider="openai_compatible", embed_batch_size=2)
    vectors = emb.get_text_embedding_batch(["cats purr", "dogs bark", "fish swim"])
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 0
    assert emb.get_query_embedding("cats purr") == vectors[0]


async def test_rag_end_to_end(url: str) -> None:
    docs = [Document(text="Paris is the capital of France."), Document(text="Cats purr when content."),
            Document(text="Python is a programming language.")]
    emb = PatinoxEmbedding(model_name=MODEL, base_url=url, provider="openai_compatible")
    index = VectorStoreIndex.from_documents(docs, embed_model=emb)
    engine = index.as_query_engine(llm=llm(url), similarity_top_k=2)
    response = engine.query("What is the capital of France?")
    assert isinstance(str(response), str) and len(response.source_nodes) == 2
    assert all(n.score is not None for n in response.source_nodes)
    aresponse = await engine.aquery("What is the capital of France?")
    assert len(aresponse.source_nodes) == 2


async def test_agent_calls_the_tool(url: str) -> None:
    calls: list[tuple[int, int]] = []

    def mul(a: int, b: int) -> int:
        """Multiply two integers."""
        calls.append((a, b))
        return a * b

    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=mul, name="multiply")],
                          llm=llm(url, TOOLS, max_tokens=32), initial_tool_choice="multiply")
    handler = agent.run("What is 6 times 7?")
    results = [e async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
    await handler
    assert len(calls) >= 1 and results and results[0].tool_name == "multiply"
    assert results[0].tool_id and results[0].tool_id != "multiply"

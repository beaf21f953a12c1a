"""Real LlamaIndex pipelines on the fake servers: RAG (VectorStoreIndex + query engine), an agent
calling a Python tool, and the global ``Settings``. The fake embedding model counts topic words
(``servers.keyword_vector``), so which document is retrieved is checkable."""

from __future__ import annotations

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult
from llama_index.core.tools import FunctionTool

from .conftest import Server
from .servers import DOCUMENTS

QUESTION = "What is the capital of France?"


def _docs() -> list[Document]:
    return [Document(text=text, doc_id=key) for key, text in DOCUMENTS.items()]


def _index(server: Server) -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(_docs(), embed_model=server.embedding(embed_batch_size=3))


def test_rag_query_engine_retrieves_the_right_document(ollama: Server) -> None:
    index = _index(ollama)
    engine = index.as_query_engine(llm=ollama.llm(), similarity_top_k=1)
    response = engine.query(QUESTION)
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["paris"]
    assert str(response) == f"According to the context: {DOCUMENTS['paris']}"
    prompt = ollama.chats()[-1]["messages"][-1]["content"]
    assert DOCUMENTS["paris"] in prompt and DOCUMENTS["cats"] not in prompt and QUESTION in prompt
    embeds = ollama.embeds()
    assert [len(b["input"]) for b in embeds] == [3, 1, 1]  # 4 documents in batches of 3, then the query
    assert embeds[-1]["input"] == [QUESTION]


@pytest.mark.parametrize(("question", "doc"), [("Do kittens purr?", "cats"), ("Which programming language?", "python"),
                                               ("How big are whales in the sea?", "ocean")])
def test_rag_retrieval_follows_the_question(ollama: Server, question: str, doc: str) -> None:
    retriever = _index(ollama).as_retriever(similarity_top_k=1)
    assert [n.node.ref_doc_id for n in retriever.retrieve(question)] == [doc]


async def test_rag_async_and_streaming(ollama: Server) -> None:
    engine = _index(ollama).as_query_engine(llm=ollama.llm(), similarity_top_k=1, streaming=True)
    streamed = engine.query(QUESTION)
    text = "".join(streamed.response_gen)
    assert text == f"According to the context: {DOCUMENTS['paris']}"
    response = await _index(ollama).as_query_engine(llm=ollama.llm(), similarity_top_k=1).aquery(QUESTION)
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["paris"]
    assert "Paris is the capital" in str(response)


def test_rag_on_lmstudio_end_to_end(lms: Server) -> None:
    index = VectorStoreIndex.from_documents(_docs(), embed_model=lms.embedding())
    response = index.as_query_engine(llm=lms.llm(), similarity_top_k=2).query(QUESTION)
    assert str(response) == "Hello from LM Studio." and len(response.source_nodes) == 2
    assert len(lms.embeds()) == 2  # one batch of documents, one query


def test_global_settings(ollama: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Settings, "_llm", None)
    monkeypatch.setattr(Settings, "_embed_model", None)
    Settings.llm = ollama.llm()
    Settings.embed_model = ollama.embedding()
    response = VectorStoreIndex.from_documents(_docs()).as_query_engine(similarity_top_k=1).query(QUESTION)
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["paris"]
    assert "Paris is the capital" in str(response)
    assert ollama.chats() and ollama.embeds()


def _tool(calls: list[tuple[int, int]]) -> FunctionTool:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        calls.append((a, b))
        return a * b

    return FunctionTool.from_defaults(fn=multiply)


@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_calls_a_python_tool(ollama: Server, streaming: bool) -> None:
    calls: list[tuple[int, int]] = []
    agent = FunctionAgent(tools=[_tool(calls)], llm=ollama.llm(), streaming=streaming,
                          system_prompt="Use the tools.")
    handler = agent.run("What is 6 times 7?")
    events = [ev async for ev in handler.stream_events()]
    result = await handler
    assert calls == [(6, 7)]
    assert str(result) == "The tool says 42."
    (call,) = [e for e in events if isinstance(e, ToolCall) and not isinstance(e, ToolCallResult)]
    (done,) = [e for e in events if isinstance(e, ToolCallResult)]
    assert call.tool_id == done.tool_id != "multiply"
    second = ollama.chats()[-1]["messages"]
    assert second[-1] == {"role": "tool", "content": "42", "tool_name": "multiply", "tool_call_id": call.tool_id}
    assert second[-2]["tool_calls"][0]["id"] == call.tool_id
    assert ollama.chats()[0]["stream"] is streaming


async def test_agent_on_a_model_without_tools_is_refused(ollama: Server) -> None:
    llm = ollama.llm(model="llava")
    await llm.aresolve()
    agent = FunctionAgent(tools=[_tool([])], llm=llm)
    with pytest.raises(Exception, match="FunctionCallingLLM"):
        await agent.run("6*7?")

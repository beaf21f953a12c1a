"""Fake servers scripted for the LlamaIndex tests, the docs examples and the notebooks.

* ``keyword_vector``: an embedding function whose dimensions count topic words, so a retrieval
  result is checkable (a question about France lands on the Paris document).
* ``AgentOllama``: a ``FakeOllamaServer`` whose tool-calling models behave like a real one in an
  agent loop: they call their scripted tools until a tool result is in the conversation, then
  answer in text (``reply`` sees the tool result).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel

__test__: dict[str, object] = {}  # doctest needs a dict; nothing here is a test

TOPICS: tuple[tuple[str, ...], ...] = (
    ("cat", "cats", "kitten", "purr", "purrs", "feline"),
    ("paris", "france", "french", "capital", "eiffel"),
    ("python", "programming", "language", "code", "snake"),
    ("ocean", "sea", "whale", "whales", "fish"),
)

DOCUMENTS = {
    "cats": "Cats are small felines. A kitten purrs when it is content.",
    "paris": "Paris is the capital of France; the Eiffel tower stands there.",
    "python": "Python is a programming language loved for readable code.",
    "ocean": "Whales are the largest animals in the ocean and the sea.",
}


def keyword_vector(text: str) -> list[float]:
    """Unit vector of topic-word counts (plus a small constant so no vector is zero).

    >>> v = keyword_vector("What is the capital of France?")
    >>> max(range(len(v)), key=v.__getitem__)
    1
    """
    words = re.findall(r"[a-z]+", text.lower())
    raw = [sum(w in topic for w in words) + 0.05 for topic in TOPICS]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def answer_from_context(messages: list[dict[str, Any]]) -> str:
    """A deterministic "model": the last tool result if there is one, else the first context line."""
    last = messages[-1]
    if last.get("role") == "tool":
        return f"The tool says {last.get('content')}."
    text = str(last.get("content") or "")
    for line in text.splitlines():
        if any(doc in line for doc in DOCUMENTS.values()):
            return f"According to the context: {line.strip()}"
    return "Hello! How can I help you today?"


class AgentOllama(FakeOllamaServer):
    """Tool calls until the conversation holds a tool result, then a text answer."""

    __test__ = False

    def _answer(self, body: dict[str, Any], model: OllamaModel, stream: bool, thinks: bool) -> Any:
        if (body.get("messages") or [{}])[-1].get("role") == "tool":
            answered = dataclasses.replace(model, tool_calls=[])
            reply = super()._answer(body, answered, stream, thinks)
            model.loaded = answered.loaded
            return reply
        return super()._answer(body, model, stream, thinks)


def ollama_models() -> list[OllamaModel]:
    """A tool model, a thinking model, a vision model and a keyword embedding model."""
    return [
        OllamaModel("llama3.2", reply=answer_from_context, capabilities=["completion", "tools"], loaded=True,
                    tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}]),
        OllamaModel("qwen3", reply=answer_from_context, capabilities=["completion", "tools", "thinking"],
                    thinking="Let me think.", family="qwen3", parameter_size="8.2B", context_length=40960,
                    loaded=True, loaded_context_length=8192,
                    tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}]),
        OllamaModel("llava", reply="A small test image.", capabilities=["completion", "vision"], family="llava",
                    parameter_size="7B"),
        OllamaModel("nomic-embed-text", capabilities=["embedding"], embed_fn=keyword_vector, family="nomic-bert",
                    parameter_size="137M", quantization="F16", context_length=2048, loaded_context_length=2048),
    ]


def agent_ollama() -> AgentOllama:
    return AgentOllama(ollama_models())


def lmstudio_models() -> list[LMStudioModel]:
    return [
        LMStudioModel("qwen/qwen3-8b", tool_use=True, reply="Hello from LM Studio.",
                      tool_calls=[{"name": "multiply", "arguments": {"a": 6, "b": 7}}]),
        LMStudioModel("qwen/qwen2.5-vl-7b", type="vlm", reply="A small test image."),
        LMStudioModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", loaded=False, arch="nomic-bert",
                      max_context_length=2048, loaded_context_length=2048),
    ]


def lmstudio() -> FakeLMStudioServer:
    return FakeLMStudioServer(lmstudio_models())


__all__ = ["DOCUMENTS", "TOPICS", "AgentOllama", "agent_ollama", "answer_from_context", "keyword_vector", "lmstudio",
           "lmstudio_models", "ollama_models"]

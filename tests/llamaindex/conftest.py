"""Fixtures: fake Ollama / LM Studio servers and adapters pinned to them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from patinox_llamaindex import Patinox, PatinoxEmbedding

from .servers import agent_ollama, lmstudio


@dataclass
class Server:
    """A running fake server and the model names it holds."""

    kind: str
    fake: Any
    chat: str
    vision: str
    embed: str

    @property
    def url(self) -> str:
        return self.fake.url

    def llm(self, **kw: Any) -> Patinox:
        kw.setdefault("model", self.chat)
        return Patinox(base_url=self.url, provider=self.kind, **kw)

    def embedding(self, **kw: Any) -> PatinoxEmbedding:
        kw.setdefault("model_name", self.embed)
        return PatinoxEmbedding(base_url=self.url, provider=self.kind, **kw)

    def chats(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat requests the server received."""
        paths = ("/api/chat", "/v1/chat/completions", "/api/v0/chat/completions")
        return [r.json for r in self.fake.requests if r.method == "POST" and r.path in paths]

    def embeds(self) -> list[dict[str, Any]]:
        paths = ("/api/embed", "/v1/embeddings", "/api/v0/embeddings")
        return [r.json for r in self.fake.requests if r.method == "POST" and r.path in paths]


@pytest.fixture
def ollama() -> Iterator[Server]:
    with agent_ollama() as fake:
        yield Server("ollama", fake, chat="llama3.2", vision="llava", embed="nomic-embed-text")


@pytest.fixture
def lms() -> Iterator[Server]:
    with lmstudio() as fake:
        yield Server("lmstudio", fake, chat="qwen/qwen3-8b", vision="qwen/qwen2.5-vl-7b",
                     embed="text-embedding-nomic-embed-text-v1.5")


@pytest.fixture(params=["ollama", "lmstudio"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each contract test runs against both server families."""
    return request.getfixturevalue("ollama" if request.param == "ollama" else "lms")


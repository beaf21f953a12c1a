"""Issue 16 items 3 and 4: an embedding job is batched in one place (the caller's ``batch_size`` is
what each request carries) and runs on one server (a failure mid-job reruns the whole job on the next
server; vectors of two servers are never mixed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from patinox_core import LocalProvider, LocalSettings, ServerError, ServiceUnavailableError
from patinox_core.errors import ConfigurationError
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, FunctionBackend, OllamaModel
from patinox_langchain import PatinoxEmbeddings
from patinox_llamaindex import PatinoxEmbedding

EMBEDDER = {"name": "nomic-embed-text:latest", "loaded": True,
            "capabilities": {"chat": False, "completion": False, "embeddings": True}}
TEXTS = [f"text {i}" for i in range(1000)]


# --------------------------------------------------------------------------- item 3: one batching place


@pytest.fixture
def ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer([OllamaModel("nomic-embed-text", capabilities=["embedding"], loaded=True)]) as srv:
        yield srv


def _sizes(server: FakeOllamaServer) -> list[int]:
    return sorted(len(r.json["input"]) for r in server.requests if r.path == "/api/embed")


def _provider(url: str, kind: str) -> LocalProvider:
    return LocalProvider(LocalSettings(endpoints=[{"url": url, "kind": kind}], discover_defaults=False))


@pytest.mark.parametrize(("batch_size", "sizes"), [(500, [500, 500]), (300, [100, 300, 300, 300]),
                                                   (1000, [1000])])
async def test_the_callers_batch_size_is_what_each_request_carries(ollama: FakeOllamaServer, batch_size: int,
                                                                   sizes: list[int]) -> None:
    with _provider(ollama.url, "ollama") as p:
        assert len(p.embed(TEXTS, "nomic-embed-text", batch_size=batch_size).vectors) == 1000
        assert _sizes(ollama) == sizes
        ollama.requests.clear()
        assert len((await p.aembed(TEXTS, "nomic-embed-text", batch_size=batch_size)).vectors) == 1000
        assert _sizes(ollama) == sizes


def test_the_settings_batch_size_is_the_default(ollama: FakeOllamaServer) -> None:
    with LocalProvider(LocalSettings(endpoints=[ollama.url], discover_defaults=False, embed_batch_size=400)) as p:
        p.embed(TEXTS, "nomic-embed-text")
    assert _sizes(ollama) == [200, 400, 400]


def test_openai_compatible_requests_carry_the_callers_batch_size() -> None:
    with FakeLMStudioServer() as srv, _provider(srv.url, "lmstudio") as p:
        model = p.get_model(None, capability="embeddings").name
        p.embed(TEXTS, model, batch_size=500)
        sizes = [len(r.json["input"]) for r in srv.requests if r.path == "/v1/embeddings"]
    assert sizes == [500, 500]


def test_langchain_batch_size_is_sent_as_is(ollama: FakeOllamaServer) -> None:
    emb = PatinoxEmbeddings(model="nomic-embed-text", base_url=ollama.url, provider="ollama", batch_size=500)
    assert len(emb.embed_documents(TEXTS)) == 1000
    assert _sizes(ollama) == [500, 500]


def test_llamaindex_request_batch_size_is_sent_as_is(ollama: FakeOllamaServer) -> None:
    emb = PatinoxEmbedding(model_name="nomic-embed-text", base_url=ollama.url, provider="ollama",
                           request_batch_size=500)
    assert len(emb.get_text_embedding_batch(TEXTS)) == 1000
    assert _sizes(ollama) == [500, 500]


# --------------------------------------------------------------------------- item 4: one server per job


class Flaky(FunctionBackend):
    """Vectors of ``dims`` floats; raises ``error`` for the ``fail_at``-th batch it is sent (1-based)."""

    def __init__(self, url: str, dims: int, fail_at: int | None = None, error: Exception | None = None) -> None:
        super().__init__(lambda r: "unused", base_url=url, models=[EMBEDDER], dimensions=dims)
        self.fail_at, self.error, self.calls, self.lock = fail_at, error, 0, threading.Lock()

    def embed(self, texts, model, **opts):
        with self.lock:
            self.calls += 1
            failing = self.calls == self.fail_at
        if failing:
            raise self.error or ServiceUnavailableError("connection reset", service=self.base_url)
        return super().embed(texts, model, **opts)


def _pair(**first) -> tuple[Flaky, Flaky, LocalProvider]:
    a = Flaky("http://a.test", 1024, **first)
    b = Flaky("http://b.test", 768)
    return a, b, LocalProvider(LocalSettings(discover_defaults=False), backends=[a, b])


async def _embed(p: LocalProvider, mode: str, texts: list[str], **kw):
    return p.embed(texts, "nomic-embed-text", **kw) if mode == "sync" else await p.aembed(texts, "nomic-embed-text",
                                                                                            **kw)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("workers", [1, 3])
async def test_a_server_failing_mid_job_reruns_the_whole_job_on_the_next(mode: str, workers: int) -> None:
    a, b, p = _pair(fail_at=2)
    result = await _embed(p, mode, [f"t{i}" for i in range(8)], batch_size=2, max_concurrency=workers)
    assert {len(v) for v in result.vectors} == {768} and len(result.vectors) == 8
    assert (result.service, result.dimensions) == ("http://b.test", 768)
    assert [t for c in b.embed_calls for t in c.texts] == [f"t{i}" for i in range(8)]  # the whole job, in order
    assert a.calls >= 2  # a did start the job


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_job_that_succeeds_reports_its_one_server(mode: str) -> None:
    a, b, p = _pair()
    result = await _embed(p, mode, [f"t{i}" for i in range(8)], batch_size=2, max_concurrency=3)
    assert {len(v) for v in result.vectors} == {1024} and result.service == "http://a.test"
    assert len(a.embed_calls) == 4 and not b.embed_calls


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_error_that_does_not_fall_back_raises_without_mixing(mode: str) -> None:
    a, b, p = _pair(fail_at=2, error=ConfigurationError("bad option"))
    with pytest.raises(ConfigurationError):
        await _embed(p, mode, [f"t{i}" for i in range(8)], batch_size=2, max_concurrency=1)
    assert a.calls == 2 and not b.embed_calls


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_every_server_failing_raises(mode: str) -> None:
    _, b, p = _pair(fail_at=1)
    b.fail_at, b.error = 3, ServerError("boom", service="http://b.test")
    with pytest.raises((ServiceUnavailableError, ServerError)):
        await _embed(p, mode, [f"t{i}" for i in range(8)], batch_size=2, max_concurrency=1)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_langchain_progress_bar_keeps_one_job_on_one_server(mode: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, b, p = _pair(fail_at=2)
    emb = PatinoxEmbeddings(model="nomic-embed-text", client=p, batch_size=2, max_concurrency=1, show_progress=True)
    texts = [f"t{i}" for i in range(8)]
    vectors = emb.embed_documents(texts) if mode == "sync" else await emb.aembed_documents(texts)
    assert len(vectors) == 8 and {len(v) for v in vectors} == {768}
    assert [t for c in b.embed_calls for t in c.texts] == texts
    assert "8/8" in capsys.readouterr().err

"""Machinery of the fault matrix: fake servers per case, the public entry points, one case runner.

A case is (fault row, server family, entry point, one server or two). ``run_case`` starts the
servers, primes a ``LocalProvider`` (discovery and catalogue, before the fault), arms the fault on
the first server, calls the entry point once and, on a single server, heals the fault and calls
again on the same provider (and the same event loop for async entry points), so a fault never
leaves a provider broken. Everything is measured, nothing is asserted here.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from patinox_core import ChatRequest, LocalProvider, LocalSettings, Message, ModelNotFoundError
from patinox_core.testing import FakeLMStudioServer, FakeOllamaServer, LMStudioModel, OllamaModel, StreamReply

from .fault_table import BODY_CAP, COLD_S, CONNECT_S, READ_S, ROWS, SLOW, TOTAL_S, FaultRow

__test__: dict[str, object] = {}

PROMPT = "ping"
TEXTS = ["first text", "second text"]


@dataclass(frozen=True)
class Models:
    chat: str
    embed: str


MODELS = {"ollama": Models("llama3.2", "nomic-embed-text"),
          "lmstudio": Models("qwen/qwen3-8b", "text-embedding-nomic-embed-text-v1.5")}
OP_PATHS = {
    ("ollama", "chat"): ["/api/chat"],
    ("ollama", "stream"): ["/api/chat"],
    ("ollama", "embed"): ["/api/embed"],
    ("lmstudio", "chat"): ["/api/v0/chat/completions", "/v1/chat/completions"],
    ("lmstudio", "stream"): ["/v1/chat/completions"],
    ("lmstudio", "embed"): ["/v1/embeddings", "/api/v0/embeddings"],
}


def reply_of(tag: str) -> str:
    """What server ``tag`` answers: several words, so streams carry several chunks."""
    return f"reply from server {tag} all done"


class _Paced:
    """Mixin: ``pace`` seconds between streamed chunks, as a real model generates them. A stream cut
    by a reset must deliver its first chunks before the reset (a reset drops unread data)."""

    pace = 0.0

    def handle(self, request: Any) -> Any:
        reply = super().handle(request)  # type: ignore[misc]
        if isinstance(reply, StreamReply) and self.pace:
            reply.delay_between = self.pace
        return reply


class PacedOllama(_Paced, FakeOllamaServer):
    pass


class PacedLMStudio(_Paced, FakeLMStudioServer):
    pass


def make_server(kind: str, tag: str, *, loaded: bool = True) -> Any:
    """A fake server of ``kind`` holding the chat and embedding model of ``MODELS[kind]``."""
    if kind == "ollama":
        return PacedOllama([
            OllamaModel("llama3.2", reply=reply_of(tag), capabilities=["completion", "tools"], loaded=loaded),
            OllamaModel("nomic-embed-text", capabilities=["embedding"], loaded=loaded, family="nomic-bert",
                        parameter_size="137M", context_length=2048, loaded_context_length=2048),
        ])
    return PacedLMStudio([
        LMStudioModel("qwen/qwen3-8b", reply=reply_of(tag), tool_use=True, loaded=loaded),
        LMStudioModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", loaded=loaded, arch="nomic-bert"),
    ])


def fault_settings(kind: str, urls: list[str], **overrides: Any) -> LocalSettings:
    """Only the given servers (no default ports), short timeouts, one transport retry."""
    values: dict[str, Any] = dict(
        endpoints=[{"url": u, "kind": kind} for u in urls], discover_defaults=False, connect_timeout=CONNECT_S,
        read_timeout=READ_S, cold_load_timeout=COLD_S, probe_timeout=2.0 * SLOW, max_retries=1, context_guard="off",
        max_response_bytes=BODY_CAP, total_timeout=TOTAL_S)
    values.update(overrides)
    return LocalSettings(**values)


class Blackhole:
    """A loopback port that listens but never accepts: its accept queue is full, so every new
    connection attempt hangs in SYN until the client's connect timeout (no packet leaves 127.0.0.1)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(0)
        self.fillers: list[socket.socket] = []
        for _ in range(3):  # backlog 0 still queues one connection: fill it up
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            self.fillers.append(filler)
        time.sleep(0.02)

    def close(self) -> None:
        for s in (*self.fillers, self.sock):
            s.close()


@dataclass
class Scene:
    """The ``fault_table.Scenario`` of one case: the faulty (first) server and the request."""

    kind: str
    op: str
    server: Any
    paths: list[str]
    model: str
    hole: Blackhole | None = None

    def pace(self, seconds: float) -> None:
        self.server.pace = seconds

    def blackhole(self) -> None:
        self.server.kill()
        self.hole = Blackhole(self.server.port)

    def heal(self) -> None:
        """Undo the fault: no blackhole, no scripted faults, listening again."""
        if self.hole is not None:
            self.hole.close()
            self.hole = None
        self.server.clear_faults()
        self.server.restart()

    def close(self) -> None:
        if self.hole is not None:
            self.hole.close()


# --------------------------------------------------------------------------- entry points

Call = Callable[[LocalProvider, Models, list], Any]


@dataclass(frozen=True)
class EntryPoint:
    """One public way in: ``call(provider, models, sink)`` returns text (chat, stream) or vectors;
    a stream appends each piece to ``sink`` as it arrives."""

    id: str
    op: str
    call: Call
    is_async: bool = False

    @property
    def adapter(self) -> str:
        return self.id.split(".")[0]


def _request(m: Models) -> ChatRequest:
    return ChatRequest(model=m.chat, messages=[Message("user", PROMPT)])


def _lp_stream(p: LocalProvider, m: Models, sink: list) -> str:
    for chunk in p.stream_chat(_request(m)):
        sink.append(chunk.content)
    return "".join(sink)


async def _lp_astream(p: LocalProvider, m: Models, sink: list) -> str:
    async for chunk in p.astream_chat(_request(m)):
        sink.append(chunk.content)
    return "".join(sink)


def _chat_patinox(p: LocalProvider, m: Models) -> Any:
    from patinox_langchain import ChatPatinox

    return ChatPatinox(model=m.chat, client=p)


def _lc_stream(p: LocalProvider, m: Models, sink: list) -> str:
    for chunk in _chat_patinox(p, m).stream(PROMPT):
        sink.append(chunk.content)
    return "".join(sink)


async def _lc_astream(p: LocalProvider, m: Models, sink: list) -> str:
    async for chunk in _chat_patinox(p, m).astream(PROMPT):
        sink.append(chunk.content)
    return "".join(sink)


def _patinox(p: LocalProvider, m: Models) -> Any:
    from patinox_llamaindex import Patinox

    return Patinox(model=m.chat, local_provider=p)


def _li_messages() -> list:
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content=PROMPT)]


def _li_stream(p: LocalProvider, m: Models, sink: list) -> str:
    for response in _patinox(p, m).stream_chat(_li_messages()):
        sink.append(response.delta or "")
    return "".join(sink)


async def _li_astream(p: LocalProvider, m: Models, sink: list) -> str:
    async for response in await _patinox(p, m).astream_chat(_li_messages()):
        sink.append(response.delta or "")
    return "".join(sink)


def _lc_embeddings(p: LocalProvider, m: Models) -> Any:
    from patinox_langchain import PatinoxEmbeddings

    return PatinoxEmbeddings(model=m.embed, client=p)


def _li_embedding(p: LocalProvider, m: Models) -> Any:
    from patinox_llamaindex import PatinoxEmbedding

    return PatinoxEmbedding(model_name=m.embed, local_provider=p)


async def _achat(p: LocalProvider, m: Models, sink: list) -> str:
    return (await p.achat(_request(m))).message.content


async def _aembed(p: LocalProvider, m: Models, sink: list) -> Any:
    return (await p.aembed(TEXTS, m.embed)).vectors


async def _lc_ainvoke(p: LocalProvider, m: Models, sink: list) -> str:
    return (await _chat_patinox(p, m).ainvoke(PROMPT)).content


async def _li_achat(p: LocalProvider, m: Models, sink: list) -> str:
    return (await _patinox(p, m).achat(_li_messages())).message.content


async def _lc_aembed(p: LocalProvider, m: Models, sink: list) -> Any:
    return await _lc_embeddings(p, m).aembed_documents(TEXTS)


async def _li_aembed(p: LocalProvider, m: Models, sink: list) -> Any:
    return await _li_embedding(p, m).aget_text_embedding_batch(TEXTS)


ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint("LocalProvider.chat", "chat", lambda p, m, s: p.chat(_request(m)).message.content),
    EntryPoint("LocalProvider.achat", "chat", _achat, True),
    EntryPoint("LocalProvider.stream_chat", "stream", _lp_stream),
    EntryPoint("LocalProvider.astream_chat", "stream", _lp_astream, True),
    EntryPoint("LocalProvider.embed", "embed", lambda p, m, s: p.embed(TEXTS, m.embed).vectors),
    EntryPoint("LocalProvider.aembed", "embed", _aembed, True),
    EntryPoint("ChatPatinox.invoke", "chat", lambda p, m, s: _chat_patinox(p, m).invoke(PROMPT).content),
    EntryPoint("ChatPatinox.ainvoke", "chat", _lc_ainvoke, True),
    EntryPoint("ChatPatinox.stream", "stream", _lc_stream),
    EntryPoint("ChatPatinox.astream", "stream", _lc_astream, True),
    EntryPoint("Patinox.chat", "chat", lambda p, m, s: _patinox(p, m).chat(_li_messages()).message.content),
    EntryPoint("Patinox.achat", "chat", _li_achat, True),
    EntryPoint("Patinox.stream_chat", "stream", _li_stream),
    EntryPoint("Patinox.astream_chat", "stream", _li_astream, True),
    EntryPoint("PatinoxEmbeddings.embed_documents", "embed",
               lambda p, m, s: _lc_embeddings(p, m).embed_documents(TEXTS)),
    EntryPoint("PatinoxEmbeddings.aembed_documents", "embed", _lc_aembed, True),
    EntryPoint("PatinoxEmbedding.get_text_embedding_batch", "embed",
               lambda p, m, s: _li_embedding(p, m).get_text_embedding_batch(TEXTS)),
    EntryPoint("PatinoxEmbedding.aget_text_embedding_batch", "embed", _li_aembed, True),
)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    row: FaultRow
    kind: str
    ep: EntryPoint
    pair: bool  # a second server holds the model too

    @property
    def id(self) -> str:
        return f"{self.row.id}-{self.kind}-{self.ep.id}-{'pair' if self.pair else 'single'}"


def build_cases() -> list[Case]:
    """Every row x server family x entry point of its operations; the two-server variant where a
    second server changes the outcome, on ``LocalProvider`` (the adapters delegate fallback to it)."""
    cases = []
    for row in ROWS:
        for kind in row.kinds:
            for ep in ENTRY_POINTS:
                if ep.op not in row.ops:
                    continue
                cases.append(Case(row, kind, ep, pair=False))
                if row.error is not None and ep.adapter == "LocalProvider":
                    cases.append(Case(row, kind, ep, pair=True))
    return cases


@dataclass
class Outcome:
    """What one case did: the first call's error (or result), its duration, the chunks seen before
    an error, the op requests each server got, and the result of the call after healing."""

    urls: list[str]
    result: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    chunks: int = 0
    served: list[int] = field(default_factory=list)  # op requests per server during the first call
    healed: Any = None
    heal_error: BaseException | None = None
    heal_elapsed: float = 0.0
    crash: BaseException | None = None  # the case itself could not run (servers, setup)


class _Caller:
    """Calls an entry point: sync ones directly, async ones on one private event loop per case."""

    def __init__(self, ep: EntryPoint) -> None:
        self.ep = ep
        self.loop = asyncio.new_event_loop() if ep.is_async else None

    def __call__(self, provider: LocalProvider, models: Models, sink: list) -> Any:
        if self.loop is None:
            return self.ep.call(provider, models, sink)
        return self.loop.run_until_complete(self.ep.call(provider, models, sink))

    def close(self, provider: LocalProvider) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(provider.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
        provider.close()


def _op_requests(server: Any, paths: list[str]) -> int:
    return sum(1 for r in list(server.requests) if r.path in paths)


def _prime(provider: LocalProvider, model: str) -> None:
    """Discovery and catalogue before the fault, listed again (up to twice) when ``model`` is missing:
    on a loaded machine a probe or a listing can time out, and the case would test nothing."""
    for _ in range(2):
        try:
            provider.get_model(model)
            return
        except ModelNotFoundError:
            provider.list_models(refresh=True)
    provider.get_model(model)


def run_case(case: Case) -> Outcome:
    """Start the servers, prime a provider, arm the fault, call, heal, call again (see module doc)."""
    row, kind, op = case.row, case.kind, case.ep.op
    paths = OP_PATHS[(kind, op)]
    with ExitStack() as stack:
        servers = [stack.enter_context(make_server(kind, tag, loaded=row.loaded)) for tag in "AB"[:1 + case.pair]]
        provider = LocalProvider(fault_settings(kind, [s.url for s in servers]))
        caller = _Caller(case.ep)
        stack.callback(caller.close, provider)
        scene = Scene(kind, op, servers[0], paths, MODELS[kind].embed if op == "embed" else MODELS[kind].chat)
        stack.callback(scene.close)
        out = Outcome([s.url for s in servers])
        _prime(provider, scene.model)
        base = [_op_requests(s, paths) for s in servers]
        row.arm(scene)
        sink: list = []
        t0 = time.perf_counter()
        try:
            out.result = caller(provider, MODELS[kind], sink)
        except Exception as exc:  # anything: the test checks it is the right LocalProviderError
            out.error = exc
        out.elapsed = time.perf_counter() - t0
        out.chunks = sum(1 for piece in sink if piece)
        out.served = [_op_requests(s, paths) - b for s, b in zip(servers, base, strict=True)]
        if out.error is not None and not case.pair:
            scene.heal()
            t0 = time.perf_counter()
            try:
                out.healed = caller(provider, MODELS[kind], [])
            except Exception as exc:
                out.heal_error = exc
            out.heal_elapsed = time.perf_counter() - t0
        return out


def _expected_s(case: Case) -> float:
    return case.row.min_s + (1.0 if case.pair else 0.0)


def _run_safely(case: Case) -> Outcome:
    try:
        return run_case(case)
    except BaseException as exc:  # reported by the case's own test, not by every test of the matrix
        return Outcome([], crash=exc)


def warm_up(cases: Iterable[Case]) -> None:
    """Each entry point and server family of ``cases`` called once on a healthy server, untimed: the
    adapters, LangChain, LlamaIndex and the backends are imported on first use, which takes seconds
    on a loaded machine and would land inside the first timed calls."""
    for kind, ep in sorted({(c.kind, c.ep) for c in cases}, key=lambda pair: (pair[0], pair[1].id)):
        with make_server(kind, "A") as server:
            provider = LocalProvider(fault_settings(kind, [server.url]))
            caller = _Caller(ep)
            try:
                caller(provider, MODELS[kind], [])
            except Exception:  # imports are what this is for; a failing call is the cases' to report
                pass
            finally:
                caller.close(provider)


def run_cases(cases: Iterable[Case], workers: int = 8) -> dict[str, Outcome]:
    """``run_case`` for each case, ``workers`` at a time (longest first), after ``warm_up``. Cases
    share nothing: each has its own servers, provider and event loop; most of their time is spent
    waiting on timeouts."""
    todo = sorted(cases, key=_expected_s, reverse=True)
    warm_up(todo)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="fault-case") as pool:
        return dict(zip((c.id for c in todo), pool.map(_run_safely, todo), strict=True))

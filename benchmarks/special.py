"""Sections that are not a plain loop of one call: embeddings, discovery / failover, import time."""

from __future__ import annotations

import gc
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import floors
from .child import ROOT
from .floors import EMBED_MODEL
from .harness import Case, Result, ServerProcess, _describe, timed_reps
from .rows import patinox_provider, patinox_request

RAW_EMBED = "raw httpx, one request with all texts"
LC_OLLAMA_EMBED = "langchain-ollama OllamaEmbeddings"
LC_OPENAI_EMBED = "langchain-openai OpenAIEmbeddings (/v1)"
LI_OLLAMA_EMBED = "llama-index OllamaEmbedding (defaults)"
PATINOX_LC_EMBED = "patinox PatinoxEmbeddings"
PATINOX_LI_EMBED = "patinox PatinoxEmbedding (LlamaIndex)"
PATINOX_EMBED = "patinox LocalProvider.embed"


def make_texts(n: int) -> list[str]:
    return [f"document {i}: a short passage about local language models" for i in range(n)]


# -- embeddings -------------------------------------------------------------------------------
def embed_cases(base: str, slow_texts: int) -> tuple[Case, list[Case]]:
    """Each op embeds a list of texts; ``slow_texts`` caps the latency-bound LlamaIndex defaults."""

    def lc_ollama() -> Callable[[list[str]], Any]:
        from langchain_ollama import OllamaEmbeddings

        return OllamaEmbeddings(model=EMBED_MODEL, base_url=base).embed_documents

    def lc_openai() -> Callable[[list[str]], Any]:
        from langchain_openai import OpenAIEmbeddings

        emb = OpenAIEmbeddings(model=EMBED_MODEL, base_url=base + "/v1", api_key="bench",  # type: ignore[arg-type]
                               check_embedding_ctx_length=False, max_retries=0)
        return emb.embed_documents

    def li_ollama() -> Callable[[list[str]], Any]:
        from llama_index.embeddings.ollama import OllamaEmbedding

        emb = OllamaEmbedding(model_name=EMBED_MODEL, base_url=base)
        return lambda texts: emb.get_text_embedding_batch(texts[:slow_texts])

    def patinox_lc() -> Callable[[list[str]], Any]:
        from patinox_langchain import PatinoxEmbeddings

        return PatinoxEmbeddings(model=EMBED_MODEL, base_url=base).embed_documents

    def patinox_li() -> Callable[[list[str]], Any]:
        from patinox_llamaindex import PatinoxEmbedding

        return PatinoxEmbedding(model_name=EMBED_MODEL, base_url=base).get_text_embedding_batch

    def provider() -> Callable[[list[str]], Any]:
        p = patinox_provider(base)
        return lambda texts: p.embed(texts, model=EMBED_MODEL).vectors

    floor = Case(RAW_EMBED, lambda: floors.raw_embed(base), note="stdlib `json`")
    return floor, [
        Case(PATINOX_LC_EMBED, patinox_lc, note="`embed_documents`"),
        Case(PATINOX_LI_EMBED, patinox_li, note="`get_text_embedding_batch`"),
        Case(PATINOX_EMBED, provider),
        Case(LC_OLLAMA_EMBED, lc_ollama, note="`embed_documents`"),
        Case(LC_OPENAI_EMBED, lc_openai, note="`embed_documents`, base64"),
        Case(LI_OLLAMA_EMBED, li_ollama, note=f"10 per request, sequential; measured on {slow_texts:,} texts"),
    ]


def run_embeddings(server: ServerProcess, texts: list[str], slow_texts: int, rounds: int,
                   log: Callable[[str], None] = print) -> tuple[Result, dict[str, Result]]:
    """Bracketed like the other sections; per_op is seconds per text; server stats per client."""
    floor_case, cases = embed_cases(server.urls[0], slow_texts)
    floor_op = floor_case.build()
    floor_res = Result(floor_case.name, note=floor_case.note)
    ops: dict[str, Any] = {}
    results: dict[str, Result] = {}
    for case in cases:
        results[case.name] = res = Result(case.name, note=case.note)
        try:
            ops[case.name] = case.build()
            ops[case.name](texts[:8])  # warm-up: connections, catalogue, lazy imports
        except Exception as exc:
            res.error = _describe(exc)
            log(f"  skip {case.name}: {res.error}")
            ops.pop(case.name, None)
    floor_op(texts[:8])

    def timed(op: Callable[[list[str]], Any], res: Result | None) -> float:
        gc.collect()
        server.reset()
        t0 = time.perf_counter()
        vectors = op(texts)
        elapsed = time.perf_counter() - t0
        stats = server.stats()
        count = len(vectors)
        if res is not None:
            res.extra = {"requests": stats["embed_requests"], "max_batch": stats["embed_max_batch"],
                         "max_inflight": stats["embed_max_inflight"], "texts": count}
        else:
            floor_res.extra = {"requests": stats["embed_requests"], "max_batch": stats["embed_max_batch"],
                               "max_inflight": stats["embed_max_inflight"], "texts": count}
        if count and len(vectors[0]) != 768:
            raise RuntimeError(f"expected 768-dim vectors, got {len(vectors[0])}")
        return elapsed / count

    names = list(ops)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)] if names else []
        before = timed(floor_op, None)
        floor_res.per_op.append(before)
        for name in order:
            try:
                t = timed(ops[name], results[name])
            except Exception as exc:
                results[name].error = _describe(exc)
                log(f"  failed {name}: {results[name].error}")
                names.remove(name)
                continue
            after = timed(floor_op, None)
            floor_res.per_op.append(after)
            results[name].per_op.append(t)
            results[name].floor_per_op.append((before + after) / 2)
            before = after
        log(f"  round {r + 1}/{rounds} done")
    return floor_res, results


# -- discovery and failover -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_discovery(server: ServerProcess, reps: int) -> dict[str, Result]:
    """Cold discovery with nothing listening, cached discovery, failover's added time (all in s)."""
    out: dict[str, Result] = {}

    def guard(name: str, note: str, fn: Callable[[], list[float]]) -> None:
        out[name] = Result(name, note=note)
        try:
            out[name].per_op = fn()
        except Exception as exc:
            out[name].error = _describe(exc)

    def nothing() -> list[float]:
        from patinox_core import LocalSettings
        from patinox_core.discovery import ServiceDiscovery

        settings = LocalSettings(ollama_url=f"http://127.0.0.1:{_free_port()}",
                                 lmstudio_url=f"http://127.0.0.1:{_free_port()}", discover_defaults=False)
        return timed_reps(lambda: ServiceDiscovery(settings).discover(), reps)

    def cached() -> list[float]:
        from patinox_core import LocalSettings
        from patinox_core.discovery import ServiceDiscovery

        d = ServiceDiscovery(LocalSettings(ollama_url=server.urls[0], discover_defaults=False))
        d.discover()
        return timed_reps(d.discover, max(reps, 100))

    guard("discovery, nothing listening", "fresh `ServiceDiscovery.discover()`, Ollama + LM Studio URLs refused",
          nothing)
    guard("discovery, cached", "second `discover()` within the TTL", cached)
    guard("failover to a second server", "primary killed (connections reset, port refused) after warm-up; added "
          "time = first call after the kill - median normal call; a reset pooled connection or a refused "
          "reconnect fails over at once while the other server is usable", lambda: _failover(server, reps))
    return out


def _failover(server: ServerProcess, reps: int) -> list[float]:
    from patinox_core import LocalSettings
    from patinox_core.router import LocalProvider

    a, b = server.urls[0], server.urls[1]
    added = []
    for _ in range(max(5, reps // 4)):
        provider = LocalProvider(LocalSettings(ollama_url=a, endpoints=[{"url": b, "kind": "ollama"}],
                                               discover_defaults=False))
        req = patinox_request()
        provider.chat(req)
        server.reset()
        normal = statistics.median(timed_reps(lambda p=provider, r=req: p.chat(r), 20))
        used = max(server.stats()["ports"].items(), key=lambda kv: kv[1])[0]
        index = server.ports.index(int(used))
        server.kill_port(index)
        try:
            t0 = time.perf_counter()
            provider.chat(req)
            added.append(time.perf_counter() - t0 - normal)
        finally:
            server.start_port(index)
    return added


# -- import time ------------------------------------------------------------------------------
IMPORTS = {
    "httpx": "import httpx",
    "LangChain floor (chat model + embeddings base + httpx + pydantic-settings)":
        "import httpx, pydantic_settings\nfrom langchain_core.language_models.chat_models import BaseChatModel\n"
        "from langchain_core.embeddings import Embeddings",
    "patinox_langchain (ChatPatinox, PatinoxEmbeddings)":
        "from patinox_langchain import ChatPatinox, PatinoxEmbeddings",
    "langchain_ollama (ChatOllama, OllamaEmbeddings)": "from langchain_ollama import ChatOllama, OllamaEmbeddings",
    "langchain_openai (ChatOpenAI)": "from langchain_openai import ChatOpenAI",
    "patinox_core": "import patinox_core",
    "LlamaIndex floor (CustomLLM + BaseEmbedding + httpx + pydantic-settings)":
        "import httpx, pydantic_settings\nfrom llama_index.core.llms import CustomLLM\n"
        "from llama_index.core.base.embeddings.base import BaseEmbedding",
    "patinox_llamaindex (Patinox, PatinoxEmbedding)": "from patinox_llamaindex import Patinox, PatinoxEmbedding",
    "llama_index.llms.ollama (Ollama)": "from llama_index.llms.ollama import Ollama",
}
IMPORT_LC_FLOOR = next(k for k in IMPORTS if k.startswith("LangChain floor"))
IMPORT_PATINOX_LC = next(k for k in IMPORTS if k.startswith("patinox_langchain"))
IMPORT_LC_OLLAMA = next(k for k in IMPORTS if k.startswith("langchain_ollama"))

_TIMER = "import time\n_t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)\n"


#: the children may write byte-code caches (a CI environment often sets PYTHONDONTWRITEBYTECODE, and
#: then every timed import would compile the checkout's modules again, which no user's import does)
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _import_once(code: str) -> float:
    proc = subprocess.run([sys.executable, "-c", _TIMER.format(code=code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=_CHILD_ENV)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "import failed")
    return float(proc.stdout.strip().splitlines()[-1])


def run_imports(reps: int, log: Callable[[str], None] = print,
                names: tuple[str, ...] | None = None) -> dict[str, Result]:
    """Fresh interpreter per measurement; modules interleaved per repetition (drift cancels)."""
    chosen = {k: v for k, v in IMPORTS.items() if names is None or k in names}
    out = {name: Result(name) for name in chosen}
    for name, code in chosen.items():  # one untimed run each: byte-code caches
        try:
            _import_once(code)
        except Exception as exc:
            out[name].error = _describe(exc)
    for r in range(reps):
        for name, code in chosen.items():
            if out[name].error is None:
                out[name].per_op.append(_import_once(code))
        log(f"  import round {r + 1}/{reps} done")
    return out

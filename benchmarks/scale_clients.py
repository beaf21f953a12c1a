"""The clients that ``benchmarks.scale_out`` compares, each spreading chat calls over several servers.

Every client has ``name``, ``start(urls)`` (build and warm nothing: the benchmark warms it up),
``send(messages) -> str`` (one chat completion; raises on failure), ``close()`` and
``cooldowns()`` (how many times it has put a server in cooldown so far; None: no such notion):

* ``RawRoundRobin``: one ``httpx.AsyncClient``, server ``i % n`` for call ``i``; no retry.
* ``LiteLLMRouter(strategy)``: LiteLLM's ``Router``, the servers as four deployments of one model
  name (``openai/<model>`` with each server's ``api_base``), LiteLLM's defaults otherwise.
* ``PatinoxProvider``: ``LocalProvider.achat`` with the servers as ``endpoints``, default settings;
  with ``overstate=n``, every endpoint configured ``max_concurrency=n`` (more than the servers run,
  so the 1-slot servers of the 503 variant refuse and patinox's back-pressure handling is exercised).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, cast

import httpx

from benchmarks.fleet import MODEL

__test__: dict[str, object] = {}

Messages = list[dict[str, str]]
LITELLM_STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing")


class Client(Protocol):
    name: str

    async def start(self, urls: list[str]) -> None: ...

    async def send(self, messages: Messages) -> str: ...

    async def close(self) -> None: ...

    def describe(self) -> str: ...

    def cooldowns(self) -> int | None: ...


class RawRoundRobin:
    """httpx round-robin over the servers, 64 connections per server, no retries."""

    name = "raw httpx round-robin"

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None
        self.urls: list[str] = []
        self.turn = itertools.count()

    async def start(self, urls: list[str]) -> None:
        self.urls = urls
        limits = httpx.Limits(max_connections=64 * len(urls), max_keepalive_connections=64 * len(urls))
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5), limits=limits)

    async def send(self, messages: Messages) -> str:
        assert self.client is not None
        url = self.urls[next(self.turn) % len(self.urls)]
        reply = await self.client.post(url + "/v1/chat/completions", json={"model": MODEL, "messages": messages})
        reply.raise_for_status()
        content: str = reply.json()["choices"][0]["message"]["content"]
        return content

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def describe(self) -> str:
        return "no retry: a refused request is an error"

    def cooldowns(self) -> int | None:
        return None


def quiet_litellm() -> Any:
    """Import LiteLLM offline (its bundled model-cost map, no fetch) and without its chatter."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _count_cooldowns()
    return litellm


_LITELLM_COOLDOWNS = [0]  # cooldown events LiteLLM fired in this process (one client runs at a time)


def _count_cooldowns() -> None:
    """Count LiteLLM's cooldown events: both of its paths (Python and Rust core) fire the module's
    ``router_cooldown_event_callback``, looked up at call time, so wrapping it sees every one."""
    try:
        from litellm.router_utils import cooldown_handlers
    except ImportError:  # another LiteLLM layout: cooldowns shown as n/a
        return
    original = getattr(cooldown_handlers, "router_cooldown_event_callback", None)
    if original is None or getattr(original, "counted", False):
        return

    async def counted(*args: Any, **kwargs: Any) -> Any:
        _LITELLM_COOLDOWNS[0] += 1
        return await original(*args, **kwargs)

    counted.counted = True  # type: ignore[attr-defined]
    cooldown_handlers.router_cooldown_event_callback = counted


class LiteLLMRouter:
    """``litellm.Router`` with one routing strategy and LiteLLM's default retries and cooldowns."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self.name = f"LiteLLM Router {strategy}"
        self.router: Any = None

    async def start(self, urls: list[str]) -> None:
        litellm = quiet_litellm()
        deployments = [{"model_name": "bench", "litellm_params": {
            "model": f"openai/{MODEL}", "api_base": url + "/v1", "api_key": "sk-none", "timeout": 30}}
            for url in urls]
        self.router = litellm.Router(model_list=deployments, routing_strategy=self.strategy)

    async def send(self, messages: Messages) -> str:
        response = await self.router.acompletion(model="bench", messages=messages)
        content: str = response.choices[0].message.content
        return content

    async def close(self) -> None:
        if self.router is not None:
            for hook in ("aclose", "close"):
                fn = getattr(self.router, hook, None)
                if callable(fn):
                    result = fn()
                    if hasattr(result, "__await__"):
                        await result
                    break

    def describe(self) -> str:
        r = self.router
        if r is None:
            return ""
        knobs = {k: getattr(r, k, "?") for k in ("num_retries", "allowed_fails", "cooldown_time", "retry_after")}
        return ", ".join(f"{k}={v}" for k, v in knobs.items())

    def cooldowns(self) -> int | None:
        return _LITELLM_COOLDOWNS[0]


class PatinoxProvider:
    """``patinox_core.LocalProvider.achat`` with the servers configured as ``endpoints``."""

    def __init__(self, overstate: int | None = None) -> None:
        self.provider: Any = None
        self.overstate = overstate
        self._cooled = 0
        self.name = "patinox LocalProvider.achat" + (
            f", max_concurrency={overstate} (overstated)" if overstate else "")

    async def start(self, urls: list[str]) -> None:
        from patinox_core import LocalProvider, LocalSettings

        endpoints = [{"url": u, "max_concurrency": self.overstate} if self.overstate else u for u in urls]
        self.provider = LocalProvider(LocalSettings(endpoints=endpoints, discover_defaults=False))
        self._count_cooldowns(self.provider._health)  # the provider's own record of cooldowns
        await self.provider.alist_models()

    def _count_cooldowns(self, health: Any) -> None:
        from patinox_core.errors import should_cool_down

        original = health.cool

        def cool(service: str, err: Any) -> None:
            self._cooled += bool(should_cool_down(err))
            original(service, err)

        health.cool = cool

    async def send(self, messages: Messages) -> str:
        from patinox_core import ChatRequest, Message

        request = ChatRequest(model=MODEL, messages=[Message(role=cast(Any, m["role"]), content=m["content"])
                                                 for m in messages])
        result = await self.provider.achat(request)
        return str(result.message.content)

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()

    def describe(self) -> str:
        s = getattr(self.provider, "settings", None)
        if s is None:
            return ""
        slots = (f"every endpoint max_concurrency={self.overstate} (the servers run 4, 2, 1, 1 or 2, 2)"
                 if self.overstate else "slots read from /props")
        return f"default settings (max_retries={s.max_retries}), endpoints in fleet order, {slots}"

    def cooldowns(self) -> int | None:
        return self._cooled


def client_makers() -> list[tuple[str, Callable[[], Client]]]:
    """(name, factory) of raw round-robin, the three LiteLLM strategies and patinox (as configured by
    default, and with its slots overstated), in report order."""
    litellm = [(f"LiteLLM Router {s}", partial(LiteLLMRouter, s)) for s in LITELLM_STRATEGIES]
    patinox = [("patinox LocalProvider.achat", PatinoxProvider),
               ("patinox LocalProvider.achat, max_concurrency=8 (overstated)", partial(PatinoxProvider, 8))]
    return [(RawRoundRobin.name, RawRoundRobin), *litellm, *patinox]


__all__ = ["LITELLM_STRATEGIES", "Client", "LiteLLMRouter", "PatinoxProvider", "RawRoundRobin", "client_makers",
           "quiet_litellm"]

"""Loopback-only instruments: a request recorder (an ``httpx.MockTransport`` handler) and a socket
guard that records, and refuses unless loopback, every connection and name lookup the process tries."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import httpx
import pytest

__test__: dict[str, object] = {}

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.9"), is_loopback("[::1]"), is_loopback("localhost"), is_loopback("10.0.0.1")
    (True, True, True, False)
    """
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Recorder:
    """Hosts and ports something tried to reach. As a ``MockTransport`` handler it answers 404."""

    def __init__(self) -> None:
        self.hosts: list[tuple[str, int | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append((request.url.host, request.url.port))
        return httpx.Response(404, text="404 page not found")

    def note(self, host: Any, port: Any) -> None:
        """Record an attempt; refuse it (before any packet) unless it is loopback."""
        self.hosts.append((str(host), int(port) if isinstance(port, int) else None))
        if not is_loopback(str(host)):
            raise OSError(f"reliability tests are loopback only: refused {host}:{port}")

    def outside(self, allowed: set[str] = frozenset()) -> list[tuple[str, int | None]]:
        return [(h, p) for h, p in self.hosts if not is_loopback(h) and h not in allowed]


def install_guard(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Route ``socket.getaddrinfo``, ``socket.create_connection``, ``socket.socket.connect`` and the
    event loops' ``create_connection`` through a ``Recorder`` that refuses non-loopback hosts."""
    rec = Recorder()
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_create, real_loop_create = socket.create_connection, asyncio.BaseEventLoop.create_connection

    def getaddrinfo(host, port, *args, **kwargs):
        rec.note(host, port)
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple):
            rec.note(address[0], address[1])
        return real_connect(self, address)

    def create_connection(address, *args, **kwargs):
        rec.note(address[0], address[1])
        return real_create(address, *args, **kwargs)

    async def loop_create_connection(self, protocol_factory, host=None, port=None, *args, **kwargs):
        if host is not None:
            rec.note(host, port)
        return await real_loop_create(self, protocol_factory, host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", loop_create_connection)
    return rec

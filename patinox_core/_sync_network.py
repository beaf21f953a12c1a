"""The sync client's sockets: every wait bounded by the call's total deadline, name lookups included.

httpx's sync transport waits in ``socket.create_connection`` (whose name lookup has no timeout at
all) and in per-operation socket timeouts that every byte resets. ``DeadlineBackend`` is an
httpcore network backend that (1) resolves host names on a helper thread, waiting at most the
connect timeout, and (2) shortens every connect / read / write timeout to what is left of the
deadline that ``deadline.bound`` set for this thread. ``DeadlineHTTPTransport`` is httpx's own
``HTTPTransport`` over that backend.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from .deadline import bounded_timeout


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    try:
        return bounded_timeout(timeout)
    except TimeoutError as exc:
        raise error(str(exc)) from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, timeout: float | None) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` that gives up after ``timeout`` (the lookup itself may go on, on its daemon thread)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc
        done.set()

    threading.Thread(target=lookup, name="patinox-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"resolving {host!r} took longer than {timeout}s")
    if "error" in box:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {box['error']}")
    infos: list[tuple[Any, ...]] = box["infos"]
    return infos


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never wait past the thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with bounded name lookups and deadline-bounded streams."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        if _is_ip(host):
            return DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))
        last: Exception | None = None
        for *_, address in resolve(host, port, timeout):
            try:
                stream = self._backend.connect_tcp(str(address[0]), port, _bounded(timeout, httpcore.ConnectTimeout),
                                                   local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next address (IPv6 then IPv4, say)
                last = exc
                continue
            return DeadlineStream(stream)
        raise last or httpcore.ConnectError(f"no address for {host!r}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:  # pragma: no cover
        return DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - used by httpcore's retries (0 here)
        self._backend.sleep(seconds)


class DeadlineHTTPTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses ``DeadlineBackend`` (same pool settings)."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        pool = self._pool
        self._pool = httpcore.ConnectionPool(
            ssl_context=pool._ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=DeadlineBackend(),
        )


__all__ = ["DeadlineBackend", "DeadlineHTTPTransport", "resolve"]

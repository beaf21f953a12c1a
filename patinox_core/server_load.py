"""Ask servers for their own requests in flight (``patinox status --watch``).

Which servers report what, and how it is read, is each kind's ``KindSpec.load_probe``
(``kinds/load.py``). Here is the request: one ``GET`` per server, no retries, the probe's short
timeouts, the body capped (``limits.PROBE_BODY_LIMIT``), every failure a typed
``LocalProviderError`` with a hint. A gateway is never asked (its engines' endpoints are not its
own), nor is a server whose kind reports nothing: both read as ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import InvalidResponseError, LocalProviderError, ServerError
from .kinds import find_spec
from .kinds.load import LoadProbe, ServerLoad

if TYPE_CHECKING:
    from .discovery import Service
    from .transport import Transport

#: what a server's figures are: its load, ``None`` (it reports none) or why they could not be read
Reading = ServerLoad | LocalProviderError | None


def load_probe(service: Service) -> LoadProbe | None:
    """The endpoint ``service`` reports its load at (None: it reports none, or it is a gateway)."""
    spec = find_spec(service.flavor) if service.flavor else None
    return None if spec is None or service.gateway else spec.load_probe


def read_load(transport: Transport, service: Service) -> ServerLoad | None:
    """``service``'s own requests in flight (and queued, where it says), or None when it reports none."""
    probe = load_probe(service)
    if probe is None:
        return None
    path = probe.path
    url = service.base_url.rstrip("/") + path
    ctx = transport.context(service.base_url, lambda status, body: ServerError(f"{path} answered {status}"),
                            kind="probe", retries=0)
    reply = transport.probe(ctx, url)
    if reply.status != 200:
        raise ServerError(f"{probe.path} answered {reply.status}", hint=probe.hint, service=service.base_url,
                          status_code=reply.status)
    try:
        return probe.read(reply.body)
    except InvalidResponseError as err:
        raise InvalidResponseError(err.message, hint=probe.hint, service=service.base_url) from None


def read_loads(transport: Transport, services: Sequence[Service]) -> dict[str, Reading]:
    """``read_load`` of every healthy server, an error kept as its reading (one server's failure
    does not hide the others')."""
    out: dict[str, Reading] = {}
    for service in services:
        if not service.healthy:
            continue
        try:
            out[service.base_url] = read_load(transport, service)
        except LocalProviderError as err:
            out[service.base_url] = err
    return out


__all__ = ["Reading", "load_probe", "read_load", "read_loads"]

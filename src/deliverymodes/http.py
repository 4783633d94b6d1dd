"""Channels over HTTP: the ASGI app, and its clients (``pip install "deliverymodes[http]"``).

``HttpApp`` serves channels; ``HttpRemote`` reads and writes them from elsewhere, with poll,
long-poll and Server-Sent Events subscribers that satisfy the ``Subscriber`` protocol. The
clients need ``httpx``; the app needs nothing beyond deliverymodes, so the clients are loaded
when first asked for, and without httpx that says which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._http import AccessDenied, HttpApp, ServerSentEvent, SseParser

if TYPE_CHECKING:
    from ._http._client import HttpChannel, HttpEventSubscriber, HttpPollSubscriber, HttpRemote

__all__ = [
    "AccessDenied",
    "HttpApp",
    "HttpChannel",
    "HttpEventSubscriber",
    "HttpPollSubscriber",
    "HttpRemote",
    "ServerSentEvent",
    "SseParser",
]

_CLIENTS = {"HttpChannel", "HttpEventSubscriber", "HttpPollSubscriber", "HttpRemote"}


def __getattr__(name: str) -> Any:
    if name not in _CLIENTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from ._http import _client  # noqa: PLC0415 - needs the optional httpx
    except ModuleNotFoundError as error:
        if error.name != "httpx":
            raise
        raise ModuleNotFoundError(
            f'{name} needs httpx: pip install "deliverymodes[http]"', name="httpx"
        ) from None
    return getattr(_client, name)

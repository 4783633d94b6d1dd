"""Channels over HTTP: the ASGI app, and its clients (``pip install "deliverymodes[http]"``).

``HttpApp`` serves channels; ``HttpRemote`` reads and writes them from elsewhere, with poll,
long-poll and Server-Sent Events subscribers that satisfy the ``Subscriber`` protocol. The
clients need ``httpx``; the app needs nothing beyond deliverymodes.
"""

from ._http import AccessDenied, HttpApp, ServerSentEvent, SseParser
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

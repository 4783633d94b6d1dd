"""Channels across processes: serve them over any anyio byte stream, and connect to them."""

from .._reconnect import Reconnect
from ._client import (
    RemoteLongPollChannel,
    RemoteLongPollSubscriber,
    RemotePollChannel,
    RemotePollSubscriber,
    RemotePushChannel,
    RemotePushSubscriber,
)
from ._connect import connect, connect_tcp, connect_unix
from ._connection import Remote
from ._memory import stream_pair
from ._server import ServerLimits, serve, serve_listener, serve_tcp, serve_unix

__all__ = [
    "Reconnect",
    "Remote",
    "RemoteLongPollChannel",
    "RemoteLongPollSubscriber",
    "RemotePollChannel",
    "RemotePollSubscriber",
    "RemotePushChannel",
    "RemotePushSubscriber",
    "ServerLimits",
    "connect",
    "connect_tcp",
    "connect_unix",
    "serve",
    "serve_listener",
    "serve_tcp",
    "serve_unix",
    "stream_pair",
]

"""Serving channels over byte streams: one wire connection per stream, many at once."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import anyio
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskStatus
from anyio.streams.tls import TLSListener

from .._server_statistics import ServerCounts
from .._serving import ServedChannels
from .._wire import Codec, JsonCodec
from ._limits import ServerLimits
from ._payloads import PayloadCache, check_codec
from ._served_connection import ServedConnection

__all__ = ["ServerLimits", "serve", "serve_listener", "serve_tcp", "serve_unix"]


def _checked_counts(counts: object) -> ServerCounts:
    if counts is None:
        return ServerCounts()
    if not isinstance(counts, ServerCounts):
        raise TypeError(f"counts must be a ServerCounts, not {type(counts).__name__}")
    return counts


async def serve(
    stream: ByteStream,
    channels: Mapping[str, object],
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    counts: ServerCounts | None = None,
) -> None:
    """Serve ``channels`` (name → channel) to the client at the other end of ``stream``.

    Returns when the client closes the connection or breaks the protocol (it is told why in an
    ERROR frame first); closes ``stream`` and every subscription it made. Any anyio byte stream
    works: TCP, Unix sockets, TLS, pipes, or one of your own. ``counts``: a
    :class:`ServerCounts` to count the connection and its requests in (for metrics).
    """
    chosen = check_codec(codec or JsonCodec())
    connection = ServedConnection(
        stream,
        ServedChannels(channels),
        chosen,
        limits or ServerLimits(),
        PayloadCache(chosen),
        counts=_checked_counts(counts),
    )
    await connection.run()


async def serve_listener(
    listener: Listener[ByteStream],
    channels: Mapping[str, object],
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    counts: ServerCounts | None = None,
) -> None:
    """Serve ``channels`` to every client that connects to ``listener``, until cancelled.

    Each connection is served in its own task; one that fails or misbehaves ends alone.
    ``counts``: a :class:`ServerCounts` counting the connections and requests (its
    ``statistics()`` for metrics); one of its own when not given.
    """
    async with listener:  # closed also when the arguments are refused
        chosen = check_codec(codec or JsonCodec())
        checked = ServedChannels(channels)
        chosen_limits = limits or ServerLimits()
        cache = PayloadCache(chosen)
        chosen_counts = _checked_counts(counts)

        async def handle(stream: ByteStream) -> None:
            await ServedConnection(
                stream, checked, chosen, chosen_limits, cache, counts=chosen_counts
            ).run()

        await listener.serve(handle)


async def serve_tcp(
    channels: Mapping[str, object],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    counts: ServerCounts | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``channels`` on a TCP port (TLS with ``ssl_context``) until cancelled.

    With ``port=0`` the system picks a free port; ``await task_group.start(serve_tcp, …)`` returns
    the port bound.
    """
    ServedChannels(channels)  # refused before a port is bound
    _checked_counts(counts)
    listener: Listener[Any] = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(SocketAttribute.local_port)
    if ssl_context is not None:
        listener = TLSListener(listener, ssl_context, standard_compatible=False)
    task_status.started(bound)
    await serve_listener(listener, channels, codec=codec, limits=limits, counts=counts)


async def serve_unix(
    channels: Mapping[str, object],
    path: str,
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    counts: ServerCounts | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``channels`` on a Unix socket at ``path`` until cancelled."""
    ServedChannels(channels)  # refused before the socket is made
    _checked_counts(counts)
    listener = await anyio.create_unix_listener(path)
    task_status.started()
    await serve_listener(listener, channels, codec=codec, limits=limits, counts=counts)

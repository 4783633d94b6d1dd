"""Opening a connection to a server: over a given stream, TCP (with TLS) or a Unix socket."""

from __future__ import annotations

import ssl
from typing import Any

import anyio
from anyio.abc import ByteStream

from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_KEEPALIVE_MISSES,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._reconnect import Reconnect
from .._wire import Codec
from ._connection import Remote

__all__ = ["connect", "connect_tcp", "connect_unix"]

#: The reconnect policy of ``connect_tcp`` and ``connect_unix`` unless told otherwise.
DEFAULT_RECONNECT = Reconnect()


def connect(
    stream: ByteStream,
    *,
    codec: Codec[Any] | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL,
    keepalive_misses: int = DEFAULT_KEEPALIVE_MISSES,
    write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE,
) -> Remote:
    """A connection over an already open anyio byte stream (any transport); it cannot be made
    again once it drops. Use it as ``async with connect(stream) as remote``."""
    opened = False

    async def open_once() -> ByteStream:
        nonlocal opened
        if opened:
            raise OSError("a given stream cannot be opened again")
        opened = True
        return stream

    return Remote(
        open_once,
        codec=codec,
        max_frame_size=max_frame_size,
        keepalive_interval=keepalive_interval,
        keepalive_misses=keepalive_misses,
        write_buffer_size=write_buffer_size,
    )


def connect_tcp(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reconnect: Reconnect | None = DEFAULT_RECONNECT,
    codec: Codec[Any] | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL,
    keepalive_misses: int = DEFAULT_KEEPALIVE_MISSES,
    write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE,
) -> Remote:
    """A connection to a server on TCP (TLS with ``ssl_context``): ``async with connect_tcp(…)``.

    It is made again after it drops, as ``reconnect`` says (``None``: never).
    """

    async def opened() -> ByteStream:
        if ssl_context is None:
            return await anyio.connect_tcp(host, port)
        return await anyio.connect_tcp(
            host, port, ssl_context=ssl_context, tls_standard_compatible=False
        )

    return Remote(
        opened,
        codec=codec,
        max_frame_size=max_frame_size,
        keepalive_interval=keepalive_interval,
        keepalive_misses=keepalive_misses,
        write_buffer_size=write_buffer_size,
        reconnect=reconnect,
    )


def connect_unix(
    path: str,
    *,
    reconnect: Reconnect | None = DEFAULT_RECONNECT,
    codec: Codec[Any] | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL,
    keepalive_misses: int = DEFAULT_KEEPALIVE_MISSES,
    write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE,
) -> Remote:
    """A connection to a server on a Unix socket: ``async with connect_unix(path) as remote``.

    It is made again after it drops, as ``reconnect`` says (``None``: never).
    """

    async def opened() -> ByteStream:
        return await anyio.connect_unix(path)

    return Remote(
        opened,
        codec=codec,
        max_frame_size=max_frame_size,
        keepalive_interval=keepalive_interval,
        keepalive_misses=keepalive_misses,
        write_buffer_size=write_buffer_size,
        reconnect=reconnect,
    )

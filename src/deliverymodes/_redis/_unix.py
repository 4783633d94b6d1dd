"""A Unix socket stream for asyncio whose reads may be cancelled at any moment.

anyio's Unix socket stream on asyncio wakes a read with a reader callback that completes a
future. When the reading task is cancelled in the same turn of the loop as data arrives, the
callback runs on the cancelled future and asyncio logs an ``InvalidStateError``. This stream
waits with ``anyio.wait_readable``, whose callback checks first; everything else is anyio's.
On trio, anyio's stream has no such race and is used as it is.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, SocketAttribute

__all__ = ["UnixStream"]


class UnixStream(ByteStream):
    """``stream`` (anyio's, connected), read with ``wait_readable`` and ``recv``."""

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._socket: socket.socket = stream.extra(SocketAttribute.raw_socket)
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                data = self._socket.recv(max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._socket)
                continue
            except OSError as error:
                if self._closed:
                    raise anyio.ClosedResourceError from None
                raise anyio.BrokenResourceError from error
            if not data:
                raise anyio.EndOfStream
            return data

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            if self._socket.fileno() != -1:
                anyio.notify_closing(self._socket)  # a read waiting raises ClosedResourceError
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self._stream.extra_attributes

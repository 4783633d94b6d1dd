"""The byte stream under a Redis connection: anyio's, except for command connections on
asyncio, where a small protocol of our own keeps the socket readable between reads.

anyio's asyncio socket stream resumes reading before each receive and pauses it after (two
``epoll_ctl`` calls and a selector update per reply), which costs a client that reads one short
reply per command about a tenth of its CPU. Here the transport reads whenever data comes and
queues it; ``receive`` takes from the queue or waits for the next chunk. Replies are read as
they come, so the queue stays short; reading pauses (as any protocol must) only when it holds
more than ``_HIGH_WATER`` bytes. Pub/Sub connections keep anyio's stream: with this one, a
publish that waits for its reply while its own notification arrives took longer (measured on
two cores, benchmarks/redis.py), and fan-out gained nothing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Protocol

import anyio

__all__ = ["ByteStream", "connect"]

_HIGH_WATER = 1 << 20  # bytes queued before reading pauses


class ByteStream(Protocol):
    """What a Redis connection needs of its stream."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self, max_bytes: int = 65536) -> bytes: ...

    async def aclose(self) -> None: ...


async def connect(
    host: str | None,
    port: int,
    path: str | None,
    context: ssl.SSLContext | None,
    *,
    commands: bool,
) -> ByteStream:
    """A stream to ``path`` (a Unix socket) or ``host``:``port`` (over TLS with ``context``),
    for a command connection or a Pub/Sub one; ``OSError`` if it cannot be opened."""
    if commands and _on_asyncio():
        return await _AsyncioStream.open(host, port, path, context)
    if path is not None:
        return await anyio.connect_unix(path)
    assert host is not None
    if context is not None:
        # No TLS closing handshake: Redis needs none, and it would read from the stream while
        # the connection's reader task may be reading too.
        return await anyio.connect_tcp(
            host, port, ssl_context=context, tls_standard_compatible=False
        )
    return await anyio.connect_tcp(host, port)


def _on_asyncio() -> bool:
    """Whether this runs in an asyncio task (not trio, nor trio as asyncio's guest)."""
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no asyncio loop in this thread
        return False


class _Reading(asyncio.Protocol):
    """Queues what the transport reads; wakes the reader waiting for it."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.ended = False  # end of file, or the connection lost
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None  # while writing is paused
        self.transport: asyncio.Transport | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(bytes(data))
        self.queued += len(data)
        if self.queued > _HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _AsyncioStream:
    """A connected socket on asyncio, read continuously (see the module's docstring)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Reading) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    @classmethod
    async def open(
        cls, host: str | None, port: int, path: str | None, context: ssl.SSLContext | None
    ) -> _AsyncioStream:
        loop = asyncio.get_running_loop()
        if path is not None:
            transport, protocol = await loop.create_unix_connection(_Reading, path)
        else:
            assert host is not None
            transport, protocol = await loop.create_connection(
                _Reading, host, port, ssl=context, server_hostname=host if context else None
            )
        assert isinstance(transport, asyncio.Transport)
        return cls(transport, protocol)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next bytes read, however many came (``max_bytes`` is not needed: Redis's
        replies are parsed from whatever arrives)."""
        protocol = self._protocol
        while not protocol.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.ended:
                if protocol.error is not None:
                    raise anyio.BrokenResourceError from protocol.error
                raise anyio.EndOfStream
            protocol.waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                protocol.waiter = None
        chunk = protocol.chunks.popleft()
        protocol.queued -= len(chunk)
        if protocol.paused and protocol.queued <= _HIGH_WATER // 2:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, data: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._protocol.ended:
            raise anyio.BrokenResourceError
        self._transport.write(data)  # all of it, now or buffered: never half a command
        drained = self._protocol.drained
        if drained is not None:  # Redis reads slower than we write: wait until it caught up
            await drained
            if self._closed:
                raise anyio.ClosedResourceError

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._transport.abort()
        self._protocol.connection_lost(None)
        await asyncio.sleep(0)

"""An in-memory byte stream pair: the transport for tests, examples and in-process wiring."""

from __future__ import annotations

import anyio
from anyio.abc import ByteStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["stream_pair"]

#: Chunks in flight in each direction: enough for a writer to run ahead of its reader a little,
#: bounded so that a reader that stops reading stops its writer (as a socket would).
_CHUNKS_IN_FLIGHT = 16


class _MemoryByteStream(ByteStream):
    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive
        self._pending = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._pending:
            self._pending = await self._receive.receive()
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        if item:
            await self._send.send(bytes(item))

    async def send_eof(self) -> None:
        self._send.close()

    async def aclose(self) -> None:
        self._send.close()
        self._receive.close()


def stream_pair() -> tuple[ByteStream, ByteStream]:
    """Two connected in-memory byte streams: what one sends, the other receives.

    ``serve(left, channels)`` in one task and ``connect(right)`` in another wire a server and a
    client together in one process, with no socket.
    """
    a_to_b, b_from_a = anyio.create_memory_object_stream[bytes](_CHUNKS_IN_FLIGHT)
    b_to_a, a_from_b = anyio.create_memory_object_stream[bytes](_CHUNKS_IN_FLIGHT)
    return _MemoryByteStream(a_to_b, a_from_b), _MemoryByteStream(b_to_a, b_from_a)

"""One wire connection of a client: its stream, its sans-IO state, its writer, and the requests
waiting for answers on it."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.abc import ByteStream

from .._exceptions import ConnectionLost, DeliveryError
from .._wire import ClientConnection, Event, Keepalive, encode
from ._writer import FrameWriter

__all__ = ["Link", "Pending"]

_KEEPALIVE = encode(Keepalive())


class Pending:
    """A request in flight: its answer, or a callback for it (a subscription's)."""

    __slots__ = ("callback", "done", "error", "number", "reply")

    def __init__(
        self,
        number: int,
        callback: Callable[[Event | None, DeliveryError | None], None] | None = None,
    ) -> None:
        self.number = number
        self.callback = callback
        self.done = anyio.Event()
        self.reply: Event | None = None
        self.error: BaseException | None = None

    def resolve(self, reply: Event | None, error: DeliveryError | None) -> None:
        if self.callback is not None:
            self.callback(reply, error)
        self.reply, self.error = reply, error
        self.done.set()


class Link:
    """One wire connection: its stream, its state (a sans-IO ``ClientConnection``), its writer,
    and what ended it."""

    def __init__(
        self, stream: ByteStream, connection: ClientConnection, writer: FrameWriter
    ) -> None:
        self.stream = stream
        self.connection = connection
        self.writer = writer
        self.last_heard = anyio.current_time()
        self.welcomed = False
        self.failure: DeliveryError | None = None
        self.bytes_read = 0

    def end(self, failure: DeliveryError) -> None:
        if self.failure is None:
            self.failure = failure

    @classmethod
    def open(
        cls,
        stream: ByteStream,
        *,
        max_frame_size: int,
        write_buffer_size: int,
        keepalive: float | None,
    ) -> Link:
        """A link on ``stream``, its HELLO queued."""
        connection = ClientConnection(max_frame_size)
        writer = FrameWriter(
            stream, high_water=write_buffer_size, keepalive=keepalive, keepalive_frame=_KEEPALIVE
        )
        writer.write(connection.hello())
        return cls(stream, connection, writer)

    async def write(self, scope: anyio.CancelScope) -> None:
        """Run the writer; when it stops (finished or broken), cancel ``scope``."""
        try:
            await self.writer.run()
        except ConnectionLost as error:
            self.end(error)
        finally:
            scope.cancel()

    async def watch(self, limit: float, scope: anyio.CancelScope) -> None:
        """End the link when the server has been silent for ``limit`` seconds (a cable pulled)."""
        while True:
            await anyio.sleep_until(self.last_heard + limit)
            if anyio.current_time() >= self.last_heard + limit:
                self.end(ConnectionLost(f"the server was silent for {limit:g} s"))
                scope.cancel()
                return

"""One wire connection of a client: its stream, its sans-IO state, its writer and reader, and the
requests waiting for answers on it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import anyio
from anyio.abc import ByteStream

from .._exceptions import ConnectionLost, DeliveryError, ProtocolError, RemoteError
from .._wire import (
    ClientConnection,
    Close,
    ConnectionEnded,
    Error,
    Event,
    Keepalive,
    Welcome,
    encode,
)
from ._writer import STREAM_ENDED, FrameWriter

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

    async def read(self, welcomed: Callable[[], None], dispatch: Callable[[Event], None]) -> None:
        """Read until the link ends (``failure`` says why): ``welcomed`` once the server's
        WELCOME came, ``dispatch`` for every answer, push and END after it."""
        connection = self.connection
        try:
            while True:
                try:
                    data = await self.stream.receive()
                except STREAM_ENDED:
                    data = b""  # the end of the stream, to the connection object an event
                self.last_heard = anyio.current_time()
                self.bytes_read += len(data)
                connection.receive_data(data)
                while (event := connection.next_event()) is not None:
                    if isinstance(event, Welcome):
                        self.welcomed = True
                        welcomed()
                    elif isinstance(event, Close):
                        self.end(ConnectionLost("the server is going away"))
                        return
                    elif isinstance(event, ConnectionEnded):
                        self.end(ConnectionLost("the server closed the connection"))
                        return
                    elif isinstance(event, Error) and event.request == 0:
                        self.end(RemoteError(event.code, event.message))
                        return
                    else:
                        dispatch(event)
        except ProtocolError as error:
            with contextlib.suppress(ConnectionLost):
                self.writer.write(connection.send(Error(0, error.code, str(error))))
            self.end(error)

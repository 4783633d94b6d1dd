"""One writer per wire connection: frames queued by many tasks, written coalesced by one."""

from __future__ import annotations

import anyio
from anyio.abc import ByteSendStream

from .._exceptions import ConnectionLost

__all__ = ["STREAM_ENDED", "FrameWriter"]

#: What receiving from a stream raises when the peer is gone.
STREAM_ENDED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class FrameWriter:
    """Queues frames and writes everything queued in one ``send`` whenever the stream is free.

    Replies are queued with ``write`` (never waits); bulk traffic such as pushed messages uses
    ``write_when_room``, which waits while more than ``high_water`` bytes are queued, so a slow
    reader holds back its producers instead of growing the queue. After ``keepalive`` seconds of
    silence it writes ``keepalive_frame``.
    """

    def __init__(
        self,
        stream: ByteSendStream,
        *,
        high_water: int,
        keepalive: float | None,
        keepalive_frame: bytes,
    ) -> None:
        self._stream = stream
        self._high_water = high_water
        self._keepalive = keepalive
        self._keepalive_frame = keepalive_frame
        self._queue = bytearray()
        self._has_data: anyio.Event | None = None
        self._has_room: anyio.Event | None = None
        self._finishing = False
        self._broken = False
        self._sending = False  # a send is under way (by the writer task or a direct one)
        self._sent: anyio.Event | None = None  # set when that send is done
        self._last_write = 0.0  # when a send last finished, on anyio's clock
        self.keepalive_armed = True  # a server arms it once the handshake is done
        self.interrupted = False  # a send was cut short: the stream may hold half a frame
        self.bytes_written = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def full(self) -> bool:
        """True while the queue is at or over its high-water mark."""
        return len(self._queue) >= self._high_water

    def write(self, frame: bytes) -> None:
        """Queue ``frame`` now (raises ConnectionLost once the stream is gone)."""
        if self._broken or self._finishing:
            raise ConnectionLost("the connection is closed")
        self._queue += frame
        if self._has_data is not None:
            self._has_data.set()
            self._has_data = None

    async def write_directly(self, frame: bytes) -> None:
        """Send ``frame`` from the calling task if nothing is queued or being sent, else queue it.

        Saves a wake-up of the writer task per frame. Only for a task whose cancellation ends
        the connection anyway (a server's reader): cancelled in the middle of a send, a stream
        may be left with half a frame.
        """
        if self._queue or self._sending or self._broken or self._finishing:
            self.write(frame)
            return
        await self._send(frame)

    async def _send(self, data: bytes) -> None:
        self._sending = True
        try:
            await self._stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            self._broken = True
            self._wake_all()
            raise ConnectionLost(f"the connection broke: {error!r}") from error
        except BaseException:
            self.interrupted = True  # cancelled mid-send: part of a frame may have gone out
            raise
        finally:
            self._sending = False
            if self._sent is not None:
                self._sent.set()
                self._sent = None
        self.bytes_written += len(data)
        self._last_write = anyio.current_time()

    async def wait_for_room(self) -> None:
        """Wait until the queue is under its high-water mark."""
        while len(self._queue) >= self._high_water and not (self._broken or self._finishing):
            if self._has_room is None:
                self._has_room = anyio.Event()
            await self._has_room.wait()

    async def write_when_room(self, frame: bytes) -> None:
        """Queue ``frame`` once the queue is under its high-water mark."""
        await self.wait_for_room()
        self.write(frame)

    def finish(self) -> None:
        """Write what is queued, then stop (``run`` returns)."""
        self._finishing = True
        self._wake_all()

    def _wake_all(self) -> None:
        for event in (self._has_data, self._has_room):
            if event is not None:
                event.set()
        self._has_data = self._has_room = None

    async def run(self) -> None:
        """Write until ``finish``; raises ConnectionLost if the stream breaks."""
        failure: ConnectionLost | None = None
        try:
            async with anyio.create_task_group() as tg:
                if self._keepalive is not None:
                    tg.start_soon(self._keep_alive, self._keepalive)
                try:
                    await self._write_queued()
                except ConnectionLost as error:  # raised below, not wrapped in a group
                    failure = error
                tg.cancel_scope.cancel()
        finally:
            self._broken = True
            self._wake_all()
        if failure is not None:
            raise failure

    async def _write_queued(self) -> None:
        while True:
            if self._sending:  # a direct send is under way: frames queued since go after it
                self._sent = anyio.Event()
                await self._sent.wait()
                continue
            if not self._queue:
                if self._finishing:
                    return
                self._has_data = anyio.Event()
                await self._has_data.wait()
                continue
            data = bytes(self._queue)
            self._queue.clear()
            if self._has_room is not None:
                self._has_room.set()
                self._has_room = None
            await self._send(data)

    async def _keep_alive(self, interval: float) -> None:
        """Queue a KEEPALIVE frame whenever ``interval`` seconds passed without writing."""
        self._last_write = anyio.current_time()
        while True:
            await anyio.sleep_until(self._last_write + interval)
            now = anyio.current_time()
            if now < self._last_write + interval:
                continue  # written meanwhile
            if self._queue or self._sending or self._finishing or self._broken:
                await anyio.sleep(interval)  # a write under way is traffic enough
                continue
            if self.keepalive_armed:
                self.write(self._keepalive_frame)
            self._last_write = now

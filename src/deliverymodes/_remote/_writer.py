"""One writer per wire connection: frames queued by many tasks, written coalesced by one."""

from __future__ import annotations

import anyio
from anyio.abc import ByteSendStream

from .._exceptions import ConnectionLost

__all__ = ["FrameWriter"]


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
        self.bytes_written = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def write(self, frame: bytes) -> None:
        """Queue ``frame`` now (raises ConnectionLost once the stream is gone)."""
        if self._broken or self._finishing:
            raise ConnectionLost("the connection is closed")
        self._queue += frame
        if self._has_data is not None:
            self._has_data.set()
            self._has_data = None

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
        try:
            while True:
                if not self._queue:
                    if self._finishing:
                        return
                    self._has_data = anyio.Event()
                    with anyio.move_on_after(self._keepalive) as idle:
                        await self._has_data.wait()
                    if idle.cancelled_caught and not self._queue:
                        self._queue += self._keepalive_frame
                    continue
                data = bytes(self._queue)
                self._queue.clear()
                if self._has_room is not None:
                    self._has_room.set()
                    self._has_room = None
                await self._stream.send(data)
                self.bytes_written += len(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            raise ConnectionLost(f"the connection broke: {error!r}") from error
        finally:
            self._broken = True
            self._wake_all()

"""The state a served connection's parts share, and how they answer."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import Any

import anyio
from anyio.abc import ByteStream

from .._core import Batch, Batching, Start
from .._defaults import COOPERATIVE_BUDGET
from .._exceptions import ConnectionLost, ProtocolError
from .._protocols import ServedLongPoll, ServedSubscription
from .._server_statistics import ServerCounts
from .._serving import Served, ServedChannels, batching_with
from .._wire import Codec, Error, ErrorCode, Event, Keepalive, ServerConnection, batch_flags, encode
from .._wire._translate import RequestRefused, release_code
from ._limits import ServerLimits
from ._payloads import Fitter, PayloadCache
from ._writer import STREAM_ENDED, FrameWriter

__all__ = ["KEEPALIVE", "ConnectionBase", "OpenSubscription", "WaitingPoll", "quoted"]

KEEPALIVE = encode(Keepalive())


_log = logging.getLogger("deliverymodes.server")


def quoted(name: str) -> str:
    return repr(name if len(name) <= 100 else name[:100] + "...")


class WaitingPoll:
    """A long poll a connection holds: cancelling ``scope`` ends its wait; then it is answered
    at once with what there is, unless a CANCEL withdrew it (and took it out of the
    connection's waiting polls)."""

    __slots__ = ("batching", "channel", "cursor", "epoch", "scope")

    def __init__(
        self,
        channel: ServedLongPoll[Any],
        cursor: int | Start,
        epoch: int | None,
        batching: Batching,
    ) -> None:
        self.scope = anyio.CancelScope()
        self.channel = channel
        self.cursor = cursor
        self.epoch = epoch
        self.batching = batching

    async def wait(self, fitter: Fitter) -> Batch[Any] | None:
        """Its batch once released; None if ``scope`` was cancelled first."""
        with self.scope:
            return await self.channel.serve_long_poll(
                self.cursor, epoch=self.epoch, batching=self.batching, fit=fitter
            )
        return None

    async def answer_now(self, fitter: Fitter) -> Batch[Any]:
        """The answer to give at once, with what there is (reason ``max_wait`` at least)."""
        now = batching_with(self.batching, max_wait=0)
        batch = await self.channel.serve_long_poll(
            self.cursor, epoch=self.epoch, batching=now, fit=fitter
        )
        assert batch is not None  # a zero wait always answers
        return batch

    def answer_at_once(self, fitter: Fitter) -> Batch[Any]:
        """``answer_now`` without awaiting; ``anyio.WouldBlock`` if the channel cannot."""
        now = batching_with(self.batching, max_wait=0)
        return self.channel.serve_long_poll_nowait(
            self.cursor, epoch=self.epoch, batching=now, fit=fitter
        )


class OpenSubscription:
    """A push subscription's server side: its subscriber, and a wake-up for when credit comes
    (the credit itself is the connection object's)."""

    __slots__ = ("_credited", "number", "scope", "subscriber")

    def __init__(self, number: int, subscriber: ServedSubscription[Any]) -> None:
        self.number = number
        self.subscriber = subscriber
        self.scope = anyio.CancelScope()
        self._credited: anyio.Event | None = None

    def credited(self) -> None:
        if self._credited is not None:
            self._credited.set()
            self._credited = None

    async def wait_for_credit(self) -> None:
        if self._credited is None:
            self._credited = anyio.Event()
        await self._credited.wait()


class ConnectionBase:
    """What a served connection's parts share: its stream, its sans-IO state (``self._wire``),
    its writer, the requests and subscriptions it works on, and how it answers."""

    def __init__(
        self,
        stream: ByteStream,
        channels: ServedChannels,
        codec: Codec[Any],
        limits: ServerLimits,
        cache: PayloadCache,
        *,
        counts: ServerCounts,
    ) -> None:
        self._stream = stream
        self._counts = counts
        self._channels = channels
        self._codec = codec
        self._limits = limits
        self._cache = cache
        self._wire = ServerConnection(
            max_frame_size=limits.max_frame_size,
            max_subscriptions=limits.max_subscriptions,
            max_waiting_polls=limits.max_waiting_polls,
        )
        self._writer = FrameWriter(
            stream,
            high_water=limits.write_buffer_size,
            keepalive=limits.keepalive_interval,
            keepalive_frame=KEEPALIVE,
        )
        self._writer.keepalive_armed = False  # not before the handshake
        self._subscriptions: dict[int, OpenSubscription] = {}
        self._waiting: dict[int, WaitingPoll] = {}
        self._replies: list[bytes] = []  # answers made by the reader, written together
        self._replies_size = 0
        # Events read ahead while a publish waits for room (and a protocol error met doing so).
        self._ahead: deque[Event | ProtocolError] = deque()
        self._ahead_bytes = 0
        self._reading = anyio.CancelScope()
        self._close_received = False  # the client said CLOSE: answer what it asked, then end
        self._fatal: Error | None = None  # a protocol error: answer what came before, then this
        self._gone = False  # the client's end of the stream came while a publish waited
        self._publishing: int | None = None  # the request of a publish waiting for room
        # Liveness: when the client was last heard, and whether the server is reading now (a
        # client is not judged silent while the server is not reading it).
        self._last_heard = anyio.current_time()
        self._receiving = False
        self._budget = COOPERATIVE_BUDGET

    async def _receive(self) -> bytes:
        """The next bytes from the client; ``b""`` once its stream ended or broke."""
        self._receiving = True
        try:
            data = await self._stream.receive()
        except STREAM_ENDED:
            return b""
        finally:
            self._receiving = False
        self._last_heard = anyio.current_time()
        return data

    def _send(self, event: Event) -> None:
        """Queue ``event`` for the writer task (from any task)."""
        self._writer.write(self._wire.send(event))

    def _reply(self, frame: bytes) -> None:
        """Keep ``frame``, an answer made by the reader task, for its next direct write."""
        self._replies.append(frame)
        self._replies_size += len(frame)

    async def _flush_replies(self) -> None:
        if self._replies:
            replies, self._replies, self._replies_size = b"".join(self._replies), [], 0
            await self._writer.write_directly(replies)

    def _refusal(self, request: int, code: ErrorCode, text: str) -> bytes:
        """The ERROR answering ``request``, counted as refused (and logged if the server failed)."""
        self._counts.refused += 1
        if code is ErrorCode.INTERNAL:
            _log.error("request %d failed: %s", request, text)
        return self._wire.send(Error(request, code, text))

    def _fail(self, code: ErrorCode, text: str) -> None:
        """End the connection for a fault: tell the client why, stop reading, write what is
        queued, and close (from any task)."""
        with contextlib.suppress(ConnectionLost):
            self._send(Error(0, code, text))
        self._reading.cancel()

    def _channel(self, name: str) -> Served:
        served = self._channels.get(name)
        if served is None:
            message = f"no channel named {quoted(name)}"
            raise RequestRefused(ErrorCode.UNKNOWN_CHANNEL, message)
        return served

    def _fitter(self) -> Fitter:
        return Fitter(self._cache, self._wire.peer_max_frame_size)

    def _batch_frame(self, request: int, batch: Batch[Any], fitter: Fitter) -> bytes:
        reason = release_code(batch.reason)
        flags = batch_flags(batch.closed, batch.missed_unknown)
        head = (request, batch.epoch, batch.cursor, batch.missed, flags, reason)
        return self._wire.batch(head, fitter.wire if batch.messages else [])

    def _credited(self, number: int) -> None:
        """Wake subscription ``number``'s pushes: the client granted credit."""
        subscription = self._subscriptions.get(number)
        if subscription is not None:
            subscription.credited()

    def _end_subscriptions(self) -> None:
        for subscription in self._subscriptions.values():
            subscription.scope.cancel()

    def _wind_down(self) -> None:
        """After CLOSE: answer the waiting long polls now, end the subscriptions."""
        for waiting in self._waiting.values():
            waiting.scope.cancel()
        self._end_subscriptions()

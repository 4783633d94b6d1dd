"""Serving channels over byte streams: one wire connection per stream, many at once."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from operator import itemgetter
from typing import Any

import anyio
import attrs
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskStatus
from anyio.lowlevel import checkpoint
from anyio.streams.tls import TLSListener

from .._common import publish_at_once
from .._core import (
    UNSET,
    Batch,
    Batching,
    Message,
    Overflow,
    Start,
    count_validator,
    seconds_validator,
)
from .._defaults import (
    COOPERATIVE_BUDGET,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_KEEPALIVE_MISSES,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_BUFFER_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_WAITING_POLLS,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._exceptions import ChannelClosed, ConnectionLost, ProtocolError, SlowConsumer
from .._protocols import ServedLog, ServedLongPoll, ServedSubscription
from .._serving import Served, ServedChannels, batching_with, fixed_cursor
from .._wire import (
    MIN_FRAME_SIZE,
    Cancel,
    Close,
    Codec,
    ConnectionEnded,
    Credit,
    End,
    EndReason,
    Error,
    ErrorCode,
    Event,
    Hello,
    JsonCodec,
    Keepalive,
    LongPoll,
    Poll,
    Publish,
    Published,
    ServerConnection,
    State,
    Subscribe,
    Subscribed,
    Unsubscribe,
    batch_flags,
    encode,
)
from .._wire._translate import (
    RequestRefused,
    cursor_from_wire,
    end_reason,
    epoch_from_wire,
    overflow_from_wire,
    release_code,
    setting_from_wire,
)
from ._writer import FrameWriter

__all__ = ["ServerLimits", "serve", "serve_listener", "serve_tcp", "serve_unix"]

_log = logging.getLogger("deliverymodes.server")
# Bytes of a frame's length field's count before its messages: the kind byte, the frame's own
# fields and the message count; and bytes of each message's header.
_BATCH_HEAD = 1 + 22 + 4
_PUSH_HEAD = 1 + 4 + 4
_ENTRY = 24
_DATA = itemgetter(3)
_KEEPALIVE = encode(Keepalive())
#: What receiving from a stream raises when the peer is gone.
STREAM_ENDED = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
_BATCHING_FIELDS = ("min_messages", "min_bytes", "max_wait", "max_messages", "max_bytes")


@attrs.frozen
class ServerLimits:
    """Bounds a server applies to each connection. Every one has a named default."""

    max_frame_size: int = attrs.field(
        default=DEFAULT_MAX_FRAME_SIZE, validator=count_validator(MIN_FRAME_SIZE)
    )
    max_subscriptions: int = attrs.field(
        default=DEFAULT_MAX_SUBSCRIPTIONS, validator=count_validator()
    )
    max_waiting_polls: int = attrs.field(
        default=DEFAULT_MAX_WAITING_POLLS, validator=count_validator()
    )
    max_long_poll_wait: float = attrs.field(
        default=DEFAULT_MAX_LONG_POLL_WAIT, validator=seconds_validator(optional=True)
    )
    keepalive_interval: float | None = attrs.field(
        default=DEFAULT_KEEPALIVE_INTERVAL, validator=seconds_validator(optional=True)
    )
    keepalive_misses: int = attrs.field(
        default=DEFAULT_KEEPALIVE_MISSES, validator=count_validator()
    )
    write_buffer_size: int = attrs.field(
        default=DEFAULT_WRITE_BUFFER_SIZE, validator=count_validator()
    )
    max_buffer_size: int = attrs.field(default=DEFAULT_MAX_BUFFER_SIZE, validator=count_validator())
    handshake_timeout: float = attrs.field(
        default=DEFAULT_HANDSHAKE_TIMEOUT, validator=seconds_validator()
    )


class _PayloadCache:
    """Encoded payloads of recent messages, shared by a server's connections, so that fan-out
    to many remote readers encodes each message once. With one connection it only encodes."""

    def __init__(self, codec: Codec[Any], size: int = 4096) -> None:
        self._codec = codec
        self._size = size
        self._entries: dict[int, tuple[Message[Any], bytes]] = {}
        self.connections = 0

    def wire_messages(
        self, messages: tuple[Message[Any], ...]
    ) -> list[tuple[int, float, int, bytes]]:
        """``(offset, published_at, size, encoded payload)`` for each of ``messages``."""
        if self.connections < 2:
            encode = self._codec.encode
            return [(m.offset, m.published_at, m.size, encode(m.payload)) for m in messages]
        encoded = self.encoded
        return [(m.offset, m.published_at, m.size, encoded(m)) for m in messages]

    def encoded(self, message: Message[Any]) -> bytes:
        if self.connections < 2:
            return self._codec.encode(message.payload)
        entry = self._entries.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        data = self._codec.encode(message.payload)
        if len(self._entries) >= self._size:
            self._entries.clear()  # cheaper than keeping an order; recent ones come back soon
        self._entries[id(message)] = (message, data)
        return data


class _TooLarge(RequestRefused):
    def __init__(self, offset: int, needed: int, limit: int) -> None:
        super().__init__(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"the message at offset {offset} needs a frame of {needed} bytes, over the {limit} "
            f"this connection accepts; ask from offset {offset + 1} to skip it",
        )


class _Fitter:
    """Encodes the messages of a batch and keeps as many as fit in one frame the client accepts
    (a channel calls it before it counts the batch); ``wire`` holds the encoded ones."""

    __slots__ = ("_budget", "_cache", "_limit", "wire")

    def __init__(self, cache: _PayloadCache, limit: int) -> None:
        self._cache = cache
        self._limit = limit
        self._budget = limit - _BATCH_HEAD
        self.wire: list[tuple[int, float, int, bytes]] = []

    def __call__(self, messages: tuple[Message[Any], ...]) -> int:
        try:
            wire = self._cache.wire_messages(messages)
        except Exception:
            wire = self._encode_one_by_one(messages)  # to name the message that failed
        total = _ENTRY * len(wire) + sum(map(len, map(_DATA, wire)))
        if total > self._budget:  # rare: keep the first ones that fit
            total = 0
            for count, entry in enumerate(wire):
                total += _ENTRY + len(entry[3])
                if total > self._budget:
                    if not count:
                        raise _TooLarge(entry[0], _BATCH_HEAD + total, self._limit)
                    wire = wire[:count]
                    break
        self.wire = wire
        return len(wire)

    def _encode_one_by_one(
        self, messages: tuple[Message[Any], ...]
    ) -> list[tuple[int, float, int, bytes]]:
        for message in messages:
            try:
                self._cache.encoded(message)
            except Exception as error:
                raise RequestRefused(
                    ErrorCode.INTERNAL,
                    f"the server cannot encode the message at offset {message.offset}: {error}",
                ) from None
        return self._cache.wire_messages(messages)


def _quoted(name: str) -> str:
    return repr(name if len(name) <= 100 else name[:100] + "...")


class _WaitingPoll:
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

    async def wait(self, fitter: _Fitter) -> Batch[Any] | None:
        """Its batch once released; None if ``scope`` was cancelled first."""
        with self.scope:
            return await self.channel.serve_long_poll(
                self.cursor, epoch=self.epoch, batching=self.batching, fit=fitter
            )
        return None

    async def answer_now(self, fitter: _Fitter) -> Batch[Any]:
        """The answer to give at once, with what there is (reason ``max_wait`` at least)."""
        now = batching_with(self.batching, max_wait=0)
        batch = await self.channel.serve_long_poll(
            self.cursor, epoch=self.epoch, batching=now, fit=fitter
        )
        assert batch is not None  # a zero wait always answers
        return batch

    def answer_at_once(self, fitter: _Fitter) -> Batch[Any]:
        """``answer_now`` without awaiting; ``anyio.WouldBlock`` if the channel cannot."""
        now = batching_with(self.batching, max_wait=0)
        return self.channel.serve_long_poll_nowait(
            self.cursor, epoch=self.epoch, batching=now, fit=fitter
        )


class _Connection:
    """One client connection: reads requests, answers them, pushes to its subscriptions."""

    def __init__(
        self,
        stream: ByteStream,
        channels: ServedChannels,
        codec: Codec[Any],
        limits: ServerLimits,
        cache: _PayloadCache,
    ) -> None:
        self._stream = stream
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
            keepalive_frame=_KEEPALIVE,
        )
        self._writer.keepalive_armed = False  # not before the handshake
        self._subscriptions: dict[int, _Subscription] = {}
        self._waiting: dict[int, _WaitingPoll] = {}
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

    async def run(self) -> None:
        self._cache.connections += 1
        try:
            await self._run()
        except Exception:  # a fault must end this connection alone, never the whole server
            _log.exception("a connection failed")
        finally:
            self._cache.connections -= 1

    async def _run(self) -> None:
        going_away = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_then_stop, tg.cancel_scope)
                tg.start_soon(self._expect_hello)
                if self._limits.keepalive_interval is not None:
                    tg.start_soon(self._watch_liveness, tg.cancel_scope)
                async with anyio.create_task_group() as work:  # long polls, subscriptions
                    with self._reading, contextlib.suppress(ConnectionLost):
                        await self._read(work)
                    if self._close_received or self._fatal is not None:
                        self._wind_down()  # what came before is answered
                    else:
                        work.cancel_scope.cancel()  # the client is gone
                if self._fatal is not None:
                    with contextlib.suppress(ConnectionLost):
                        self._send(self._fatal)
                self._writer.finish()
        except anyio.get_cancelled_exc_class():
            going_away = True  # the server is being stopped
            raise
        finally:
            with anyio.CancelScope(shield=True):
                farewell = self._farewell() if going_away else b""
                for subscription in list(self._subscriptions.values()):
                    await subscription.subscriber.aclose()
                self._subscriptions.clear()
                if farewell and not self._writer.interrupted:
                    # Bounded: a client that stopped reading cannot be told.
                    with anyio.move_on_after(1), contextlib.suppress(Exception):
                        await self._stream.send(farewell)
                await self._stream.aclose()

    def _farewell(self) -> bytes:
        """What a server being stopped says last: every request still waiting answered (long
        polls at once, a publish waiting for room withdrawn), every subscription ended, then
        CLOSE, so that the client knows all and connects again rather than fails."""
        frames: list[bytes] = []
        if self._publishing is not None:
            withdrawn = Error(self._publishing, ErrorCode.CANCELLED, "the server is going away")
            frames.append(self._wire.send(withdrawn))
        for request, waiting in list(self._waiting.items()):
            fitter = self._fitter()
            try:
                frames.append(self._batch_frame(request, waiting.answer_at_once(fitter), fitter))
            except RequestRefused as error:
                frames.append(self._wire.send(Error(request, error.code, str(error))))
            except anyio.WouldBlock:  # the channel cannot answer without awaiting
                frames.append(self._wire.send(Error(request, ErrorCode.CANCELLED, "going away")))
        self._waiting.clear()
        ended = [End(number, EndReason.UNSUBSCRIBED) for number in self._subscriptions]
        frames += [self._wire.send(end) for end in ended]
        frames.append(self._wire.send(Close()))
        return b"".join(frames)

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

    async def _watch_liveness(self, scope: anyio.CancelScope) -> None:
        """End the connection when the client has been silent for ``keepalive_misses``
        keepalive intervals while the server was reading (a cable pulled, a host gone)."""
        interval = self._limits.keepalive_interval
        assert interval is not None
        limit = interval * self._limits.keepalive_misses
        while True:
            await anyio.sleep_until(self._last_heard + limit)
            if not self._receiving or self._wire.state is State.HANDSHAKE:
                # Busy, or not reading: no judgement (before HELLO, the handshake timeout is).
                self._last_heard = anyio.current_time()
                continue
            if anyio.current_time() >= self._last_heard + limit:
                _log.info("a client was silent for %g s: taken for gone", limit)
                scope.cancel()
                return

    async def _expect_hello(self) -> None:
        await anyio.sleep(self._limits.handshake_timeout)
        if self._wire.state is State.HANDSHAKE:
            timeout = self._limits.handshake_timeout
            self._fail(ErrorCode.PROTOCOL_VIOLATION, f"no HELLO within {timeout:g} s")

    async def _write_then_stop(self, scope: anyio.CancelScope) -> None:
        try:
            await self._writer.run()
        except ConnectionLost:
            pass
        finally:
            scope.cancel()  # the writer is done or the stream broke: stop everything

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

    def _fail(self, code: ErrorCode, text: str) -> None:
        """End the connection for a fault: tell the client why, stop reading, write what is
        queued, and close (from any task)."""
        with contextlib.suppress(ConnectionLost):
            self._send(Error(0, code, text))
        self._reading.cancel()

    # -- reading ---------------------------------------------------------------------------------

    def _next_event(self) -> Event:
        """The next event read ahead (or the protocol error met there, raised in its turn)."""
        event = self._ahead.popleft()
        if not self._ahead:
            self._ahead_bytes = 0
        if isinstance(event, ProtocolError):
            raise event
        return event

    async def _read(self, work: anyio.abc.TaskGroup) -> None:
        connection, writer, limit = self._wire, self._writer, self._limits.write_buffer_size
        while True:
            try:
                event = self._next_event() if self._ahead else connection.next_event()
                if event is None:
                    await self._flush_replies()  # the answers to one read, in one write
                    connection.receive_data(await self._receive())
                    continue
                if isinstance(event, ConnectionEnded):
                    return
                if isinstance(event, Close):
                    await self._flush_replies()
                    self._close_received = True
                    return
                if isinstance(event, Error):  # the client failed and is closing
                    _log.info("a client reported %s: %s", event.code.name, event.message)
                    return
                if writer.full or self._replies_size >= limit:
                    await self._flush_replies()
                    await writer.wait_for_room()  # a client that does not read is not read
                await self._handle(event, work)
            except ProtocolError as error:
                await self._flush_replies()
                self._fatal = Error(0, error.code, str(error))
                return
            if self._gone:
                return
            self._budget -= 1
            if not self._budget:
                self._budget = COOPERATIVE_BUDGET
                await checkpoint()

    async def _read_ahead(self, request: int) -> None:
        """Go on reading while a publish waits, so that the client's end of stream and a CANCEL
        of ``request`` are seen. Returns when either comes; events read meanwhile are kept in
        order for later. Stops reading after ``max_frame_size`` bytes, or at CLOSE."""
        connection = self._wire
        while True:
            try:
                while (event := connection.next_event()) is not None:
                    if isinstance(event, ConnectionEnded):
                        self._gone = True
                        return
                    if isinstance(event, Cancel) and event.request == request:
                        return
                    self._ahead.append(event)
                    if isinstance(event, Close):
                        # The client is done: its subscriptions end now, so that they cannot
                        # hold its own publish back; the publish is still answered.
                        self._end_subscriptions()
                        await anyio.sleep_forever()
            except ProtocolError as error:
                self._ahead.append(error)
                await anyio.sleep_forever()
            if self._ahead_bytes >= self._limits.max_frame_size:
                await anyio.sleep_forever()  # enough read ahead: wait for the publish
            data = await self._receive()
            self._ahead_bytes += len(data)
            connection.receive_data(data)

    async def _handle(self, event: Event, work: anyio.abc.TaskGroup) -> None:
        request = getattr(event, "request", 0)
        try:
            if isinstance(event, Hello):
                self._reply(self._wire.welcome())
                self._writer.keepalive_armed = True
            elif isinstance(event, Publish):
                await self._publish(event)
            elif isinstance(event, Poll):
                await self._poll(event)
            elif isinstance(event, LongPoll):
                self._start_long_poll(event, work)
            elif isinstance(event, Subscribe):
                self._subscribe(event, work)
            elif isinstance(event, Credit):
                self._credit(event)
            elif isinstance(event, Unsubscribe):
                self._unsubscribe(event.subscription)
            elif isinstance(event, Cancel):
                self._cancel(event.request)
            # KEEPALIVE needs no answer.
        except RequestRefused as error:
            self._reply(self._wire.send(Error(request, error.code, str(error))))
        except (ProtocolError, ConnectionLost):
            raise
        except Exception as error:  # a payload the codec cannot encode, a channel that failed
            _log.exception("a request failed")
            raise ProtocolError(ErrorCode.INTERNAL, f"the server failed: {error!r}") from None

    def _channel(self, name: str) -> Served:
        served = self._channels.get(name)
        if served is None:
            message = f"no channel named {_quoted(name)}"
            raise RequestRefused(ErrorCode.UNKNOWN_CHANNEL, message)
        return served

    def _fitter(self) -> _Fitter:
        return _Fitter(self._cache, self._wire.peer_max_frame_size)

    # -- publishing ------------------------------------------------------------------------------

    async def _publish(self, event: Publish) -> None:
        channel = self._channel(event.channel).channel
        publish = getattr(channel, "publish", None)
        if publish is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{_quoted(event.channel)} takes no publishes"
            )
        self._wire.check(event)
        try:
            payload = self._codec.decode(event.data)
        except Exception as error:  # codecs refuse with ValueError; any failure is a refusal
            raise RequestRefused(ErrorCode.BAD_PAYLOAD, f"cannot decode payload: {error}") from None
        try:
            message = publish_at_once(channel, payload)
            if message is None:
                message = await self._publish_waiting(publish, payload, event.request)
                if message is None:
                    if not self._gone:  # withdrawn by CANCEL (else nobody is left to tell)
                        raise RequestRefused(ErrorCode.CANCELLED, "the publish was withdrawn")
                    return
        except ChannelClosed:
            raise RequestRefused(ErrorCode.CHANNEL_CLOSED, "the channel is closed") from None
        except (TypeError, ValueError) as error:
            raise RequestRefused(ErrorCode.BAD_PAYLOAD, str(error)) from None
        published = Published(event.request, message.offset, message.size, message.published_at)
        self._reply(self._wire.send(published))

    async def _publish_waiting(
        self, publish: Callable[[Any], Awaitable[Message[Any]]], payload: Any, request: int
    ) -> Message[Any] | None:
        """Publish, waiting for room, while reading on: the client's leaving or a CANCEL of
        ``request`` withdraws the publish (it then reaches no one and takes no offset)."""
        for event in self._ahead:
            if isinstance(event, Cancel) and event.request == request:
                self._ahead.remove(event)  # cancelled before it started: never publish it
                return None
        await self._flush_replies()  # earlier answers go out before the wait
        published: list[Message[Any]] = []
        failed: list[Exception] = []
        self._publishing = request  # still set if the server is stopped meanwhile
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                try:
                    published.append(await publish(payload))
                except Exception as error:
                    failed.append(error)
                tg.cancel_scope.cancel()

            tg.start_soon(run)
            await self._read_ahead(request)
            tg.cancel_scope.cancel()
        self._publishing = None
        if failed:
            raise failed[0]
        return published[0] if published else None

    # -- polls -----------------------------------------------------------------------------------

    def _log_channel(self, name: str) -> ServedLog[Any]:
        log = self._channel(name).log
        if log is None:
            raise RequestRefused(ErrorCode.UNSUPPORTED, f"{_quoted(name)} keeps no history to poll")
        return log

    async def _poll(self, event: Poll) -> None:
        channel = self._log_channel(event.channel)
        fitter = self._fitter()
        try:
            batch = await channel.serve_poll(
                cursor_from_wire(event.cursor),
                epoch=epoch_from_wire(event.epoch),
                max_messages=setting_from_wire(
                    "max_messages", event.max_messages, DEFAULT_MAX_BATCH_MESSAGES
                ),
                max_bytes=setting_from_wire("max_bytes", event.max_bytes, DEFAULT_MAX_BATCH_BYTES),
                fit=fitter,
            )
        except (TypeError, ValueError) as error:
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, str(error)) from None
        self._reply(self._batch_frame(event.request, batch, fitter))

    def _batch_frame(self, request: int, batch: Batch[Any], fitter: _Fitter) -> bytes:
        reason = release_code(batch.reason)
        flags = batch_flags(batch.closed, batch.missed_unknown)
        head = (request, batch.epoch, batch.cursor, batch.missed, flags, reason)
        return self._wire.batch(head, fitter.wire if batch.messages else [])

    def _start_long_poll(self, event: LongPoll, work: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel).long_poll
        if channel is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{_quoted(event.channel)} is not a long-poll channel"
            )
        limit = self._limits.max_long_poll_wait
        asked = setting_from_wire("max_wait_ms", event.max_wait_ms, UNSET, minimum=0)
        wait = channel.batching.max_wait if asked is UNSET else asked and asked / 1000
        settings = (
            setting_from_wire("min_messages", event.min_messages, UNSET, no_limit=False),
            setting_from_wire("min_bytes", event.min_bytes, UNSET, minimum=0),
            limit if wait is None else min(wait, limit),
            setting_from_wire("max_messages", event.max_messages, UNSET),
            setting_from_wire("max_bytes", event.max_bytes, UNSET),
        )
        fitter = self._fitter()
        epoch = epoch_from_wire(event.epoch)
        try:  # check everything now, so that a bad request is answered at once
            batching = batching_with(
                channel.batching, **dict(zip(_BATCHING_FIELDS, settings, strict=True))
            )
            cursor = fixed_cursor(channel, cursor_from_wire(event.cursor))
            ready = channel.serve_long_poll_nowait(
                cursor, epoch=epoch, batching=batching, fit=fitter
            )
        except anyio.WouldBlock:
            ready = None
        except (TypeError, ValueError) as error:
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, str(error)) from None
        if ready is not None:  # no need for a task: answer at once
            self._reply(self._batch_frame(event.request, ready, fitter))
            return
        self._wire.hold(event.request)
        waiting = self._waiting[event.request] = _WaitingPoll(channel, cursor, epoch, batching)
        work.start_soon(self._long_poll, event.request, waiting)

    async def _long_poll(self, request: int, waiting: _WaitingPoll) -> None:
        fitter = self._fitter()
        try:
            batch = await waiting.wait(fitter)
            if self._waiting.get(request) is not waiting:
                # Cancelled: CANCEL answered for it. (On trio a poll released just before the
                # CANCEL may still have its batch here; the client gave up on it: dropped.)
                return
            if batch is None:  # to be answered now (CLOSE, or a fault after it)
                batch = await waiting.answer_now(fitter)
            frame = self._batch_frame(request, batch, fitter)
        except RequestRefused as error:  # too large for the client, or not encodable
            frame = self._wire.send(Error(request, error.code, str(error)))
        except Exception as error:
            _log.exception("a long poll failed")
            self._fail(ErrorCode.INTERNAL, f"the server failed: {error!r}")
            return
        # (Cancelled from outside, the server is stopping: the poll stays among the waiting
        # ones, for the farewell to answer.)
        if self._waiting.get(request) is waiting:
            del self._waiting[request]
        with contextlib.suppress(ConnectionLost):
            self._writer.write(frame)

    def _cancel(self, request: int) -> None:
        waiting = self._waiting.pop(request, None)
        if waiting is not None:  # else answered already (or unknown): nothing to do
            waiting.scope.cancel()
            self._reply(self._wire.send(Error(request, ErrorCode.CANCELLED, "withdrawn")))

    def _wind_down(self) -> None:
        """After CLOSE: answer the waiting long polls now, end the subscriptions."""
        for waiting in self._waiting.values():
            waiting.scope.cancel()
        self._end_subscriptions()

    # -- push subscriptions ----------------------------------------------------------------------

    def _subscribe(self, event: Subscribe, work: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel).push
        self._wire.check(event)
        if channel is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{_quoted(event.channel)} is not a push channel"
            )
        overflow = overflow_from_wire(event.overflow)
        largest = max(self._limits.max_buffer_size, channel.buffer_size)
        if event.buffer_size > largest:
            message = f"buffer_size may be at most {largest} here, got {event.buffer_size}"
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
        blocks = overflow is Overflow.BLOCK
        if blocks and channel.overflow is not Overflow.BLOCK:
            raise RequestRefused(
                ErrorCode.BAD_ARGUMENT,
                "overflow BLOCK holds back the publisher: only a channel that blocks takes it",
            )
        head = channel.head  # the first offset the subscription can receive
        subscriber = channel.subscribe(buffer_size=event.buffer_size or None, overflow=overflow)
        subscription = _Subscription(event.subscription, subscriber)
        self._subscriptions[event.subscription] = subscription
        subscribed = Subscribed(event.request, event.subscription, channel.epoch, head)
        self._reply(self._wire.send(subscribed))
        work.start_soon(self._forward, subscription)

    def _credit(self, event: Credit) -> None:
        subscription = self._subscriptions.get(event.subscription)
        if subscription is not None:
            subscription.credited()

    def _unsubscribe(self, number: int) -> None:
        subscription = self._subscriptions.get(number)
        if subscription is not None:  # else it ended already: its END crossed this request
            subscription.scope.cancel()

    def _end_subscriptions(self) -> None:
        for subscription in self._subscriptions.values():
            subscription.scope.cancel()

    async def _forward(self, subscription: _Subscription) -> None:
        """Push the subscription's messages, coalesced, within the credit the client gave.

        Messages taken from the subscriber are always written: when the subscription ends
        (channel closed, cut off) in the middle of a batch, the batch still goes, then END.
        """
        subscriber = subscription.subscriber
        reason: EndReason | None = EndReason.UNSUBSCRIBED
        try:
            with subscription.scope:
                try:
                    while True:
                        while not self._wire.credit(subscription.number):
                            await subscription.wait_for_credit()
                        await self._writer.wait_for_room()
                        ended = self._push(subscription, await subscriber.receive())
                        if ended is not None:
                            reason = ended
                            break
                except (ChannelClosed, SlowConsumer) as error:
                    reason = end_reason(error)
                except ConnectionLost:
                    pass
        except Exception as error:  # a payload the codec cannot encode
            _log.exception("a push subscription failed")
            self._fail(ErrorCode.INTERNAL, f"the server failed: {error!r}")
            reason = None
        del self._subscriptions[subscription.number]
        await subscriber.aclose()
        if reason is not None:
            with contextlib.suppress(ConnectionLost):  # the connection may be going away
                self._send(End(subscription.number, reason))

    def _push(self, subscription: _Subscription, first: Message[Any]) -> EndReason | None:
        """Write ``first`` and what else is buffered, within the credit, in frames that fit the
        client; returns why the subscription ends, if it does."""
        subscriber = subscription.subscriber
        encoded = self._cache.encoded
        budget = self._wire.peer_max_frame_size - _PUSH_HEAD
        frames: list[bytes] = []
        batch: list[tuple[int, float, int, bytes]] = []
        total = sent = 0
        credit = self._wire.credit(subscription.number)
        ended: EndReason | None = None
        message = first
        while True:
            data = encoded(message)
            cost = _ENTRY + len(data)
            if cost > budget:  # it can never be sent to this client
                subscriber.refuse_last()
                ended = EndReason.MESSAGE_TOO_LARGE
                break
            if total + cost > budget:
                frames.append(self._wire.push(subscription.number, batch))
                batch, total = [], 0
            batch.append((message.offset, message.published_at, message.size, data))
            total += cost
            sent += 1
            if sent >= credit:
                break
            try:
                message = subscriber.receive_nowait()
            except anyio.WouldBlock:
                break
            except (ChannelClosed, SlowConsumer) as error:
                ended = end_reason(error)
                break
        if batch:
            frames.append(self._wire.push(subscription.number, batch))
        if frames:
            self._writer.write(b"".join(frames))
        return ended


class _Subscription:
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


def check_codec(codec: object) -> Codec[Any]:
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must have encode() and decode(), not {type(codec).__name__}")
    return codec


async def serve(
    stream: ByteStream,
    channels: Mapping[str, object],
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``channels`` (name → channel) to the client at the other end of ``stream``.

    Returns when the client closes the connection or breaks the protocol (it is told why in an
    ERROR frame first); closes ``stream`` and every subscription it made. Any anyio byte stream
    works: TCP, Unix sockets, TLS, pipes, or one of your own.
    """
    chosen = check_codec(codec or JsonCodec())
    connection = _Connection(
        stream, ServedChannels(channels), chosen, limits or ServerLimits(), _PayloadCache(chosen)
    )
    await connection.run()


async def serve_listener(
    listener: Listener[ByteStream],
    channels: Mapping[str, object],
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``channels`` to every client that connects to ``listener``, until cancelled.

    Each connection is served in its own task; one that fails or misbehaves ends alone.
    """
    async with listener:  # closed also when the arguments are refused
        chosen = check_codec(codec or JsonCodec())
        checked = ServedChannels(channels)
        chosen_limits = limits or ServerLimits()
        cache = _PayloadCache(chosen)

        async def handle(stream: ByteStream) -> None:
            await _Connection(stream, checked, chosen, chosen_limits, cache).run()

        await listener.serve(handle)


async def serve_tcp(
    channels: Mapping[str, object],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``channels`` on a TCP port (TLS with ``ssl_context``) until cancelled.

    With ``port=0`` the system picks a free port; ``await task_group.start(serve_tcp, …)`` returns
    the port bound.
    """
    ServedChannels(channels)  # refused before a port is bound
    listener: Listener[Any] = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(SocketAttribute.local_port)
    if ssl_context is not None:
        listener = TLSListener(listener, ssl_context, standard_compatible=False)
    task_status.started(bound)
    await serve_listener(listener, channels, codec=codec, limits=limits)


async def serve_unix(
    channels: Mapping[str, object],
    path: str,
    *,
    codec: Codec[Any] | None = None,
    limits: ServerLimits | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``channels`` on a Unix socket at ``path`` until cancelled."""
    ServedChannels(channels)  # refused before the socket is made
    listener = await anyio.create_unix_listener(path)
    task_status.started()
    await serve_listener(listener, channels, codec=codec, limits=limits)

"""Serving channels over byte streams: one wire connection per stream, many at once."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping
from typing import Any

import anyio
import attrs
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskStatus
from anyio.streams.tls import TLSListener

from .._core import (
    EARLIEST,
    LATEST,
    Message,
    Overflow,
    Start,
    count_validator,
    seconds_validator,
)
from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_WAITING_POLLS,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._exceptions import ChannelClosed, ConnectionLost, ProtocolError, SlowConsumer
from .._longpoll import UNSET, LongPollChannel
from .._poll import LogChannel
from .._push import PushChannel, PushSubscriber
from .._wire import (
    DEFAULT,
    EARLIEST_CURSOR,
    LATEST_CURSOR,
    NO_LIMIT,
    Close,
    Codec,
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
    ServerProtocol,
    Subscribe,
    Subscribed,
    Unsubscribe,
    encode,
    encode_batch,
    encode_push,
)
from ._writer import FrameWriter

__all__ = ["ServerLimits", "serve", "serve_listener", "serve_tcp", "serve_unix"]

_OVERFLOWS = {
    1: Overflow.BLOCK,
    2: Overflow.DROP_OLDEST,
    3: Overflow.DROP_NEWEST,
    4: Overflow.DISCONNECT,
}
_RELEASES = {None: 0, "min_messages": 1, "min_bytes": 2, "max_wait": 3, "closed": 4}
# Room left in a frame for everything but payloads: a message's payload may be at most
# ``max_frame_size - FRAME_OVERHEAD`` bytes, so that it fits a PUSH or BATCH frame alone.
FRAME_OVERHEAD = 64
_KEEPALIVE = encode(Keepalive())
_BATCHING_FIELDS = ("min_messages", "min_bytes", "max_wait", "max_messages", "max_bytes")


@attrs.frozen
class ServerLimits:
    """Bounds a server applies to each connection. Every one has a named default."""

    max_frame_size: int = attrs.field(default=DEFAULT_MAX_FRAME_SIZE, validator=count_validator())
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
    write_buffer_size: int = attrs.field(
        default=DEFAULT_WRITE_BUFFER_SIZE, validator=count_validator()
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


class _RequestError(Exception):
    """A request that gets an ERROR frame; the connection goes on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _cursor(value: int) -> int | Start:
    if value == EARLIEST_CURSOR:
        return EARLIEST
    if value == LATEST_CURSOR:
        return LATEST
    if value < 0:
        raise _RequestError(ErrorCode.BAD_ARGUMENT, f"cursor must be >= 0, -1 or -2, got {value}")
    return value


def _setting(name: str, value: int, default: object) -> Any:
    if value == DEFAULT:
        return default
    if value == NO_LIMIT:
        return None
    if value < 0:
        raise _RequestError(ErrorCode.BAD_ARGUMENT, f"{name} must be >= 0, -1 or -2, got {value}")
    return value


class _Connection:
    """One client connection: reads requests, answers them, pushes to its subscriptions."""

    def __init__(
        self,
        stream: ByteStream,
        channels: Mapping[str, object],
        codec: Codec[Any],
        limits: ServerLimits,
        cache: _PayloadCache,
    ) -> None:
        self._stream = stream
        self._channels = channels
        self._codec = codec
        self._limits = limits
        self._cache = cache
        self._protocol = ServerProtocol(limits.max_frame_size)
        self._writer = FrameWriter(
            stream,
            high_water=limits.write_buffer_size,
            keepalive=limits.keepalive_interval,
            keepalive_frame=_KEEPALIVE,
        )
        self._subscriptions: dict[int, _Subscription] = {}
        self._waiting_polls = 0
        self._replies: list[bytes] = []  # answers made while handling one read

    async def run(self) -> None:
        self._cache.connections += 1
        try:
            await self._run()
        finally:
            self._cache.connections -= 1

    async def _run(self) -> None:
        # ConnectionLost is caught in every task that writes: a broken stream ends the connection
        # quietly (the writer's task cancels the rest), never as an error out of the task group.
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_then_stop, tg.cancel_scope)
                with contextlib.suppress(ConnectionLost):
                    await self._read(tg)
                self._writer.finish()
        finally:
            with anyio.CancelScope(shield=True):
                for subscription in list(self._subscriptions.values()):
                    await subscription.subscriber.aclose()
                self._subscriptions.clear()
                await self._stream.aclose()

    async def _write_then_stop(self, scope: anyio.CancelScope) -> None:
        try:
            await self._writer.run()
        except ConnectionLost:
            pass
        finally:
            scope.cancel()  # the writer is done or the stream broke: stop everything

    def _send(self, event: Event) -> None:
        """Queue ``event`` for the writer task (from any task)."""
        self._writer.write(self._protocol.send(event))

    def _reply(self, frame: bytes) -> None:
        """Keep ``frame``, an answer made by the reader task, for its next direct write."""
        self._replies.append(frame)

    async def _flush_replies(self) -> None:
        if self._replies:
            replies, self._replies = b"".join(self._replies), []
            await self._writer.write_directly(replies)

    async def _read(self, tg: anyio.abc.TaskGroup) -> None:
        protocol = self._protocol
        while True:
            try:
                data = await self._stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return
            except OSError:
                return
            protocol.receive_data(data)
            while True:
                try:
                    event = protocol.next_event()
                except ProtocolError as error:
                    await self._flush_replies()
                    self._send(Error(0, error.code, str(error)))
                    return
                if event is None:
                    break
                if isinstance(event, Close):
                    return
                if isinstance(event, Publish) or self._writer.queued:
                    await self._flush_replies()  # before anything that may wait
                    await (
                        self._writer.wait_for_room()
                    )  # a client that does not read stops being read
                await self._handle(event, tg)
            await self._flush_replies()  # the answers to this read, in one write

    async def _handle(self, event: Event, tg: anyio.abc.TaskGroup) -> None:
        request = getattr(event, "request", 0)
        try:
            if isinstance(event, Hello):
                self._reply(self._protocol.welcome())
            elif isinstance(event, Publish):
                await self._publish(event)
            elif isinstance(event, Poll):
                await self._poll(event)
            elif isinstance(event, LongPoll):
                self._start_long_poll(event, tg)
            elif isinstance(event, Subscribe):
                self._subscribe(event, tg)
            elif isinstance(event, Credit):
                self._credit(event)
            elif isinstance(event, Unsubscribe):
                self._unsubscribe(event.subscription)
            # KEEPALIVE needs no answer.
        except _RequestError as error:
            self._reply(self._protocol.send(Error(request, error.code, str(error))))

    def _channel(self, name: str) -> object:
        try:
            return self._channels[name]
        except KeyError:
            raise _RequestError(ErrorCode.UNKNOWN_CHANNEL, f"no channel named {name!r}") from None

    async def _publish(self, event: Publish) -> None:
        channel = self._channel(event.channel)
        publish = getattr(channel, "publish", None)
        if publish is None:
            raise _RequestError(ErrorCode.UNSUPPORTED, f"{event.channel!r} takes no publishes")
        limit = self._limits.max_frame_size - FRAME_OVERHEAD
        if len(event.data) > limit:
            raise _RequestError(
                ErrorCode.BAD_ARGUMENT, f"payload of {len(event.data)} bytes exceeds {limit}"
            )
        try:
            payload = self._codec.decode(event.data)
        except ValueError as error:
            raise _RequestError(ErrorCode.BAD_PAYLOAD, f"cannot decode payload: {error}") from None
        try:
            message = await publish(payload)
        except ChannelClosed:
            raise _RequestError(ErrorCode.CHANNEL_CLOSED, "the channel is closed") from None
        except (TypeError, ValueError) as error:
            raise _RequestError(ErrorCode.BAD_PAYLOAD, str(error)) from None
        published = Published(event.request, message.offset, message.size, message.published_at)
        self._reply(self._protocol.send(published))

    def _log_channel(self, name: str) -> LogChannel[Any]:
        channel = self._channel(name)
        if not isinstance(channel, LogChannel):
            raise _RequestError(ErrorCode.UNSUPPORTED, f"{name!r} keeps no history to poll")
        return channel

    async def _poll(self, event: Poll) -> None:
        channel = self._log_channel(event.channel)
        try:
            batch = await channel._poll_at_once(
                _cursor(event.cursor),
                _setting("max_messages", event.max_messages, DEFAULT_MAX_BATCH_MESSAGES),
                _setting("max_bytes", event.max_bytes, DEFAULT_MAX_BATCH_BYTES),
            )
        except (TypeError, ValueError) as error:
            raise _RequestError(ErrorCode.BAD_ARGUMENT, str(error)) from None
        self._send_batch(event.request, batch)

    def _send_batch(self, request: int, batch: Any, *, reply: bool = True) -> None:
        messages = self._cache.wire_messages(batch.messages)
        reason = _RELEASES[None if batch.reason is None else batch.reason.value]
        frame = encode_batch((request, batch.cursor, batch.missed, batch.closed, reason), messages)
        if reply:
            self._reply(frame)
        else:
            self._writer.write(frame)

    def _start_long_poll(self, event: LongPoll, tg: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel)
        if not isinstance(channel, LongPollChannel):
            raise _RequestError(
                ErrorCode.UNSUPPORTED, f"{event.channel!r} is not a long-poll channel"
            )
        limit = self._limits.max_long_poll_wait
        asked = _setting("max_wait_ms", event.max_wait_ms, UNSET)
        wait = channel.batching.max_wait if asked is UNSET else asked and asked / 1000
        settings = (
            _setting("min_messages", event.min_messages, UNSET),
            _setting("min_bytes", event.min_bytes, UNSET),
            limit if wait is None else min(wait, limit),
            _setting("max_messages", event.max_messages, UNSET),
            _setting("max_bytes", event.max_bytes, UNSET),
        )
        try:  # check everything now, so that a bad request is answered at once
            batching = channel._batching(**dict(zip(_BATCHING_FIELDS, settings, strict=True)))
            cursor = channel._resolve(_cursor(event.cursor))
            ready = channel._poll_if_ready(cursor, batching)
        except (TypeError, ValueError) as error:
            raise _RequestError(ErrorCode.BAD_ARGUMENT, str(error)) from None
        if ready is not None:  # no need for a task: answer at once
            self._send_batch(event.request, ready)
            return
        if self._waiting_polls >= self._limits.max_waiting_polls:
            raise _RequestError(
                ErrorCode.TOO_MANY_REQUESTS,
                f"{self._waiting_polls} long polls are already waiting on this connection",
            )
        self._waiting_polls += 1
        tg.start_soon(self._long_poll, channel, event.request, cursor, batching)

    async def _long_poll(
        self, channel: LongPollChannel[Any], request: int, cursor: int | Start, batching: Any
    ) -> None:
        try:
            batch = await channel._long_poll(cursor, batching)
        finally:
            self._waiting_polls -= 1
        with contextlib.suppress(ConnectionLost):
            self._send_batch(request, batch, reply=False)

    def _subscribe(self, event: Subscribe, tg: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel)
        if event.subscription in self._subscriptions:
            raise _RequestError(
                ErrorCode.BAD_ARGUMENT, f"subscription {event.subscription} is already open"
            )
        if len(self._subscriptions) >= self._limits.max_subscriptions:
            raise _RequestError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"this connection already has {len(self._subscriptions)} subscriptions",
            )
        if event.window < 1:
            raise _RequestError(ErrorCode.BAD_ARGUMENT, "window must be >= 1")
        if not isinstance(channel, PushChannel):
            raise _RequestError(ErrorCode.UNSUPPORTED, f"{event.channel!r} is not a push channel")
        if event.overflow and event.overflow not in _OVERFLOWS:
            raise _RequestError(ErrorCode.BAD_ARGUMENT, f"unknown overflow {event.overflow}")
        subscriber = channel.subscribe(
            buffer_size=event.buffer_size or None, overflow=_OVERFLOWS.get(event.overflow)
        )
        subscription = _Subscription(event.subscription, subscriber, event.window)
        self._subscriptions[event.subscription] = subscription
        self._reply(self._protocol.send(Subscribed(event.request, event.subscription)))
        tg.start_soon(self._forward, subscription)

    def _credit(self, event: Credit) -> None:
        subscription = self._subscriptions.get(event.subscription)
        if subscription is not None:  # credit for a subscription just ended is harmless
            subscription.grant(event.messages)

    def _unsubscribe(self, number: int) -> None:
        subscription = self._subscriptions.get(number)
        if subscription is not None:  # else it ended already: its END crossed this request
            subscription.scope.cancel()

    async def _forward(self, subscription: _Subscription) -> None:
        """Push the subscription's messages, coalesced, within the credit the client gave."""
        subscriber = subscription.subscriber
        limit = self._protocol.peer_max_frame_size - FRAME_OVERHEAD
        encoded = self._cache.encoded
        reason = EndReason.UNSUBSCRIBED
        with subscription.scope:
            try:
                while True:
                    await subscription.wait_for_credit()
                    first = await subscriber.receive()
                    data = encoded(first)
                    batch = [(first.offset, first.published_at, first.size, data)]
                    total = len(data)
                    credit = subscription.credit
                    while len(batch) < credit and total < limit:
                        try:
                            message = subscriber.receive_nowait()
                        except anyio.WouldBlock:
                            break
                        data = encoded(message)
                        batch.append((message.offset, message.published_at, message.size, data))
                        total += len(data)
                    subscription.credit -= len(batch)
                    await self._writer.write_when_room(encode_push(subscription.number, batch))
            except ChannelClosed:
                reason = EndReason.CHANNEL_CLOSED
            except SlowConsumer:
                reason = EndReason.SLOW_CONSUMER
            except ConnectionLost:
                pass
        del self._subscriptions[subscription.number]
        await subscriber.aclose()
        with contextlib.suppress(ConnectionLost):  # the connection may be going away
            self._send(End(subscription.number, reason))


class _Subscription:
    __slots__ = ("_credited", "credit", "number", "scope", "subscriber")

    def __init__(self, number: int, subscriber: PushSubscriber[Any], window: int) -> None:
        self.number = number
        self.subscriber = subscriber
        self.credit = window
        self.scope = anyio.CancelScope()
        self._credited: anyio.Event | None = None

    def grant(self, messages: int) -> None:
        self.credit += messages
        if self._credited is not None:
            self._credited.set()
            self._credited = None

    async def wait_for_credit(self) -> None:
        while self.credit <= 0:
            if self._credited is None:
                self._credited = anyio.Event()
            await self._credited.wait()


def check_codec(codec: object) -> Codec[Any]:
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must have encode() and decode(), not {type(codec).__name__}")
    return codec


def _check_channels(channels: object) -> Mapping[str, object]:
    if not isinstance(channels, Mapping) or not all(isinstance(k, str) for k in channels):
        raise TypeError("channels must be a mapping of names (str) to channels")
    return channels


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
        stream, _check_channels(channels), chosen, limits or ServerLimits(), _PayloadCache(chosen)
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
    chosen = check_codec(codec or JsonCodec())
    checked = _check_channels(channels)
    chosen_limits = limits or ServerLimits()
    cache = _PayloadCache(chosen)

    async def handle(stream: ByteStream) -> None:
        await _Connection(stream, checked, chosen, chosen_limits, cache).run()

    async with listener:
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
    listener = await anyio.create_unix_listener(path)
    task_status.started()
    await serve_listener(listener, channels, codec=codec, limits=limits)

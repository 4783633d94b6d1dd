"""The client side: a connection to a server, and remote channels that satisfy the protocols."""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import ByteStream
from anyio.lowlevel import checkpoint
from typing_extensions import Self

from .._common import AsyncCloseable, SubscriberIteration
from .._core import (
    EARLIEST,
    LATEST,
    Batch,
    ChannelStatistics,
    Message,
    Overflow,
    Release,
    Start,
    SubscriberStatistics,
    check_count,
    check_epoch,
    check_optional_count,
    check_optional_seconds,
    check_seconds,
    make_message,
)
from .._defaults import (
    COOPERATIVE_BUDGET,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._exceptions import (
    ChannelClosed,
    ConnectionLost,
    DeliveryError,
    ProtocolError,
    RemoteError,
    SlowConsumer,
)
from .._longpoll import UNSET, Unset
from .._poll import CursorSubscriber
from .._wire import (
    DEFAULT,
    EARLIEST_CURSOR,
    LATEST_CURSOR,
    NO_LIMIT,
    Cancel,
    ClientProtocol,
    Close,
    Codec,
    Credit,
    End,
    EndReason,
    Error,
    ErrorCode,
    Event,
    JsonCodec,
    Keepalive,
    LongPoll,
    Poll,
    Publish,
    Published,
    Push,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Welcome,
    WireMessage,
    encode,
)
from .._wire import Batch as WireBatch
from ._server import check_codec
from ._writer import FrameWriter

__all__ = [
    "Remote",
    "RemoteLongPollChannel",
    "RemoteLongPollSubscriber",
    "RemotePollChannel",
    "RemotePollSubscriber",
    "RemotePushChannel",
    "RemotePushSubscriber",
    "connect",
    "connect_tcp",
    "connect_unix",
]

T = TypeVar("T")

_KEEPALIVE = encode(Keepalive())
#: Seconds ``Remote.aclose`` waits for the server to finish after CLOSE before cutting the stream.
_GOODBYE_TIMEOUT = 5.0
_OVERFLOW_CODES = {
    Overflow.BLOCK: 1,
    Overflow.DROP_OLDEST: 2,
    Overflow.DROP_NEWEST: 3,
    Overflow.DISCONNECT: 4,
}
_RELEASES = {1: Release.MIN_MESSAGES, 2: Release.MIN_BYTES, 3: Release.MAX_WAIT, 4: Release.CLOSED}


def _error_for(event: Error) -> Exception:
    """The exception a local channel would raise for the same refusal."""
    if event.code is ErrorCode.CHANNEL_CLOSED:
        return ChannelClosed(event.message)
    if event.code is ErrorCode.BAD_ARGUMENT:
        return ValueError(event.message)
    return RemoteError(event.code, event.message)


def _wire_cursor(cursor: int | Start, name: str = "cursor") -> int:
    if cursor is EARLIEST:
        return EARLIEST_CURSOR
    if cursor is LATEST:
        return LATEST_CURSOR
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        kind = type(cursor).__name__
        raise TypeError(f"{name} must be an int, EARLIEST or LATEST, not {kind}")
    if cursor < 0:
        raise ValueError(f"{name} must be >= 0, got {cursor}")
    return cursor


def _wire_epoch(epoch: int | None) -> int:
    return 0 if epoch is None else check_epoch("epoch", epoch)


def _wire_setting(name: str, value: object, *, minimum: int) -> int:
    if value is UNSET:
        return DEFAULT
    checked = check_optional_count(name, value, minimum=minimum)
    return NO_LIMIT if checked is None else checked


class _Pending:
    __slots__ = ("done", "error", "number", "reply")

    def __init__(self, number: int) -> None:
        self.number = number
        self.done = anyio.Event()
        self.reply: Event | None = None
        self.error: BaseException | None = None


class Remote(AsyncCloseable):
    """A connection to a deliverymodes server: ``async with connect_tcp(…) as remote``, or
    ``remote = await connect_tcp(…)`` … ``await remote.aclose()``.

    ``remote.push(name)``, ``remote.poll(name)`` and ``remote.long_poll(name)`` give channels that
    satisfy the same ``Channel`` protocol as the local ones, so consumer code does not change when
    a channel moves out of process.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[ByteStream]],
        *,
        codec: Codec[Any] | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL,
        write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE,
    ) -> None:
        self._open_stream = open_stream
        self.codec: Codec[Any] = check_codec(codec or JsonCodec())
        self._protocol = ClientProtocol(check_count("max_frame_size", max_frame_size))
        self._keepalive = check_optional_seconds("keepalive_interval", keepalive_interval)
        self._write_buffer_size = check_count("write_buffer_size", write_buffer_size)
        self._stream: ByteStream | None = None
        self._writer: FrameWriter | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._pending: dict[int, _Pending] = {}
        self._subscriptions: dict[int, RemotePushSubscriber[Any]] = {}
        self._next_number = 0
        self._welcomed = anyio.Event()
        self._writer_done = anyio.Event()
        self._reader_done = anyio.Event()
        self._failure: DeliveryError | None = None
        self._closed = False
        self.bytes_read = 0

    # -- lifetime --------------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Self]:
        """``remote = await connect_tcp(…)`` opens it too; then ``await remote.aclose()``."""
        return self.__aenter__().__await__()

    async def __aenter__(self) -> Self:
        if self._stream is not None:  # opened already, by await
            return self
        try:
            self._stream = stream = await self._open_stream()
        except OSError as error:
            raise ConnectionLost(f"cannot connect: {error}") from error
        self._writer = FrameWriter(
            stream,
            high_water=self._write_buffer_size,
            keepalive=self._keepalive,
            keepalive_frame=_KEEPALIVE,
        )
        self._writer.write(self._protocol.hello())
        self._task_group = task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            task_group.start_soon(self._write)
            task_group.start_soon(self._read)
            await self._welcomed.wait()
        except BaseException as error:
            # Cancelled before the server's welcome: leave the task group here, in the scope
            # it was entered in, as ``async with`` would, before the cancellation goes on.
            self._closed = True
            try:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(type(error), error, error.__traceback__)
            finally:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
            raise
        if self._failure is not None:
            await self.aclose()
            raise self._failure
        return self

    async def aclose(self) -> None:
        """Say goodbye, write what is queued, and close the connection and its subscriptions."""
        if self._closed:
            return
        self._closed = True
        writer, task_group = self._writer, self._task_group
        if writer is not None:
            if self._failure is None:
                with contextlib.suppress(ConnectionLost):
                    writer.write(self._protocol.send(Close()))
            writer.finish()
        self._fail(ConnectionLost("the connection was closed"))
        if task_group is not None:
            # A graceful goodbye: the writer flushes CLOSE, the server finishes and closes its
            # end, and our reader sees the end of the stream. Bounded, for servers that do not.
            with anyio.move_on_after(_GOODBYE_TIMEOUT, shield=True):
                await self._writer_done.wait()
                await self._reader_done.wait()
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        if self._stream is not None:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    @property
    def bytes_written(self) -> int:
        """Bytes this end has written to the connection so far."""
        return 0 if self._writer is None else self._writer.bytes_written

    # -- the two tasks ---------------------------------------------------------------------------

    async def _write(self) -> None:
        assert self._writer is not None
        try:
            await self._writer.run()
        except ConnectionLost as error:
            self._fail(error)
        finally:
            self._writer_done.set()

    async def _read(self) -> None:
        assert self._stream is not None
        protocol = self._protocol
        try:
            while True:
                data = await self._stream.receive()
                self.bytes_read += len(data)
                protocol.receive_data(data)
                while (event := protocol.next_event()) is not None:
                    self._dispatch(event)
        except ProtocolError as error:
            if self._writer is not None:
                with contextlib.suppress(ConnectionLost):
                    self._writer.write(encode(Error(0, error.code, str(error))))
            self._fail(error)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._fail(ConnectionLost("the server closed the connection"))
        finally:
            self._reader_done.set()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Push):
            subscription = self._subscriptions.get(event.subscription)
            if subscription is not None:  # else it was closed here; the END is on its way
                subscription._deliver(event.messages)
        elif isinstance(event, (Published, WireBatch, Subscribed)):
            self._resolve(event.request, event, None)
        elif isinstance(event, End):
            ended = self._subscriptions.pop(event.subscription, None)
            if ended is not None:
                ended._end(event.reason)
        elif isinstance(event, Error):
            if event.request == 0:
                self._fail(RemoteError(event.code, event.message))
            else:
                self._resolve(event.request, None, _error_for(event))
        elif isinstance(event, Welcome):
            self._welcomed.set()
        elif isinstance(event, Close):
            self._fail(ConnectionLost("the server closed the connection"))

    def _resolve(self, number: int, reply: Event | None, error: BaseException | None) -> None:
        pending = self._pending.pop(number, None)
        if pending is not None:  # else its requester was cancelled and is gone
            pending.reply, pending.error = reply, error
            pending.done.set()

    def _fail(self, error: DeliveryError) -> None:
        if self._failure is None:
            self._failure = error
        self._welcomed.set()
        pending, self._pending = self._pending, {}
        for request in pending.values():
            request.error = self._failure
            request.done.set()
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription in subscriptions.values():
            subscription._fail(self._failure)

    # -- requests --------------------------------------------------------------------------------

    def _number(self) -> int:
        self._next_number = self._next_number % 0xFFFFFFFF + 1  # 1 … 2**32 - 1; 0 is reserved
        return self._next_number

    def _check_usable(self) -> FrameWriter:
        if self._failure is not None:
            raise self._failure
        if self._writer is None:
            raise RuntimeError("use the connection inside 'async with' first")
        return self._writer

    def _send(self, event: Event) -> None:
        self._check_usable().write(self._protocol.send(event))

    def _start(self, make: Callable[[int], Event]) -> _Pending:
        """Send a request now; returns what its reply will resolve."""
        writer = self._check_usable()
        number = self._number()
        pending = self._pending[number] = _Pending(number)
        writer.write(self._protocol.send(make(number)))
        return pending

    async def _wait(self, pending: _Pending) -> Event:
        try:
            await pending.done.wait()
        finally:
            if not pending.done.is_set() and self._pending.pop(pending.number, None) is not None:
                # Given up (cancelled): the server withdraws the request if it still can (a
                # waiting long poll, a publish waiting for room); a late answer is dropped.
                with contextlib.suppress(DeliveryError):
                    self._send(Cancel(pending.number))
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    async def _request(self, make: Callable[[int], Event]) -> Event:
        return await self._wait(self._start(make))

    def _decode(self, messages: tuple[WireMessage, ...]) -> tuple[Message[Any], ...]:
        decode = self.codec.decode
        try:
            return tuple(
                [
                    make_message(offset, decode(data), size, at)
                    for offset, at, size, data in messages
                ]
            )
        except ValueError as error:
            raise ProtocolError(
                ErrorCode.BAD_PAYLOAD, f"cannot decode a payload: {error}"
            ) from None

    def _batch(self, reply: Event) -> Batch[Any]:
        assert isinstance(reply, WireBatch)
        return Batch(
            self._decode(reply.messages),
            reply.cursor,
            reply.missed,
            reply.closed,
            _RELEASES.get(reply.reason),
            reply.epoch,
            reply.missed_unknown,
        )

    async def _publish(self, name: str, payload: Any) -> Message[Any]:
        data = self.codec.encode(payload)
        reply = await self._request(lambda number: Publish(number, name, data))
        assert isinstance(reply, Published)
        return Message(reply.offset, payload, reply.size, reply.published_at)

    # -- channels --------------------------------------------------------------------------------

    def push(self, name: str) -> RemotePushChannel[Any]:
        """The server's push channel ``name``."""
        return RemotePushChannel(self, name)

    def poll(self, name: str) -> RemotePollChannel[Any]:
        """The server's poll (or long-poll) channel ``name``, read by plain polls."""
        return RemotePollChannel(self, name)

    def long_poll(self, name: str) -> RemoteLongPollChannel[Any]:
        """The server's long-poll channel ``name``."""
        return RemoteLongPollChannel(self, name)


class _RemoteChannel(AsyncCloseable, Generic[T]):
    """What the remote channels share: a name on a connection, publishing, own statistics."""

    def __init__(self, remote: Remote, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        self._remote = remote
        self.name = name
        self._published = 0
        self._subscribers: set[SubscriberIteration[T]] = set()
        self._retired_delivered = 0  # by subscriptions closed since
        self._closed = False

    async def publish(self, payload: T) -> Message[T]:
        """Publish ``payload`` on the server; returns the message with its offset."""
        if self._closed:
            raise ChannelClosed("this channel handle is closed")
        message: Message[T] = await self._remote._publish(self.name, payload)
        self._published += 1
        return message

    async def aclose(self) -> None:
        """Close the subscriptions made through this handle (the server's channel stays open)."""
        self._closed = True
        for subscriber in list(self._subscribers):
            await subscriber.aclose()

    def _retire(self, subscriber: SubscriberIteration[T]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            self._retired_delivered += subscriber.statistics().delivered

    def _subscriber_statistics(self) -> list[SubscriberStatistics]:
        return [subscriber.statistics() for subscriber in self._subscribers]


class RemotePushChannel(_RemoteChannel[T]):
    """A push channel on a server: ``publish`` and ``subscribe`` as on a local ``PushChannel``.

    The server applies the channel's overflow policy (or the one asked for here) to this
    subscriber; between the server and this process, a credit ``window`` bounds what is in flight.
    """

    def subscribe(
        self,
        *,
        buffer_size: int | None = None,
        overflow: Overflow | None = None,
        window: int = DEFAULT_BUFFER_SIZE,
    ) -> RemotePushSubscriber[T]:
        """A subscription, requested at once; ``async with`` waits until the server confirms it."""
        if buffer_size is not None:
            check_count("buffer_size", buffer_size)
        if overflow is not None and not isinstance(overflow, Overflow):
            raise TypeError(f"overflow must be an Overflow member, not {overflow!r}")
        subscriber: RemotePushSubscriber[T] = RemotePushSubscriber(
            self,
            buffer_size or 0,
            _OVERFLOW_CODES.get(overflow, 0) if overflow else 0,
            check_count("window", window),
        )
        return subscriber

    def statistics(self) -> ChannelStatistics:
        """What was done through this handle (the server's channel has its own statistics)."""
        subscribers = self._subscriber_statistics()
        return ChannelStatistics(
            published=self._published,
            delivered=self._retired_delivered + sum(s.delivered for s in subscribers),
            subscribers=len(subscribers),
            buffered=sum(s.lag for s in subscribers),
        )


class RemotePushSubscriber(SubscriberIteration[T]):
    """A push subscription on a server, read like a local one."""

    def __init__(
        self, channel: RemotePushChannel[T], buffer_size: int, overflow: int, window: int
    ) -> None:
        remote = channel._remote
        self._channel = channel
        self._remote = remote
        self._window = window
        self._buffer: deque[WireMessage] = deque()
        self._waiting: anyio.Event | None = None
        self._ended: DeliveryError | None = None
        self._closed = False
        self._delivered = 0
        self._dropped = 0  # gaps in the offsets pushed: dropped for it by the server's policy
        self._expected: int | None = None  # the offset the next pushed message should have
        self.epoch: int | None = None  # the channel's life, once the server confirmed
        self._consumed = 0  # since the last CREDIT
        self._budget = COOPERATIVE_BUDGET
        self._decode = remote.codec.decode
        self.number = remote._number()
        self._confirmation = remote._start(
            lambda request: Subscribe(
                request, self.number, channel.name, buffer_size, overflow, window
            )
        )
        remote._subscriptions[self.number] = self
        channel._subscribers.add(self)
        self._confirmed = False

    async def wait_subscribed(self) -> None:
        """Wait until the server confirms the subscription (raises its refusal, if any)."""
        if not self._confirmed:
            try:
                reply = await self._remote._wait(self._confirmation)
            except BaseException:
                # Refused, or given up waiting (cancelled). UNSUBSCRIBE follows SUBSCRIBE on the
                # wire, so a subscription the server makes anyway ends at once; one it refused
                # is unknown to it, and it ignores the request.
                with anyio.CancelScope(shield=True):
                    await self.aclose()
                raise
            assert isinstance(reply, Subscribed)
            self.epoch = reply.epoch or None
            if self._expected is None:
                self._expected = reply.head
            self._confirmed = True

    async def __aenter__(self) -> Self:
        await self.wait_subscribed()
        return self

    def _deliver(self, messages: tuple[WireMessage, ...]) -> None:
        expected = self._expected
        end = messages[-1].offset + 1
        if expected is not None:  # offsets skipped: messages the policy dropped for it
            self._dropped += end - expected - len(messages)
        self._expected = end
        self._buffer.extend(messages)
        self._wake()

    def _end(self, reason: EndReason) -> None:
        if reason is EndReason.SLOW_CONSUMER:
            self._ended = SlowConsumer("disconnected by the server: its buffer overflowed")
        elif reason is EndReason.MESSAGE_TOO_LARGE:
            self._ended = RemoteError(
                ErrorCode.MESSAGE_TOO_LARGE,
                "the next message is larger than this connection's max_frame_size allows",
            )
        elif reason is EndReason.CHANNEL_CLOSED:
            self._ended = ChannelClosed("the channel is closed")
        else:
            self._ended = ChannelClosed("this subscription is closed")
        self._wake()

    def _fail(self, error: DeliveryError) -> None:
        if self._ended is None:
            self._ended = error
        self._wake()

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.set()
            self._waiting = None

    async def receive(self) -> Message[T]:
        """The next message; ChannelClosed at the end, SlowConsumer if the server cut it off."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        if not self._confirmed:
            await self.wait_subscribed()
        buffer = self._buffer
        while not buffer:
            if self._closed:
                raise ChannelClosed("this subscription is closed")
            if self._ended is not None:
                raise self._ended
            if self._waiting is None:
                self._waiting = anyio.Event()
            await self._waiting.wait()
        offset, published_at, size, data = buffer.popleft()
        self._delivered += 1
        self._consumed += 1
        if self._consumed * 2 >= self._window and self._ended is None:
            with contextlib.suppress(DeliveryError):
                self._remote._send(Credit(self.number, self._consumed))
            self._consumed = 0
        try:
            payload = self._decode(data)
        except ValueError as error:
            message = f"cannot decode a payload: {error}"
            raise ProtocolError(ErrorCode.BAD_PAYLOAD, message) from None
        return make_message(offset, payload, size, published_at)

    async def aclose(self) -> None:
        """Unsubscribe on the server; messages not yet received are discarded."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._channel._retire(self)
        if self._remote._subscriptions.pop(self.number, None) is not None:
            with contextlib.suppress(DeliveryError):
                self._remote._send(Unsubscribe(self.number))
        self._wake()

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            delivered=self._delivered, dropped=self._dropped, lag=len(self._buffer)
        )


class RemotePollChannel(_RemoteChannel[T]):
    """A poll channel on a server: ``publish``, ``poll`` and ``subscribe`` as on a local one."""

    def __init__(self, remote: Remote, name: str) -> None:
        super().__init__(remote, name)
        self._polls = 0
        self._empty_polls = 0
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0

    def _count(self, batch: Batch[T]) -> Batch[T]:
        self._polls += 1
        self._empty_polls += not batch.messages
        self._delivered += len(batch.messages)
        self._missed += batch.missed
        self._missed_unknown += batch.missed_unknown
        return batch

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> Batch[T]:
        """What the server retains from ``cursor`` (of life ``epoch``), at once."""
        settings = (
            _wire_cursor(cursor),
            _wire_setting("max_messages", max_messages, minimum=1),
            _wire_setting("max_bytes", max_bytes, minimum=1),
            _wire_epoch(epoch),
        )
        reply = await self._remote._request(lambda number: Poll(number, self.name, *settings))
        return self._count(self._remote._batch(reply))

    def subscribe(
        self,
        start: int | Start = LATEST,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> RemotePollSubscriber[T]:
        """A subscriber polling the server every ``poll_interval`` s after an empty answer."""
        interval = check_seconds("poll_interval", poll_interval)
        _wire_cursor(start, "start")

        async def fetch(cursor: int | Start, epoch: int | None) -> Batch[T]:
            return await self.poll(
                cursor, epoch=epoch, max_messages=max_messages, max_bytes=max_bytes
            )

        return RemotePollSubscriber(self, start, fetch, interval)

    def statistics(self) -> ChannelStatistics:
        """What was done through this handle (the server's channel has its own statistics)."""
        return ChannelStatistics(
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            published=self._published,
            subscribers=len(self._subscribers),
            polls=self._polls,
            empty_polls=self._empty_polls,
        )


class RemoteLongPollChannel(RemotePollChannel[T]):
    """A long-poll channel on a server; settings left ``UNSET`` are the server channel's."""

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_wait: float | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> Batch[T]:
        """A long poll on the server from ``cursor`` of life ``epoch`` (the server clamps
        ``max_wait`` to its limit)."""
        if max_wait is UNSET:
            wait_ms = DEFAULT
        else:
            seconds = check_optional_seconds("max_wait", max_wait)
            wait_ms = NO_LIMIT if seconds is None else round(seconds * 1000)
        if min_messages is not UNSET:
            check_count("min_messages", min_messages)
        settings = (
            _wire_cursor(cursor),
            _wire_setting("min_messages", min_messages, minimum=1),
            _wire_setting("min_bytes", min_bytes, minimum=0),
            wait_ms,
            _wire_setting("max_messages", max_messages, minimum=1),
            _wire_setting("max_bytes", max_bytes, minimum=1),
            _wire_epoch(epoch),
        )
        reply = await self._remote._request(lambda number: LongPoll(number, self.name, *settings))
        return self._count(self._remote._batch(reply))

    def subscribe(  # type: ignore[override]
        self,
        start: int | Start = LATEST,
        *,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_wait: float | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> RemoteLongPollSubscriber[T]:
        """A subscriber doing long polls on the server in a loop."""
        _wire_cursor(start, "start")

        async def fetch(cursor: int | Start, epoch: int | None) -> Batch[T]:
            return await self.poll(
                cursor,
                epoch=epoch,
                min_messages=min_messages,
                min_bytes=min_bytes,
                max_wait=max_wait,
                max_messages=max_messages,
                max_bytes=max_bytes,
            )

        return RemoteLongPollSubscriber(self, start, fetch, None)


class RemotePollSubscriber(CursorSubscriber[T]):
    """Polls a server channel with its own cursor; read like a local ``PollSubscriber``."""

    def __init__(
        self,
        channel: RemotePollChannel[T],
        start: int | Start,
        fetch: Callable[[int | Start, int | None], Awaitable[Batch[T]]],
        poll_interval: float | None,
    ) -> None:
        super().__init__(start)
        self._channel = channel
        self._fetch_from = fetch
        self.poll_interval = poll_interval
        channel._subscribers.add(self)

    async def __aenter__(self) -> Self:
        """Fix a LATEST start now, so that the subscription sees everything from this point."""
        if self._cursor is LATEST:
            batch = await self._channel._remote._request(
                lambda n: Poll(n, self._channel.name, LATEST_CURSOR, 1, 1)
            )
            assert isinstance(batch, WireBatch)
            self._cursor, self._epoch = batch.cursor, batch.epoch or None
        return self

    async def _fetch(self) -> Batch[T]:
        return await self._fetch_from(self._cursor, self._epoch)

    async def _idle(self) -> None:
        if self.poll_interval is not None:
            await anyio.sleep(self.poll_interval)

    def _unsubscribed(self) -> None:
        self._channel._retire(self)


class RemoteLongPollSubscriber(RemotePollSubscriber[T]):
    """Long-polls a server channel in a loop; read like a local ``LongPollSubscriber``."""


# -- connecting ------------------------------------------------------------------------------------


def connect(stream: ByteStream, **options: Any) -> Remote:
    """A connection over an already open anyio byte stream (any transport).

    Use it as ``async with connect(stream) as remote``. Options: ``codec``, ``max_frame_size``,
    ``keepalive_interval``, ``write_buffer_size``.
    """

    async def opened() -> ByteStream:
        return stream

    return Remote(opened, **options)


def connect_tcp(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, **options: Any
) -> Remote:
    """A connection to a server on TCP (TLS with ``ssl_context``): ``async with connect_tcp(…)``."""

    async def opened() -> ByteStream:
        if ssl_context is None:
            return await anyio.connect_tcp(host, port)
        return await anyio.connect_tcp(
            host, port, ssl_context=ssl_context, tls_standard_compatible=False
        )

    return Remote(opened, **options)


def connect_unix(path: str, **options: Any) -> Remote:
    """A connection to a server on a Unix socket: ``async with connect_unix(path) as remote``."""

    async def opened() -> ByteStream:
        return await anyio.connect_unix(path)

    return Remote(opened, **options)

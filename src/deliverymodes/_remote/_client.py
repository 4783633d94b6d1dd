"""Remote channels and subscribers: the server's channels, read and written through a
``Remote``, satisfying the same protocols as local ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from .._common import AsyncCloseable, SubscriberIteration
from .._core import (
    LATEST,
    UNSET,
    Batch,
    ChannelStatistics,
    Message,
    Overflow,
    Start,
    SubscriberStatistics,
    Unset,
    check_count,
    check_optional_seconds,
    check_seconds,
)
from .._cursor import RemoteCursorSubscriber
from .._defaults import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_POLL_INTERVAL,
)
from .._exceptions import ChannelClosed
from .._wire import (
    DEFAULT,
    LATEST_CURSOR,
    NO_LIMIT,
    LongPoll,
    Poll,
    Publish,
    Published,
)
from .._wire import Batch as WireBatch
from .._wire._translate import overflow_code, wire_cursor, wire_epoch, wire_setting
from ._connection import Remote
from ._push_subscriber import RemotePushSubscriber

__all__ = [
    "RemoteLongPollChannel",
    "RemoteLongPollSubscriber",
    "RemotePollChannel",
    "RemotePollSubscriber",
    "RemotePushChannel",
    "RemotePushSubscriber",
]

T = TypeVar("T")


class _RemoteChannel(AsyncCloseable, Generic[T]):
    """What the remote channels share: a name on a connection, publishing, own statistics."""

    def __init__(self, remote: Remote, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        self._remote = remote
        self.name = name
        self._published = 0
        self._subscribers: set[SubscriberIteration[T]] = set()
        self._retired = SubscriberStatistics()  # the sums of subscriptions closed since
        self._closed = False

    async def publish(self, payload: T) -> Message[T]:
        """Publish ``payload`` on the server; returns the message with its offset."""
        if self._closed:
            raise ChannelClosed("this channel handle is closed")
        data = self._remote.codec.encode(payload)
        reply = await self._remote._request(lambda number: Publish(number, self.name, data))
        assert isinstance(reply, Published)
        self._published += 1
        return Message(reply.offset, payload, reply.size, reply.published_at)

    async def aclose(self) -> None:
        """Close the subscriptions made through this handle (the server's channel stays open)."""
        self._closed = True
        for subscriber in list(self._subscribers):
            await subscriber.aclose()

    def _retire(self, subscriber: SubscriberIteration[T]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            final, retired = subscriber.statistics(), self._retired
            self._retired = SubscriberStatistics(
                delivered=retired.delivered + final.delivered,
                dropped=retired.dropped + final.dropped,
                missed=retired.missed + final.missed,
                missed_unknown=retired.missed_unknown + final.missed_unknown,
            )

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
            overflow_code(overflow),
            check_count("window", window),
        )
        return subscriber

    def statistics(self) -> ChannelStatistics:
        """What was done through this handle (the server's channel has its own statistics)."""
        subscribers = [self._retired, *self._subscriber_statistics()]
        return ChannelStatistics(
            published=self._published,
            delivered=sum(s.delivered for s in subscribers),
            dropped=sum(s.dropped for s in subscribers),
            missed=sum(s.missed for s in subscribers),
            missed_unknown=sum(s.missed_unknown for s in subscribers),
            subscribers=len(subscribers) - 1,
            buffered=sum(s.lag for s in subscribers),
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
            wire_cursor(cursor),
            wire_setting("max_messages", max_messages, minimum=1),
            wire_setting("max_bytes", max_bytes, minimum=1),
            wire_epoch(epoch),
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
        wire_cursor(start, "start")

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
            wire_cursor(cursor),
            wire_setting("min_messages", min_messages, minimum=1),
            wire_setting("min_bytes", min_bytes, minimum=0),
            wait_ms,
            wire_setting("max_messages", max_messages, minimum=1),
            wire_setting("max_bytes", max_bytes, minimum=1),
            wire_epoch(epoch),
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
        wire_cursor(start, "start")

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


class RemotePollSubscriber(RemoteCursorSubscriber[T]):
    """Polls a server channel with its own cursor; read like a local ``PollSubscriber``."""

    def __init__(
        self,
        channel: RemotePollChannel[T],
        start: int | Start,
        fetch: Callable[[int | Start, int | None], Awaitable[Batch[T]]],
        poll_interval: float | None,
    ) -> None:
        super().__init__(start, poll_interval)
        self._channel = channel
        self._fetch_from = fetch
        channel._subscribers.add(self)

    async def _head(self) -> tuple[int, int | None]:
        batch = await self._channel._remote._request(
            lambda n: Poll(n, self._channel.name, LATEST_CURSOR, 1, 1)
        )
        assert isinstance(batch, WireBatch)
        return batch.cursor, batch.epoch or None

    async def _request(self) -> Batch[T]:
        return await self._fetch_from(self._cursor, self._epoch)

    def _pauses(self) -> Iterator[float]:
        # The connection's own Reconnect policy brings it back, and a request waits for it:
        # ask again at once while it may still come back.
        remote = self._channel._remote
        while remote._coming_back:
            yield 0.0

    def _unsubscribed(self) -> None:
        self._channel._retire(self)


class RemoteLongPollSubscriber(RemotePollSubscriber[T]):
    """Long-polls a server channel in a loop; read like a local ``LongPollSubscriber``."""

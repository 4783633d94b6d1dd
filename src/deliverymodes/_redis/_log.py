"""RedisPollChannel and RedisLongPollChannel: poll and long poll over a Redis stream.

Each channel keeps, in this process, a view of the stream (a ``LogState``, as an in-memory
channel's): its follower fills it from the channel's notifications, so that long polls wait and
are released exactly as in memory, without a Redis connection each. A plain poll first reads
what the stream has beyond the view (one round trip), so that it answers with everything
published anywhere before it was asked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from .._core import (
    LATEST,
    UNSET,
    Batch,
    Batching,
    Message,
    Retention,
    Start,
    Unset,
    default_sizer,
    measure,
    min_messages_of,
)
from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES, DEFAULT_POLL_INTERVAL
from .._exceptions import ChannelClosed
from .._log_channel import _DEFAULT_RETENTION, LogChannel, _Waiter
from .._longpoll import _DEFAULT_BATCHING, LongPollChannel, LongPollSubscriber
from .._poll import PollChannel, PollSubscriber
from .._protocols import Fit
from .._wire import Codec
from ._client import DEFAULT_REDIS_TIMEOUT, RedisClient
from ._link import Link, Opened, fetch_again
from ._view import View

__all__ = ["RedisLongPollChannel", "RedisPollChannel"]

T = TypeVar("T")


if TYPE_CHECKING:
    _LogBase = LogChannel
else:
    _LogBase = Generic  # a mixin: the log channel comes later in the method resolution order


class _RedisLog(_LogBase[T]):
    """What both Redis log channels add to their in-memory class: the link to Redis and this
    process's view of the stream, publishing through Redis, and plain polls that read it."""

    _link: Link[T]
    _view: View

    def _linked(
        self,
        redis: str | RedisClient,
        key: str,
        codec: Codec[T] | None,
        timeout: float,
        retention: Retention,
    ) -> None:
        self._view = View(self._state)
        self._link = Link(
            type(self).__name__, redis, key, codec, timeout, retention, self._view,
            start_latest=False,
        )  # fmt: skip

    @property
    def key(self) -> str:
        return self._link.key

    @property
    def epoch(self) -> int:
        """The channel's life in Redis as this process has seen it (0 until the channel is
        open); it follows the notifications, as ``head`` does."""
        return self._view.epoch or 0

    @property
    def client(self) -> RedisClient:
        return self._link.client

    async def aclose(self) -> None:
        """Close this process's handle: its readers end; the channel lives on in Redis."""
        await self._link.close_around(super().aclose)

    async def publish(self, payload: T) -> Message[T]:
        """Append ``payload`` to the stream; ChannelClosed once this handle is closed."""
        size = measure(self._sizer, payload)
        if self.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        return await self._link.publish(payload, size)

    async def publish_many(self, payloads: Iterable[T]) -> list[Message[T]]:
        """Append ``payloads``, in order and with consecutive offsets, in one round trip."""
        sized = [(payload, measure(self._sizer, payload)) for payload in payloads]
        if self.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        return await self._link.publish_many(sized)

    def publish_nowait(self, payload: T) -> Message[T]:
        """Always ``anyio.WouldBlock``: publishing to Redis takes a round trip."""
        raise anyio.WouldBlock

    async def _read_redis(self) -> None:
        """Bring this process's view up to what Redis holds now (one round trip)."""
        if self.closed:
            return  # readers drain what this process has, then end, as in memory
        self._link.check_open()
        await self._link.follower.catch_up()

    async def serve_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Batch[T]:
        await self._read_redis()
        return await super().serve_poll(
            cursor, epoch=epoch, max_messages=max_messages, max_bytes=max_bytes, fit=fit
        )


class RedisPollChannel(Opened, _RedisLog[T], PollChannel[T]):
    """A :class:`PollChannel` kept in Redis, shared by every process that opens the same key.

    ``redis`` is a ``redis://``/``rediss://``/``unix://`` URL, or an open :class:`RedisClient`
    to share with other channels; ``key`` names the channel in Redis. Offsets are the channel's
    in every process; ``retention`` trims the stream (see docs/redis.md for what is exact);
    payloads travel as ``codec`` encodes them (JSON by default). Open it with ``async with``.
    A poll reads Redis once; ``ConnectionLost`` if Redis does not answer within ``timeout``.
    """

    def __init__(
        self,
        redis: str | RedisClient,
        key: str,
        retention: Retention = _DEFAULT_RETENTION,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        codec: Codec[T] | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        measure_lag: bool = False,
    ) -> None:
        super().__init__(retention, sizer=sizer, epoch=1, measure_lag=measure_lag)
        self._linked(redis, key, codec, timeout, retention)

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> Batch[T]:
        await self._read_redis()
        return await super().poll(
            cursor, epoch=epoch, max_messages=max_messages, max_bytes=max_bytes
        )

    def subscribe(
        self,
        start: int | Start = LATEST,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> PollSubscriber[T]:
        """A subscriber polling from ``start`` (see :meth:`PollChannel.subscribe`); while Redis
        is unreachable it asks again after the pauses of the client's ``reconnect``."""
        if not self.closed:
            self._link.check_open()
        return _RedisPollSubscriber(
            self,
            self._state,
            start,
            poll_interval=poll_interval,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )


class RedisLongPollChannel(Opened, _RedisLog[T], LongPollChannel[T]):
    """A :class:`LongPollChannel` kept in Redis, shared by every process that opens the same key.

    Arguments as :class:`RedisPollChannel`'s, with ``batching`` as the in-memory channel's. The
    long polls waiting in one process share its one Pub/Sub subscription to the channel: they
    need no Redis connection of their own.
    """

    def __init__(
        self,
        redis: str | RedisClient,
        key: str,
        retention: Retention = _DEFAULT_RETENTION,
        batching: Batching = _DEFAULT_BATCHING,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        codec: Codec[T] | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        measure_lag: bool = False,
    ) -> None:
        super().__init__(retention, batching, sizer=sizer, epoch=1, measure_lag=measure_lag)
        self._linked(redis, key, codec, timeout, retention)

    async def _up_to_date(self, cursor: int | Start) -> None:
        """Read Redis first if this process's view may be behind: its link is down, or the
        cursor is past what it has seen."""
        if self.closed:
            return
        if not self._link.follower.live or (isinstance(cursor, int) and cursor > self.head):
            await self._read_redis()
        else:
            self._link.check_open()

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
        await self._up_to_date(cursor)
        return await super().poll(
            cursor,
            epoch=epoch,
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_wait=max_wait,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )

    def serve_long_poll_nowait(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
    ) -> Batch[T]:
        if not self._link.follower.live or (isinstance(cursor, int) and cursor > self.head):
            raise anyio.WouldBlock
        return super().serve_long_poll_nowait(cursor, epoch=epoch, batching=batching, fit=fit)

    async def serve_long_poll(  # type: ignore[override]
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: Callable[[], Awaitable[object]] | None = None,
    ) -> Batch[T] | None:
        await self._up_to_date(cursor)
        return await super().serve_long_poll(
            cursor, epoch=epoch, batching=batching, fit=fit, until=until
        )

    async def _wait_and_answer(  # type: ignore[override]
        self,
        offset: int,
        batching: Batching,
        meanwhile: Callable[[], Awaitable[object]] | None = None,
        *,
        fit: Fit | None = None,
    ) -> Batch[T] | None:
        # As in memory, except that the view may be emptied while the poll waits (Redis lost
        # messages, or began a new life): then the poll waits again, for what is left of its
        # time, from where it stands now.
        view = self._view
        max_wait = batching.max_wait
        deadline = None if max_wait is None else anyio.current_time() + max_wait
        crossed = False
        while True:
            resets, epoch = view.resets, view.epoch
            waiter = _Waiter(offset, min_messages_of(batching), batching.min_bytes)
            remaining = None if deadline is None else max(0.0, deadline - anyio.current_time())
            if not await self._wait(waiter, remaining, meanwhile):
                return None
            if view.resets == resets or self._state.closed:
                break
            if view.epoch != epoch:
                offset, crossed = 0, True
        batch = self._state.long_poll_after(waiter, batching, fit, time.time())
        return self._state.across(batch) if crossed else batch

    def subscribe(
        self,
        start: int | Start = LATEST,
        *,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_wait: float | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> LongPollSubscriber[T]:
        """A subscriber long polling from ``start`` (see :meth:`LongPollChannel.subscribe`);
        while Redis is unreachable it asks again after the pauses of the client's
        ``reconnect``."""
        if not self.closed:
            self._link.check_open()
        batching = self._batching(
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_wait=max_wait,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        return _RedisLongPollSubscriber(self, self._state, start, batching)


class _RedisPollSubscriber(PollSubscriber[T]):
    async def _fetch(self) -> Batch[T]:
        channel = self._channel
        assert isinstance(channel, RedisPollChannel)
        return await fetch_again(
            super()._fetch,
            channel.client.reconnect,
            lambda: channel.closed or self._closed,
            channel._link.closing,
        )


class _RedisLongPollSubscriber(LongPollSubscriber[T]):
    async def _fetch(self) -> Batch[T]:
        channel = self._channel
        assert isinstance(channel, RedisLongPollChannel)
        return await fetch_again(
            super()._fetch,
            channel.client.reconnect,
            lambda: channel.closed or self._closed,
            channel._link.closing,
        )

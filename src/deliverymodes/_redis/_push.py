"""RedisPushChannel: push through Redis Pub/Sub, fanned out in each process.

Each process holds one subscription to the channel; its follower hands every message, in offset
order, to this process's push state, which fills each subscriber's bounded buffer under its
overflow policy exactly as in memory. Messages also go to the channel's stream (kept within
``retention``), from which a process that lost its Pub/Sub link, or fell behind, reads what it
missed; what the stream no longer holds is counted as missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import anyio

from .._core import (
    Message,
    Overflow,
    PushState,
    Retention,
    default_sizer,
    measure,
)
from .._defaults import DEFAULT_BUFFER_SIZE, DEFAULT_RETENTION_MESSAGES
from .._exceptions import ChannelClosed
from .._push import PushChannel, PushSubscriber, Waker
from .._wire import Codec
from ._client import DEFAULT_REDIS_TIMEOUT, RedisClient
from ._link import Link, Opened

__all__ = ["RedisPushChannel"]

T = TypeVar("T")

_PUSH_RETENTION = Retention(max_messages=DEFAULT_RETENTION_MESSAGES)


class _Fanout:
    """This process's push state, as the follower's sink."""

    def __init__(self, state: PushState[Any, Waker]) -> None:
        self.state = state
        self.epoch: int | None = None

    @property
    def head(self) -> int:
        return self.state.head

    @property
    def idle(self) -> bool:
        """No subscriber here to give messages to: they may go by undecoded (``skipped``
        then counts no loss)."""
        return not self.state.receivers

    def restarted(self, epoch: int, first: int) -> None:
        if self.epoch is None:
            self.state.head = first  # the first read: nobody has subscribed yet
        else:
            self.state.restart(first, epoch)
        self.epoch = epoch

    def skipped(self, offset: int) -> None:
        self.state.skip(offset)

    async def received(self, messages: list[Message[Any]]) -> None:
        state = self.state
        for message in messages:
            while state.blocked:  # a BLOCK subscriber is full: hold Redis back until it has room
                room = state.room_waiter
                if room is None:
                    room = state.room_waiter = anyio.Event()
                await room.wait()
            if state.closed:
                return
            self._deliver(message)

    def published_here(self, epoch: int, messages: list[Message[Any]]) -> None:
        state = self.state
        if epoch != self.epoch or messages[0].offset != state.head:
            return
        for message in messages:  # the rest, if one cannot go now, come with the notification
            if state.blocked or state.closed:
                return
            self._deliver(message)

    def _deliver(self, message: Message[Any]) -> None:
        _, woken = self.state.publish(message.payload, message.size, message.published_at)
        for waiter in woken:
            waiter.set()


class RedisPushChannel(Opened, PushChannel[T]):
    """A :class:`PushChannel` whose messages reach the subscribers of every process that opens
    the same key in Redis.

    ``redis`` and ``key`` as for :class:`RedisPollChannel`; ``buffer_size`` and ``overflow`` as
    in memory, for this process's subscribers (under ``BLOCK``, a full subscriber holds back this
    process's publishers and its reading from Redis, not other processes). ``retention`` bounds
    the stream a process reads what it missed from after its link to Redis dropped. Open it with
    ``async with``.
    """

    def __init__(
        self,
        redis: str | RedisClient,
        key: str,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = Overflow.BLOCK,
        *,
        retention: Retention = _PUSH_RETENTION,
        sizer: Callable[[Any], int] = default_sizer,
        codec: Codec[T] | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        measure_lag: bool = False,
    ) -> None:
        super().__init__(buffer_size, overflow, sizer=sizer, epoch=1, measure_lag=measure_lag)
        if not isinstance(retention, Retention):
            raise TypeError(f"retention must be a Retention, not {type(retention).__name__}")
        self._fanout = _Fanout(self._state)
        self._link: Link[T] = Link(
            type(self).__name__, redis, key, codec, timeout, retention, self._fanout,
            start_latest=True,
        )  # fmt: skip

    @property
    def key(self) -> str:
        return self._link.key

    @property
    def client(self) -> RedisClient:
        return self._link.client

    @property
    def epoch(self) -> int:
        """The channel's life in Redis as this process has seen it (0 until the channel is
        open); it follows the notifications, as ``head`` does."""
        return self._fanout.epoch or 0

    async def aclose(self) -> None:
        """Close this process's handle: its subscribers drain and end; the channel lives on in
        Redis."""
        await self._link.close_around(super().aclose)

    async def publish(self, payload: T) -> Message[T]:
        """Publish to every subscriber of every process; under BLOCK, first wait until this
        process's subscribers have room."""
        size = measure(self._sizer, payload)
        await self._wait_for_room()
        return await self._link.publish(payload, size)

    async def publish_many(self, payloads: Iterable[T]) -> list[Message[T]]:
        """Publish ``payloads``, in order and with consecutive offsets, in one round trip to
        Redis; under BLOCK, first wait until this process's subscribers have room."""
        sized = [(payload, measure(self._sizer, payload)) for payload in payloads]
        await self._wait_for_room()
        return await self._link.publish_many(sized)

    async def _wait_for_room(self) -> None:
        """Under BLOCK, until this process's subscribers have room; ChannelClosed once closed."""
        state = self._state
        if state.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        self._link.check_open()
        while state.blocked:
            room = state.room_waiter
            if room is None:
                room = state.room_waiter = anyio.Event()
            await room.wait()
        if state.closed:
            raise ChannelClosed("cannot publish to a closed channel")

    def subscribe(
        self, *, buffer_size: int | None = None, overflow: Overflow | None = None
    ) -> PushSubscriber[T]:
        """A subscription receiving every message, from any process, from the head this
        process has seen on (see :meth:`PushChannel.subscribe`): one published elsewhere just
        before, whose notification has not arrived yet, is received too."""
        if not self.closed:
            self._link.check_open()
        return super().subscribe(buffer_size=buffer_size, overflow=overflow)

    def publish_nowait(self, payload: T) -> Message[T]:
        """Always ``anyio.WouldBlock``: publishing to Redis takes a round trip."""
        raise anyio.WouldBlock

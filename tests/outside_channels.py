"""Channels written without the library's channel classes, to prove that the adapters use nothing
but the serving protocols (ServedLog, ServedLongPoll, ServedPush) and Publisher.

Plain classes that inherit nothing from deliverymodes and share none of its code, only its value
types and exceptions: a list, deques and anyio events, simple and correct rather than fast.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Generic, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from deliverymodes import (
    EARLIEST,
    LATEST,
    MAX_EPOCH,
    Batch,
    Batching,
    ChannelClosed,
    ChannelStatistics,
    Fit,
    Message,
    Overflow,
    Release,
    SlowConsumer,
    Start,
)
from deliverymodes.defaults import DEFAULT_BUFFER_SIZE

__all__ = ["OutsideLog", "OutsideLongPoll", "OutsidePush", "OutsideSubscription", "plain_size"]

T = TypeVar("T")

_BATCHING = Batching()


def plain_size(payload: object) -> int:
    """Bytes by their length, str by its UTF-8 length, anything else by its repr's."""
    if isinstance(payload, (bytes, bytearray)):
        return len(payload)
    return len((payload if isinstance(payload, str) else repr(payload)).encode())


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def _check_cap(name: str, value: object) -> None:
    if value is not None:
        _check_int(name, value, 1)


class _Signal:
    """Wakes every task waiting for the next change. (Its event is made lazily: anyio needs a
    running event loop for one.)"""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def fire(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class OutsideLog(Generic[T]):
    """A poll channel written without the library's channel classes (a plain list of messages),
    served through ServedLog and Publisher alone. ``retain``: keep only the last so many messages
    (None: all), so that readers can miss some."""

    def __init__(self, *, epoch: int = 7, retain: int | None = None) -> None:
        self.epoch = _check_int("epoch", epoch, 1, MAX_EPOCH)
        _check_cap("retain", retain)
        self._retain = retain
        self.closed = False
        self._messages: list[Message[T]] = []
        self._first = 0  # the offset of self._messages[0]
        self._changed = _Signal()  # fired on each publish and on close
        self._delivered = self._missed = self._missed_unknown = 0
        self._polls = self._empty_polls = self._waiting = 0

    @property
    def head(self) -> int:
        return self._first + len(self._messages)

    @property
    def earliest(self) -> int:
        return self._first

    async def publish(self, payload: T) -> Message[T]:
        await checkpoint()
        if self.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message = Message(self.head, payload, plain_size(payload), time.time())
        self._messages.append(message)
        if self._retain is not None and len(self._messages) > self._retain:
            del self._messages[0]
            self._first += 1
        self._changed.fire()
        return message

    def _start(self, cursor: int | Start, epoch: int | None) -> tuple[int, bool]:
        """The offset a read from ``cursor`` of life ``epoch`` starts at, and whether it comes
        from another life (then it starts at offset 0 of this one)."""
        if epoch is not None:
            _check_int("epoch", epoch, 1, MAX_EPOCH)
        if cursor is EARLIEST:
            return self.earliest, False
        if cursor is LATEST:
            return self.head, False
        offset = _check_int("cursor", cursor, 0)
        if epoch is not None and epoch != self.epoch:
            return 0, True
        if offset > self.head:
            raise ValueError(f"cursor {offset} is beyond the head of the channel ({self.head})")
        return offset, False

    def _answer(
        self,
        start: int,
        across: bool,
        max_messages: int | None,
        max_bytes: int | None,
        *,
        fit: Fit | None,
        reason: Release | None,
    ) -> Batch[T]:
        missed = max(0, self._first - start)
        taken: list[Message[T]] = []
        size = 0
        for message in islice(self._messages, start + missed - self._first, None):
            if max_messages is not None and len(taken) == max_messages:
                break
            if max_bytes is not None and taken and size + message.size > max_bytes:
                break  # (the first message goes alone even when larger than max_bytes)
            taken.append(message)
            size += message.size
        messages = tuple(taken)
        cursor = start + missed + len(messages)
        if fit is not None and messages:
            keep = fit(messages)  # may raise: nothing counted yet
            if keep < len(messages):
                cursor = messages[keep].offset
                messages = messages[:keep]
        self._polls += 1
        self._empty_polls += not messages
        self._delivered += len(messages)
        self._missed += missed
        self._missed_unknown += across
        closed = self.closed and cursor == self.head
        return Batch(messages, cursor, missed, closed, reason, self.epoch, across)

    async def serve_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Batch[T]:
        await checkpoint()
        start, across = self._start(cursor, epoch)
        _check_cap("max_messages", max_messages)
        _check_cap("max_bytes", max_bytes)
        return self._answer(start, across, max_messages, max_bytes, fit=fit, reason=None)

    async def wait_closed(self) -> None:
        while not self.closed:
            await self._changed.wait()

    async def aclose(self) -> None:
        self.closed = True
        self._changed.fire()

    def statistics(self) -> ChannelStatistics:
        return ChannelStatistics(
            published=self.head,
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            retained_messages=len(self._messages),
            retained_bytes=sum(message.size for message in self._messages),
            polls=self._polls,
            empty_polls=self._empty_polls,
            waiting_polls=self._waiting,
        )


class OutsideLongPoll(OutsideLog[T]):
    """A long-poll channel written without the library's channel classes (OutsideLog plus
    waiting on an anyio event), served through ServedLongPoll and Publisher alone."""

    def __init__(
        self, batching: Batching = _BATCHING, *, epoch: int = 7, retain: int | None = None
    ) -> None:
        super().__init__(epoch=epoch, retain=retain)
        self.batching = batching

    def _reason(self, start: int, batching: Batching, *, timed_out: bool) -> Release | None:
        pending = self._messages[max(start, self._first) - self._first :]
        min_messages = batching.min_messages
        if batching.max_messages is not None:
            min_messages = min(min_messages, batching.max_messages)
        if len(pending) >= min_messages:
            return Release.MIN_MESSAGES
        pending_bytes = sum(message.size for message in pending)
        if batching.min_bytes is not None and pending_bytes >= batching.min_bytes:
            return Release.MIN_BYTES
        if timed_out:
            return Release.MAX_WAIT
        return Release.CLOSED if self.closed else None

    def serve_long_poll_nowait(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
    ) -> Batch[T]:
        start, across = self._start(cursor, epoch)
        reason = self._reason(start, batching, timed_out=batching.max_wait == 0)
        if reason is None:
            raise anyio.WouldBlock
        return self._answer(
            start, across, batching.max_messages, batching.max_bytes, fit=fit, reason=reason
        )

    async def serve_long_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: Callable[[], Awaitable[object]] | None = None,
    ) -> Batch[T] | None:
        await checkpoint()
        start, across = self._start(cursor, epoch)
        timed_out = batching.max_wait == 0
        if self._reason(start, batching, timed_out=timed_out) is None:
            if until is None:
                timed_out = await self._wait(start, batching)
            else:
                outcome: list[bool] = []
                failed: list[Exception] = []  # what until() raised, to re-raise as it is
                async with anyio.create_task_group() as tg:

                    async def watch() -> None:
                        try:
                            await until()
                        except Exception as error:  # re-raised below, as it is
                            failed.append(error)
                        tg.cancel_scope.cancel()

                    tg.start_soon(watch)
                    outcome.append(await self._wait(start, batching))
                    tg.cancel_scope.cancel()
                if failed:
                    raise failed[0]
                if not outcome:
                    return None  # until() returned first: nothing counted
                timed_out = outcome[0]
        # (MAX_WAIT as a fallback: a min_bytes met at wake-up may have been evicted since.)
        reason = self._reason(start, batching, timed_out=timed_out) or Release.MAX_WAIT
        return self._answer(
            start, across, batching.max_messages, batching.max_bytes, fit=fit, reason=reason
        )

    async def _wait(self, start: int, batching: Batching) -> bool:
        """Wait until the thresholds from ``start`` are met or the channel closes; True if
        ``max_wait`` ran out first."""
        self._waiting += 1
        try:
            with anyio.move_on_after(batching.max_wait) as scope:
                while self._reason(start, batching, timed_out=False) is None:
                    await self._changed.wait()
        finally:
            self._waiting -= 1
        return scope.cancelled_caught


class OutsideSubscription(Generic[T]):
    """One subscription of an OutsidePush: a deque of at most ``buffer_size`` messages."""

    def __init__(self, channel: OutsidePush[T], buffer_size: int, overflow: Overflow) -> None:
        self._channel = channel
        self.buffer_size = buffer_size
        self.overflow = overflow
        self._buffer: deque[Message[T]] = deque()
        self._ended = False  # nothing more will come: the channel or this subscription closed
        self._cut_off = False
        self._arrived = _Signal()  # fired when a message arrives or it ends
        self.delivered = self.dropped = 0

    def _offer(self, message: Message[T]) -> None:
        if len(self._buffer) < self.buffer_size:
            self._buffer.append(message)
        elif self.overflow is Overflow.DROP_OLDEST:
            self._buffer.popleft()
            self._buffer.append(message)
            self.dropped += 1
        elif self.overflow is Overflow.DROP_NEWEST:
            self.dropped += 1
        elif self.overflow is Overflow.DISCONNECT:
            self.dropped += 1
            self._cut_off = True
            self._ended = True
        else:  # pragma: no cover - publish waits while a BLOCK buffer is full
            raise RuntimeError("published to a full BLOCK buffer")
        self._arrived.fire()

    def _end(self) -> None:
        self._ended = True
        self._arrived.fire()

    def receive_nowait(self) -> Message[T]:
        if self._buffer:
            self.delivered += 1
            message = self._buffer.popleft()
            self._channel._room.fire()
            return message
        if self._cut_off:
            raise SlowConsumer(f"disconnected: its buffer of {self.buffer_size} overflowed")
        if self._ended:
            raise ChannelClosed("the subscription or its channel is closed")
        raise anyio.WouldBlock

    async def receive(self) -> Message[T]:
        await checkpoint()
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                await self._arrived.wait()

    def refuse_last(self) -> None:
        self.delivered -= 1
        self.dropped += 1

    async def aclose(self) -> None:
        self.dropped += len(self._buffer)
        self._buffer.clear()
        self._end()
        self._channel._retire(self)


class OutsidePush(Generic[T]):
    """A push channel written without the library's channel classes (a deque per subscriber),
    served through ServedPush and Publisher alone. Overflow policies: all four (BLOCK holds
    ``publish`` until every BLOCK subscriber has room; a cancelled publish reaches nobody)."""

    def __init__(
        self,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = Overflow.BLOCK,
        *,
        epoch: int = 7,
    ) -> None:
        self.buffer_size = _check_int("buffer_size", buffer_size, 1)
        self.overflow = overflow
        self.epoch = _check_int("epoch", epoch, 1, MAX_EPOCH)
        self.head = 0  # the offset the next message will get
        self.closed = False
        self._subscriptions: list[OutsideSubscription[T]] = []  # not closed yet
        self._retired = [0, 0]  # delivered, dropped by subscriptions closed since
        self._room = _Signal()  # fired when a subscriber takes a message or leaves

    def subscribe(
        self, *, buffer_size: int | None = None, overflow: Overflow | None = None
    ) -> OutsideSubscription[T]:
        size = self.buffer_size if buffer_size is None else buffer_size
        policy = self.overflow if overflow is None else overflow
        subscription = OutsideSubscription(self, _check_int("buffer_size", size, 1), policy)
        self._subscriptions.append(subscription)
        if self.closed:
            subscription._end()
        return subscription

    async def publish(self, payload: T) -> Message[T]:
        await checkpoint()
        while not self.closed and any(
            s.overflow is Overflow.BLOCK and len(s._buffer) >= s.buffer_size
            for s in self._receivers()
        ):
            await self._room.wait()
        if self.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message = Message(self.head, payload, plain_size(payload), time.time())
        self.head += 1
        for subscription in self._receivers():
            subscription._offer(message)
        return message

    def _receivers(self) -> list[OutsideSubscription[T]]:
        return [s for s in self._subscriptions if not s._ended]

    def _retire(self, subscription: OutsideSubscription[T]) -> None:
        if subscription not in self._subscriptions:
            return  # closed before
        self._subscriptions.remove(subscription)
        self._retired[0] += subscription.delivered
        self._retired[1] += subscription.dropped
        self._room.fire()

    async def aclose(self) -> None:
        self.closed = True
        for subscription in self._subscriptions:
            subscription._end()
        self._room.fire()

    def statistics(self) -> ChannelStatistics:
        subscriptions = self._subscriptions
        return ChannelStatistics(
            published=self.head,
            delivered=self._retired[0] + sum(s.delivered for s in subscriptions),
            dropped=self._retired[1] + sum(s.dropped for s in subscriptions),
            subscribers=len(self._receivers()),
            buffered=sum(len(s._buffer) for s in subscriptions),
        )

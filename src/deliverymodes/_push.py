"""PushChannel: every message goes to every subscriber at once, through a bounded buffer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

import anyio
from anyio import ClosedResourceError, EndOfStream, WouldBlock
from anyio.lowlevel import checkpoint

from ._common import AsyncCloseable, SubscriberIteration, check_sizer
from ._core import (
    Action,
    ChannelStatistics,
    Message,
    Overflow,
    PushLedger,
    SubscriberStatistics,
    check_count,
    check_epoch,
    default_sizer,
    make_message,
    measure,
    new_epoch,
)
from ._defaults import COOPERATIVE_BUDGET, DEFAULT_BUFFER_SIZE
from ._exceptions import ChannelClosed, SlowConsumer

__all__ = ["PushChannel", "PushSubscriber"]

T = TypeVar("T")


def _check_overflow(overflow: object) -> Overflow:
    if not isinstance(overflow, Overflow):
        raise TypeError(f"overflow must be an Overflow member, not {overflow!r}")
    return overflow


class PushChannel(AsyncCloseable, Generic[T]):
    """Push: each subscriber receives every message published after it subscribed.

    Every subscriber reads from its own anyio memory object stream of ``buffer_size`` messages;
    when one is full, ``overflow`` decides (see :class:`Overflow`). A publish is all-or-nothing:
    under ``BLOCK`` it waits until every subscriber has room, and if it is cancelled while waiting
    it reaches no subscriber.
    """

    def __init__(
        self,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = Overflow.BLOCK,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        epoch: int | None = None,
    ) -> None:
        self._epoch = new_epoch() if epoch is None else check_epoch("epoch", epoch)
        self.buffer_size = check_count("buffer_size", buffer_size)
        self.overflow = _check_overflow(overflow)
        self._sizer = check_sizer(sizer)
        self._subscribers: tuple[PushSubscriber[T], ...] = ()  # receiving new messages
        self._members: set[PushSubscriber[T]] = set()  # not closed yet (may be draining)
        self._retired = [0, 0]  # delivered, dropped by subscriptions closed since
        self._next_offset = 0
        self._closed = False
        self._blockers = 0  # subscribers whose full buffer makes publishers wait
        self._room: anyio.Event | None = None  # set when no buffer blocks publishers any more
        self._budget = COOPERATIVE_BUDGET

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def epoch(self) -> int:
        """This life of the channel: random when created, unless given. Offsets belong to it."""
        return self._epoch

    @property
    def head(self) -> int:
        """The offset the next published message will get: a subscription made now receives
        messages from this offset on."""
        return self._next_offset

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, payload: T) -> Message[T]:
        """Publish to every current subscriber; under BLOCK, wait until all of them have room."""
        size = measure(self._sizer, payload)
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        while self._blockers and not self._closed:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()
            self._budget = COOPERATIVE_BUDGET
        return self._commit(payload, size)

    def publish_nowait(self, payload: T) -> Message[T]:
        """Publish without waiting; raises ``anyio.WouldBlock`` if a BLOCK subscriber is full."""
        size = measure(self._sizer, payload)
        if self._blockers and not self._closed:
            raise WouldBlock
        return self._commit(payload, size)

    def _commit(self, payload: T, size: int) -> Message[T]:
        if self._closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message = make_message(self._next_offset, payload, size, time.time())
        self._next_offset += 1
        for subscriber in self._subscribers:
            # The common case, inline: there is room. PushLedger.overflow decides otherwise.
            ledger = subscriber._ledger
            if ledger.buffered < ledger.size:
                ledger.buffered += 1
                subscriber._send.send_nowait(message)
                if ledger.buffered == ledger.size and ledger.blocks:
                    self._blockers += 1
                waiting = subscriber._waiting
                if waiting is not None:
                    subscriber._waiting = None
                    waiting.set()
            else:
                subscriber._overflow(message)
        return message

    # -- subscribing -----------------------------------------------------------------------------

    def subscribe(
        self, *, buffer_size: int | None = None, overflow: Overflow | None = None
    ) -> PushSubscriber[T]:
        """A subscription receiving every message published from now on.

        ``buffer_size`` and ``overflow`` default to the channel's; a subscriber may choose its own.
        Use it as ``async with channel.subscribe() as subscriber``, or close it with ``aclose()``.
        """
        size = self.buffer_size if buffer_size is None else check_count("buffer_size", buffer_size)
        policy = self.overflow if overflow is None else _check_overflow(overflow)
        subscriber = PushSubscriber(self, size, policy)
        self._members.add(subscriber)
        if self._closed:
            subscriber._end()
        else:
            self._subscribers = (*self._subscribers, subscriber)
        return subscriber

    def _detach(self, subscriber: PushSubscriber[T]) -> None:
        """Stop sending to ``subscriber`` (it may still drain its buffer)."""
        if subscriber in self._subscribers:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            if subscriber._ledger.blocks_publisher:
                self._unblocked()

    def _retire(self, subscriber: PushSubscriber[T]) -> None:
        """``subscriber`` was closed: keep its counts, forget it."""
        self._detach(subscriber)
        if subscriber in self._members:
            self._members.discard(subscriber)
            self._retired[0] += subscriber._ledger.delivered
            self._retired[1] += subscriber._dropped()

    def _unblocked(self) -> None:
        if self._closed:
            return
        self._blockers -= 1
        if not self._blockers and self._room is not None:
            self._room.set()
            self._room = None

    # -- closing and statistics ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close: subscribers drain their buffers and end; waiting publishers get ChannelClosed."""
        if self._closed:
            return
        self._closed = True
        subscribers, self._subscribers = self._subscribers, ()
        for subscriber in subscribers:
            subscriber._end()
        self._blockers = 0
        if self._room is not None:
            self._room.set()
            self._room = None

    def statistics(self) -> ChannelStatistics:
        ledgers = [member._ledger for member in self._members]
        return ChannelStatistics(
            published=self._next_offset,
            delivered=self._retired[0] + sum(ledger.delivered for ledger in ledgers),
            dropped=self._retired[1] + sum(member._dropped() for member in self._members),
            subscribers=len(self._subscribers),
            buffered=sum(ledger.buffered for ledger in ledgers),
        )


class PushSubscriber(SubscriberIteration[T]):
    """One push subscription: a bounded buffer (an anyio memory object stream) and its counts."""

    def __init__(self, channel: PushChannel[T], buffer_size: int, overflow: Overflow) -> None:
        self._channel = channel
        self._send, self._receive = anyio.create_memory_object_stream[Message[T]](buffer_size)
        self._ledger = PushLedger(buffer_size, overflow)
        self._waiting: anyio.Event | None = None  # set when a message arrives or the stream ends
        self._unsubscribed = False
        # Cut off (DISCONNECT): every message published from ``_cut_at`` until the subscriber is
        # closed (then ``_closed_at``) is dropped for it too, so that its counts add up.
        self._cut_at: int | None = None
        self._closed_at: int | None = None
        self._budget = COOPERATIVE_BUDGET

    @property
    def buffer_size(self) -> int:
        return self._ledger.size

    @property
    def overflow(self) -> Overflow:
        return self._ledger.policy

    def _overflow(self, message: Message[T]) -> None:
        """The channel offers ``message`` while this subscriber's buffer is full."""
        action = self._ledger.overflow()
        if action is Action.EVICT_OLDEST:
            self._receive.receive_nowait()
            self._send.send_nowait(message)
        elif action is Action.DISCONNECT:
            self._cut_at = self._channel._next_offset
            self._channel._detach(self)
            self._end()
        elif action is Action.WAIT:  # pragma: no cover - publish waits while a BLOCK buffer is full
            raise RuntimeError("publish went ahead while a subscriber's buffer was full")

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.set()
            self._waiting = None

    def _end(self) -> None:
        """No more messages will come: receivers drain the buffer, then end."""
        self._send.close()
        self._wake()

    def receive_nowait(self) -> Message[T]:
        """The next buffered message; raises ``anyio.WouldBlock`` if there is none yet."""
        try:
            message = self._receive.receive_nowait()
        except EndOfStream:
            self._receive.close()  # drained: release the stream now
            self._raise_ended()
        except ClosedResourceError:
            self._raise_ended()
        ledger = self._ledger
        if ledger.blocks and ledger.buffered == ledger.size:
            self._channel._unblocked()
        ledger.buffered -= 1
        ledger.delivered += 1
        return message

    def _raise_ended(self) -> NoReturn:
        if self._ledger.cut_off:
            raise SlowConsumer(
                f"disconnected: its buffer of {self._ledger.size} messages overflowed"
            ) from None
        if self._unsubscribed:
            raise ChannelClosed("this subscription is closed") from None
        raise ChannelClosed("the channel is closed") from None

    async def receive(self) -> Message[T]:
        """The next message. Raises ChannelClosed at the end, SlowConsumer if cut off."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        while True:
            try:
                return self.receive_nowait()
            except WouldBlock:
                if self._waiting is None:
                    self._waiting = anyio.Event()
                await self._waiting.wait()
                self._budget = COOPERATIVE_BUDGET

    async def __anext__(self) -> Message[T]:
        # receive() inlined rather than awaited: one coroutine per message instead of two, which
        # is worth about 15 % of fan-out throughput (benchmarks/channels.py).
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        while True:
            try:
                return self.receive_nowait()
            except WouldBlock:
                if self._waiting is None:
                    self._waiting = anyio.Event()
                await self._waiting.wait()
                self._budget = COOPERATIVE_BUDGET
            except ChannelClosed:
                raise StopAsyncIteration from None

    def _dropped(self) -> int:
        dropped = self._ledger.dropped
        if self._cut_at is not None:
            end = self._channel._next_offset if self._closed_at is None else self._closed_at
            dropped += end - self._cut_at
        return dropped

    def refuse_last(self) -> None:
        """The message ``receive`` just returned could not be handed on (too large for the
        transport): count it as dropped, not delivered."""
        self._ledger.delivered -= 1
        self._ledger.dropped += 1

    async def aclose(self) -> None:
        """Unsubscribe; messages still buffered are discarded, counted as dropped."""
        self._unsubscribed = True
        if self._closed_at is None:
            self._closed_at = self._channel._next_offset
        ledger = self._ledger
        ledger.dropped += ledger.buffered
        self._channel._retire(self)  # sees whether the full buffer was holding publishers back
        ledger.buffered = 0
        self._send.close()
        self._receive.close()
        self._wake()

    def __del__(self) -> None:
        # An in-memory subscription holds no OS resource: a forgotten one needs no warning from
        # the anyio streams inside it.
        if hasattr(self, "_receive"):
            self._send.close()
            self._receive.close()

    def statistics(self) -> SubscriberStatistics:
        ledger = self._ledger
        return SubscriberStatistics(
            delivered=ledger.delivered, dropped=self._dropped(), lag=ledger.buffered
        )

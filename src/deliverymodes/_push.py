"""PushChannel: every message goes to every subscriber at once, through a bounded buffer.

The buffers, counts and overflow decisions are the push state's (``_core``); the channel and its
subscribers are endpoints on it that wait, wake and say what the state's answers mean.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from itertools import repeat
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio import WouldBlock
from anyio.lowlevel import checkpoint

from ._common import AsyncCloseable, SubscriberIteration, check_sizer, running_on_trio
from ._core import (
    ChannelStatistics,
    End,
    LagHistogram,
    Message,
    Overflow,
    PushState,
    PushSubscription,
    SubscriberStatistics,
    check_count,
    check_epoch,
    default_sizer,
    lag_histogram,
    measure,
    new_epoch,
)
from ._defaults import COOPERATIVE_BUDGET, DEFAULT_BUFFER_SIZE
from ._exceptions import ChannelClosed, SlowConsumer

__all__ = ["PushChannel", "PushSubscriber"]

_log = logging.getLogger("deliverymodes.channel")

T = TypeVar("T")


def _check_overflow(overflow: object) -> Overflow:
    if not isinstance(overflow, Overflow):
        raise TypeError(f"overflow must be an Overflow member, not {overflow!r}")
    return overflow


class Waker(Protocol):
    """What a push state's waiters are: set once, awaited by one task (an ``anyio.Event``)."""

    def set(self) -> None: ...

    def wait(self) -> Awaitable[object]: ...


class _FutureWaker:
    """A subscriber's waiter on asyncio, reused for each of its waits: each wait awaits a future
    that ``set`` completes.

    Lighter than a new ``anyio.Event`` per wait (an asyncio event, its deque and two coroutines
    around the same future): a subscriber woken per message costs about a third less. A future
    found done when a wait begins is stale (set, or cancelled, after an earlier wait; the
    subscriber looks at its buffer before it waits), so that wait gets a fresh one. One found
    pending is another task's, waiting at the same time: this wait gets a future of its own, as
    asyncio cancels the future a cancelled task awaits, which must not end the others' wait."""

    __slots__ = ("_future", "_loop", "_others")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] | None = None
        self._others: list[asyncio.Future[None]] = []  # more tasks waiting at once (seldom)

    def set(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)
        if self._others:
            others, self._others = self._others, []
            for other in others:
                if not other.done():
                    other.set_result(None)

    def wait(self) -> Awaitable[None]:
        future = self._future
        if future is None or future.done():
            future = self._future = asyncio.Future(loop=self._loop)
            return future
        other: asyncio.Future[None] = asyncio.Future(loop=self._loop)
        self._others.append(other)
        return other


class _ParkingWaker:
    """A subscriber's waiter on trio, reused for each of its waits: a waiting task parks itself
    with trio's lowest-level wait and ``set`` reschedules it, with no event made per wait (about
    a fifth less CPU per woken delivery). Every task waiting at once is woken, as by an event; a
    ``set`` while none waits is dropped, as the subscriber looks at its buffer before it waits."""

    __slots__ = ("_lowlevel", "_others", "_task")

    def __init__(self, lowlevel: Any) -> None:
        self._lowlevel = lowlevel  # trio.lowlevel, imported only when running on trio
        self._task: Any = None  # the task waiting
        self._others: list[Any] = []  # more tasks waiting at the same time (seldom)

    def set(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._lowlevel.reschedule(task)
        if self._others:
            others, self._others = self._others, []
            for other in others:
                self._lowlevel.reschedule(other)

    def wait(self) -> Awaitable[object]:
        return self._park()

    async def _park(self) -> None:
        lowlevel = self._lowlevel
        if self._task is None:
            self._task = lowlevel.current_task()
            await lowlevel.wait_task_rescheduled(self._abort)
            return
        task, others = lowlevel.current_task(), self._others
        others.append(task)

        def abort(_raise_cancel: object) -> object:
            others.remove(task)  # cancelled: a later set() must not wake it
            return lowlevel.Abort.SUCCEEDED

        await lowlevel.wait_task_rescheduled(abort)

    def _abort(self, _raise_cancel: object) -> object:
        self._task = None  # cancelled: a later set() must not wake it
        return self._lowlevel.Abort.SUCCEEDED


def _wake(waiters: list[Waker]) -> None:
    for waiter in waiters:
        waiter.set()


class PushChannel(AsyncCloseable, Generic[T]):
    """Push: each subscriber receives every message published after it subscribed.

    Every subscriber has its own buffer of ``buffer_size`` messages; when one is full,
    ``overflow`` decides (see :class:`Overflow`). A publish is all-or-nothing: under ``BLOCK`` it
    waits until every subscriber has room, and if it is cancelled while waiting it reaches no
    subscriber.

    With ``measure_lag``, :attr:`delivery_lag` samples how long messages waited in subscribers'
    buffers: each time a subscriber comes back for messages after waiting (or after a
    cooperative checkpoint), the wait of the oldest message it finds buffered.
    """

    def __init__(
        self,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        overflow: Overflow = Overflow.BLOCK,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        epoch: int | None = None,
        measure_lag: bool = False,
    ) -> None:
        self._epoch = new_epoch() if epoch is None else check_epoch("epoch", epoch)
        self.buffer_size = check_count("buffer_size", buffer_size)
        self.overflow = _check_overflow(overflow)
        self._sizer = check_sizer(sizer)
        self._state: PushState[T, Waker] = PushState(lag_histogram(measure_lag))
        self._budget = COOPERATIVE_BUDGET

    @property
    def closed(self) -> bool:
        return self._state.closed

    @property
    def epoch(self) -> int:
        """This life of the channel: random when created, unless given. Offsets belong to it."""
        return self._epoch

    @property
    def head(self) -> int:
        """The offset the next published message will get: a subscription made now receives
        messages from this offset on."""
        return self._state.head

    @property
    def delivery_lag(self) -> LagHistogram | None:
        """The delivery-lag histogram, if the channel was made with ``measure_lag=True``."""
        return self._state.lag

    async def publish(self, payload: T) -> Message[T]:
        """Publish to every current subscriber; under BLOCK, wait until all of them have room."""
        size = measure(self._sizer, payload)
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        state = self._state
        while state.blocked:
            room = state.room_waiter
            if room is None:
                room = state.room_waiter = anyio.Event()
            await room.wait()
            self._budget = COOPERATIVE_BUDGET
        if state.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message, woken = state.publish(payload, size, time.time())
        for waiter in woken:
            waiter.set()
        return message

    def publish_nowait(self, payload: T) -> Message[T]:
        """Publish without waiting; raises ``anyio.WouldBlock`` if a BLOCK subscriber is full."""
        size = measure(self._sizer, payload)
        state = self._state
        if state.blocked:
            raise WouldBlock
        if state.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message, woken = state.publish(payload, size, time.time())
        for waiter in woken:
            waiter.set()
        return message

    def subscribe(
        self, *, buffer_size: int | None = None, overflow: Overflow | None = None
    ) -> PushSubscriber[T]:
        """A subscription receiving every message published from now on.

        ``buffer_size`` and ``overflow`` default to the channel's; a subscriber may choose its own.
        Use it as ``async with channel.subscribe() as subscriber``, or close it with ``aclose()``.
        """
        size = self.buffer_size if buffer_size is None else check_count("buffer_size", buffer_size)
        policy = self.overflow if overflow is None else _check_overflow(overflow)
        return PushSubscriber(self._state.subscribe(size, policy))

    async def aclose(self) -> None:
        """Close: subscribers drain their buffers and end; waiting publishers get ChannelClosed."""
        _wake(self._state.close())

    def statistics(self) -> ChannelStatistics:
        return self._state.statistics()


class PushSubscriber(SubscriberIteration[T]):
    """One push subscription: an endpoint on its buffer in the channel's state."""

    def __init__(self, subscription: PushSubscription[T, Waker]) -> None:
        self._subscription = subscription
        self._budget = COOPERATIVE_BUDGET
        self._cut_off_logged = False
        # What gives the next waiter, once the backend is known: on asyncio the subscriber's one
        # reused waiter, on trio a new event of the backend's class (skipping anyio's lookup of
        # the backend, about 1 µs of each wait).
        self._next_waiter: Callable[[], Waker] = self._first_waiter

    def _first_waiter(self) -> Waker:
        try:
            loop = asyncio.get_running_loop()
            on_asyncio = asyncio.current_task() is not None  # not trio as asyncio's guest
        except RuntimeError:  # no asyncio loop in this thread
            on_asyncio = False
        waker: Waker
        if on_asyncio:
            waker = _FutureWaker(loop)
        elif running_on_trio():
            import trio.lowlevel  # noqa: PLC0415 - trio is there: this task runs on it

            waker = _ParkingWaker(trio.lowlevel)
        else:
            event = anyio.Event()
            self._next_waiter = type(event)
            return event
        self._next_waiter = repeat(waker).__next__
        return waker

    @property
    def buffer_size(self) -> int:
        return self._subscription.size

    @property
    def overflow(self) -> Overflow:
        return self._subscription.policy

    @property
    def epoch(self) -> int | None:
        """The life of the channel the last message received belongs to, once the channel
        began a new life under this subscription (one kept elsewhere, as in Redis, after it lost
        its data); None until then."""
        return self._subscription.epoch

    def receive_nowait(self) -> Message[T]:
        """The next buffered message; raises ``anyio.WouldBlock`` if there is none yet."""
        message, room = self._subscription.take()
        if room is not None:
            room.set()
        if message is None:
            self._raise_if_ended()
            raise WouldBlock
        return message

    def _raise_if_ended(self) -> None:
        """Raise why no message will come any more, if none will."""
        end = self._subscription.end
        if end is End.CUT_OFF:
            self._log_cut_off()
            raise SlowConsumer(
                f"disconnected: its buffer of {self._subscription.size} messages overflowed"
            )
        if end is End.UNSUBSCRIBED:
            raise ChannelClosed("this subscription is closed")
        if end is End.CLOSED:
            raise ChannelClosed("the channel is closed")

    async def receive(self) -> Message[T]:
        """The next message. Raises ChannelClosed at the end, SlowConsumer if cut off."""
        self._budget -= 1
        subscription = self._subscription
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
            if subscription.lag is not None:
                subscription.sample_lag(time.time())
        while True:
            message, room = subscription.take()
            if room is not None:
                room.set()
            if message is not None:
                return message
            if subscription.ended:
                self._raise_if_ended()
            waiter = subscription.waiter
            if waiter is None:
                waiter = subscription.waiter = self._next_waiter()
            await waiter.wait()
            self._budget = COOPERATIVE_BUDGET
            if subscription.lag is not None:
                subscription.sample_lag(time.time())

    async def __anext__(self) -> Message[T]:
        # receive() inlined rather than awaited: one coroutine per message instead of two, which
        # is worth about 15 % of fan-out throughput (benchmarks/channels.py).
        self._budget -= 1
        subscription = self._subscription
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
            if subscription.lag is not None:
                subscription.sample_lag(time.time())
        while True:
            message, room = subscription.take()
            if room is not None:
                room.set()
            if message is not None:
                return message
            if subscription.ended:
                try:
                    self._raise_if_ended()
                except ChannelClosed:
                    raise StopAsyncIteration from None
            waiter = subscription.waiter
            if waiter is None:
                waiter = subscription.waiter = self._next_waiter()
            await waiter.wait()
            self._budget = COOPERATIVE_BUDGET
            if subscription.lag is not None:
                subscription.sample_lag(time.time())

    def refuse_last(self) -> None:
        """The message ``receive`` just returned could not be handed on (too large for the
        transport): count it as dropped, not delivered."""
        self._subscription.refuse_last()

    def _log_cut_off(self) -> None:
        """Log the cut once: when the subscriber finds out, or is closed without finding out."""
        if not self._cut_off_logged:
            self._cut_off_logged = True
            _log.warning(
                "a push subscriber was cut off (overflow DISCONNECT): its buffer of %d"
                " messages overflowed",
                self._subscription.size,
            )

    async def aclose(self) -> None:
        """Unsubscribe; messages still buffered are discarded, counted as dropped."""
        if self._subscription.end is End.CUT_OFF:
            self._log_cut_off()
        _wake(self._subscription.close())

    def statistics(self) -> SubscriberStatistics:
        return self._subscription.statistics()

"""The parts poll and long poll share: a channel over a retention log (whose state lives in the
core), and a subscriber in this process that keeps its own cursor."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.lowlevel import checkpoint

from ._common import AsyncCloseable, check_sizer
from ._core import (
    Batch,
    ChannelStatistics,
    LagHistogram,
    LogState,
    Message,
    Retention,
    Start,
    Wait,
    check_epoch,
    check_optional_count,
    lag_histogram,
    measure,
    new_epoch,
)
from ._cursor import CursorSubscriber
from ._defaults import (
    COOPERATIVE_BUDGET,
)
from ._exceptions import ChannelClosed
from ._protocols import Fit

__all__ = ["LogChannel", "LogSubscriber"]

T = TypeVar("T")

_DEFAULT_RETENTION = Retention()


def _check_retention(retention: object) -> Retention:
    if not isinstance(retention, Retention):
        raise TypeError(f"retention must be a Retention, not {type(retention).__name__}")
    return retention


class _Waiter(Wait):
    """A long poll waiting for its thresholds, and what wakes it: an event, or a cancel scope
    around whatever else the poll awaits meanwhile (see ``LongPollChannel._wait_and_answer``)."""

    __slots__ = ("event", "scope")

    def __init__(self, offset: int, min_messages: int, min_bytes: int | None) -> None:
        super().__init__(offset, min_messages, min_bytes)
        self.event: anyio.Event | None = None
        self.scope: anyio.CancelScope | None = None

    def wake(self) -> None:
        if self.scope is not None:
            self.scope.cancel()
        elif self.event is not None:
            self.event.set()


class LogChannel(AsyncCloseable, Generic[T]):
    """A channel over a retention log: publishing appends, readers read from a cursor.

    The log, the waiting long polls, the counts and close are the log state's (``_core``); the
    channel waits, wakes and checkpoints. With ``measure_lag``, :attr:`delivery_lag` observes
    every batch answered with messages: how long its oldest message waited since its publish.
    """

    def __init__(
        self,
        retention: Retention,
        sizer: Callable[[Any], int],
        epoch: int | None,
        measure_lag: bool = False,
    ) -> None:
        epoch = new_epoch() if epoch is None else check_epoch("epoch", epoch)
        lag = lag_histogram(measure_lag)
        self._state: LogState[T, _Waiter] = LogState(_check_retention(retention), epoch, lag)
        self._sizer = check_sizer(sizer)
        self._closing: anyio.Event | None = None  # set by aclose, for wait_closed
        self._budget = COOPERATIVE_BUDGET

    @property
    def epoch(self) -> int:
        """This life of the channel: random when created, unless given. Offsets belong to it."""
        return self._state.epoch

    @property
    def retention(self) -> Retention:
        return self._state.log.retention

    @property
    def closed(self) -> bool:
        return self._state.closed

    @property
    def head(self) -> int:
        """The offset the next published message will get (the ``LATEST`` cursor)."""
        return self._state.head

    @property
    def earliest(self) -> int:
        """The oldest retained offset (the ``EARLIEST`` cursor)."""
        return self._state.earliest(time.time())

    @property
    def delivery_lag(self) -> LagHistogram | None:
        """The delivery-lag histogram, if the channel was made with ``measure_lag=True``."""
        return self._state.lag

    async def publish(self, payload: T) -> Message[T]:
        """Append ``payload`` to the log; raises ChannelClosed once the channel is closed."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        return self.publish_nowait(payload)

    def publish_nowait(self, payload: T) -> Message[T]:
        """Publish without yielding (a log append never needs to wait)."""
        size = measure(self._sizer, payload)
        state = self._state
        if state.closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message = state.log.append(payload, size, time.time())
        if state.waits.waiting:
            for waiter in state.released():
                waiter.wake()
        return message

    async def serve_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Batch[T]:
        """A plain poll as adapters serve it (see :class:`ServedLog`): what is retained from
        ``cursor`` of life ``epoch``, at once, within the caps and what ``fit`` keeps."""
        start, across = self._state.restart(cursor, epoch)
        batch = await self._poll_at_once(start, max_messages, max_bytes, fit)
        return self._state.across(batch) if across else batch

    async def wait_closed(self) -> None:
        """Return once the channel is closed (at once if it is)."""
        if self._state.closed:
            return
        if self._closing is None:
            self._closing = anyio.Event()
        await self._closing.wait()

    async def _poll_at_once(
        self,
        cursor: int | Start,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Batch[T]:
        """A plain poll (PollChannel.poll; also how a server answers a POLL on any log channel)."""
        start = self._state.fix(cursor)
        check_optional_count("max_messages", max_messages)
        check_optional_count("max_bytes", max_bytes)
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        return self._state.poll(start, max_messages, max_bytes, fit, time.time())

    async def aclose(self) -> None:
        """Close: publishing fails from now on; readers get what is retained, then the end;
        every waiting long poll answers at once, with a ``closed`` batch."""
        for waiter in self._state.close():
            waiter.wake()
        if self._closing is not None:
            self._closing.set()

    def statistics(self) -> ChannelStatistics:
        return self._state.statistics(time.time())


class LogSubscriber(CursorSubscriber[T]):
    """A cursor subscriber of a channel in this process: counted in the channel's state, its
    start fixed when it subscribes."""

    def __init__(self, state: LogState[T, Any], start: int | Start) -> None:
        super().__init__(state.resolve(start, name="start"))
        self._state = state
        self._epoch = state.epoch  # its cursor's life: a channel kept elsewhere may begin another
        state.subscribers += 1

    @property
    def cursor(self) -> int:
        """The offset this subscriber will fetch next (buffered messages come before it)."""
        return cast(int, self._cursor)  # resolved at construction

    def _pending(self) -> int:
        return self._state.pending(self.cursor)

    def _unsubscribed(self) -> None:
        self._state.subscribers -= 1

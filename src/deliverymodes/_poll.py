"""PollChannel: readers ask with a cursor and are answered at once, with messages or empty.

Also the parts poll and long poll share: the channel over a retention log, and the subscriber
that keeps its own cursor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import anyio
import attrs
from anyio.lowlevel import checkpoint

from ._common import AsyncCloseable, check_sizer
from ._core import (
    EARLIEST,
    LATEST,
    Batch,
    ChannelStatistics,
    Message,
    Read,
    Release,
    ReleaseQueue,
    Retention,
    RetentionLog,
    Start,
    check_epoch,
    check_optional_count,
    check_seconds,
    default_sizer,
    measure,
    new_epoch,
    restart_point,
)
from ._cursor import CursorSubscriber
from ._defaults import (
    COOPERATIVE_BUDGET,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_POLL_INTERVAL,
)
from ._exceptions import ChannelClosed
from ._protocols import Fit

__all__ = [
    "LogChannel",
    "LogSubscriber",
    "PollChannel",
    "PollSubscriber",
]

T = TypeVar("T")

_DEFAULT_RETENTION = Retention()


def _check_retention(retention: object) -> Retention:
    if not isinstance(retention, Retention):
        raise TypeError(f"retention must be a Retention, not {type(retention).__name__}")
    return retention


class LogChannel(AsyncCloseable, Generic[T]):
    """A channel over a retention log: publishing appends, readers read from a cursor."""

    def __init__(
        self, retention: Retention, sizer: Callable[[Any], int], epoch: int | None
    ) -> None:
        self._epoch = new_epoch() if epoch is None else check_epoch("epoch", epoch)
        self._log: RetentionLog[T] = RetentionLog(_check_retention(retention))
        self._sizer = check_sizer(sizer)
        self._closed = False
        self._closing: anyio.Event | None = None  # set by aclose, for sleeping readers
        self._budget = COOPERATIVE_BUDGET
        self._subscribers = 0
        # Long polls waiting (always empty for plain polls).
        self._waiters: ReleaseQueue[Any] = ReleaseQueue()
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
        self._polls = 0
        self._empty_polls = 0

    @property
    def epoch(self) -> int:
        """This life of the channel: random when created, unless given. Offsets belong to it."""
        return self._epoch

    @property
    def retention(self) -> Retention:
        return self._log.retention

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def head(self) -> int:
        """The offset the next published message will get (the ``LATEST`` cursor)."""
        return self._log.head

    @property
    def earliest(self) -> int:
        """The oldest retained offset (the ``EARLIEST`` cursor)."""
        self._log.evict_expired(time.time())
        return self._log.first

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
        if self._closed:
            raise ChannelClosed("cannot publish to a closed channel")
        message = self._log.append(payload, size, time.time())
        if self._waiters.waiting:
            self._wake_waiters()
        return message

    def _wake_waiters(self) -> None:
        """A message was appended while long polls wait (LongPollChannel wakes them)."""

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
        start, across = self._restart(cursor, epoch)
        batch = await self._poll_at_once(start, max_messages, max_bytes, fit)
        return self._across(batch) if across else batch

    async def wait_closed(self) -> None:
        """Return once the channel is closed (at once if it is)."""
        if self._closed:
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
        start = self._resolve(cursor)
        check_optional_count("max_messages", max_messages)
        check_optional_count("max_bytes", max_bytes)
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        return self._answer(self._read(start, max_messages, max_bytes, fit), None)

    def _resolve(self, cursor: int | Start) -> int | Start:
        """Check ``cursor`` now; EARLIEST stays symbolic until the read, LATEST is fixed now."""
        offset = self._log.resolve(cursor)
        return EARLIEST if cursor is EARLIEST else offset

    def _answer(self, read: Read[T], reason: Release | None) -> Batch[T]:
        count = len(read.messages)
        self._polls += 1
        if not count:
            self._empty_polls += 1
        self._delivered += count
        self._missed += read.missed
        closed = self._closed and read.cursor == self._log.head
        return Batch(read.messages, read.cursor, read.missed, closed, reason, self._epoch)

    def _restart(self, cursor: int | Start, epoch: int | None) -> tuple[int | Start, bool]:
        """Where a read from ``cursor`` of life ``epoch`` starts here, and whether it crosses
        from another life (see :func:`restart_point`)."""
        if epoch is not None:
            check_epoch("epoch", epoch)
        return restart_point(cursor, epoch, self._epoch)

    def _across(self, batch: Batch[T]) -> Batch[T]:
        """``batch``, answering a read from another life: an unknown number was lost before."""
        self._missed_unknown += 1
        return attrs.evolve(batch, missed_unknown=True)

    def _read(
        self,
        cursor: int | Start,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Read[T]:
        log = self._log
        log.evict_expired(time.time())
        read = log.read(log.resolve(cursor), max_messages, max_bytes)
        if fit is not None and read.messages:
            keep = fit(read.messages)
            if keep < len(read.messages):
                read = Read(read.messages[:keep], read.messages[keep].offset, read.missed)
        return read

    async def _sleep_unless_closed(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the channel closes meanwhile (a poll reader's pause)."""
        with anyio.move_on_after(seconds):
            await self.wait_closed()

    async def aclose(self) -> None:
        """Close: publishing fails from now on; readers get what is retained, then the end."""
        self._close()

    def _close(self) -> None:
        self._closed = True
        if self._closing is not None:
            self._closing.set()

    def statistics(self) -> ChannelStatistics:
        log = self._log
        log.evict_expired(time.time())
        return ChannelStatistics(
            published=log.head,
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            subscribers=self._subscribers,
            retained_messages=log.retained_messages,
            retained_bytes=log.retained_bytes,
            polls=self._polls,
            empty_polls=self._empty_polls,
            waiting_polls=len(self._waiters),
        )


class PollChannel(LogChannel[T]):
    """Poll: ``poll(cursor)`` answers at once with what is retained from ``cursor``, maybe nothing.

    Empty answers and the number of requests are the price of polling; ``statistics()`` counts
    both. Retention bounds the history kept (see :class:`Retention`).
    """

    def __init__(
        self,
        retention: Retention = _DEFAULT_RETENTION,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        epoch: int | None = None,
    ) -> None:
        super().__init__(retention, sizer, epoch)

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> Batch[T]:
        """What is retained from ``cursor``, at once, within the caps.

        ``epoch``: the life ``cursor`` belongs to (a batch's ``epoch``); from another life, the
        answer starts at this life's first offset with ``missed_unknown`` set.
        """
        start, across = self._restart(cursor, epoch)
        batch = await self._poll_at_once(start, max_messages, max_bytes)
        return self._across(batch) if across else batch

    def subscribe(
        self,
        start: int | Start = LATEST,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> PollSubscriber[T]:
        """A subscriber with its own cursor, from ``start``, polling every ``poll_interval`` s."""
        return PollSubscriber(
            self,
            start,
            poll_interval=poll_interval,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )


class LogSubscriber(CursorSubscriber[T]):
    """A cursor subscriber of a channel in this process: its start is fixed when it subscribes."""

    def __init__(self, channel: LogChannel[T], start: int | Start) -> None:
        super().__init__(channel._log.resolve(start, name="start"))
        self._log_channel = channel
        channel._subscribers += 1

    @property
    def cursor(self) -> int:
        """The offset this subscriber will fetch next (buffered messages come before it)."""
        return cast(int, self._cursor)  # resolved at construction

    def _pending(self) -> int:
        return self._log_channel._log.pending(self.cursor)[0]

    def _unsubscribed(self) -> None:
        self._log_channel._subscribers -= 1


class PollSubscriber(LogSubscriber[T]):
    """Polls its channel; after an empty answer it sleeps ``poll_interval`` s, then asks again."""

    def __init__(
        self,
        channel: PollChannel[T],
        start: int | Start,
        *,
        poll_interval: float,
        max_messages: int | None,
        max_bytes: int | None,
    ) -> None:
        interval = check_seconds("poll_interval", poll_interval)
        check_optional_count("max_messages", max_messages)
        check_optional_count("max_bytes", max_bytes)
        super().__init__(channel, start)
        self._channel = channel
        self.poll_interval = interval
        self._max_messages = max_messages
        self._max_bytes = max_bytes

    async def _fetch(self) -> Batch[T]:
        return await self._channel.poll(
            self.cursor, max_messages=self._max_messages, max_bytes=self._max_bytes
        )

    async def _idle(self) -> None:
        await self._channel._sleep_unless_closed(self.poll_interval)

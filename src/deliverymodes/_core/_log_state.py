"""The state of a poll or long-poll channel: the retention log, the long polls waiting on it,
close, and the counts behind its statistics.

The anyio endpoints (``PollChannel``, ``LongPollChannel`` and their subscribers) only wait and
wake: after a publish appends to ``log``, :meth:`LogState.released` says which waiting long polls
it released, and a close returns them all; the caller wakes them. Every method takes the
wall-clock time it needs as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from ._epoch import check_epoch, restart_point
from ._lag import LagHistogram
from ._log import Read, RetentionLog
from ._release import release_reason
from ._values import (
    EARLIEST,
    Batch,
    Batching,
    ChannelStatistics,
    Message,
    Release,
    Retention,
    Start,
)
from ._waiting import ReleaseQueue, Wait

__all__ = ["LogState", "min_messages_of"]

T = TypeVar("T")
W = TypeVar("W", bound=Wait)

# What a read keeps of the messages it found (the serving protocols' ``Fit``): how many of them,
# from the first, fit the reader's transport.
Fit = Callable[[tuple[Message[Any], ...]], int]


def min_messages_of(batching: Batching) -> int:
    """The number of messages that releases a long poll: ``min_messages``, capped by
    ``max_messages`` (a batch could never hold more)."""
    if batching.max_messages is None:
        return batching.min_messages
    return min(batching.min_messages, batching.max_messages)


class LogState(Generic[T, W]):
    """A log channel: the messages retained (``log``), the long polls waiting on it (``waits``,
    each a ``W``), close, and the counts behind its statistics.

    With a ``lag`` histogram, every batch answered with messages observes how long its oldest
    message waited since its publish.
    """

    def __init__(self, retention: Retention, epoch: int, lag: LagHistogram | None = None) -> None:
        self.log: RetentionLog[T] = RetentionLog(retention)
        self.epoch = epoch
        self.lag = lag
        self.closed = False
        self.subscribers = 0  # subscriptions open now
        self.waits: ReleaseQueue[W] = ReleaseQueue()  # long polls waiting
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
        self._polls = 0
        self._empty_polls = 0

    @property
    def head(self) -> int:
        """The offset the next published message will get (the ``LATEST`` cursor)."""
        return self.log.head

    def earliest(self, now: float) -> int:
        """The oldest retained offset at ``now`` (the ``EARLIEST`` cursor)."""
        self.log.evict_expired(now)
        return self.log.first

    # -- writing ---------------------------------------------------------------------------------

    # A publish is ``log.append`` (the hot path, not wrapped), then ``released()`` while
    # ``waits.waiting``: the log evicts, the queue finds which waiting polls the append released.

    def released(self) -> list[W]:
        """The waiting long polls that what was appended since has released, each with its
        ``reason``."""
        return self.waits.released(self.log)

    def close(self) -> list[W]:
        """Close (the caller publishes no more): returns the waiting long polls, each released
        as CLOSED."""
        self.closed = True
        return self.waits.release_all(Release.CLOSED)

    # -- cursors ---------------------------------------------------------------------------------

    def resolve(self, cursor: int | Start, *, name: str = "cursor") -> int:
        """The offset ``cursor`` stands for now, checked to be in range."""
        return self.log.resolve(cursor, name=name)

    def fix(self, cursor: int | Start) -> int | Start:
        """``cursor`` checked now, ``LATEST`` fixed to the head now; ``EARLIEST`` stays symbolic
        until the read."""
        offset = self.log.resolve(cursor)
        return EARLIEST if cursor is EARLIEST else offset

    def restart(self, cursor: int | Start, epoch: int | None) -> tuple[int | Start, bool]:
        """Where a read from ``cursor`` of life ``epoch`` starts here, and whether it crosses
        from another life (see :func:`restart_point`)."""
        if epoch is not None:
            check_epoch("epoch", epoch)
        return restart_point(cursor, epoch, self.epoch)

    def pending(self, cursor: int) -> int:
        """Messages retained at or after ``cursor``."""
        return self.log.pending(cursor)[0]

    # -- reading ---------------------------------------------------------------------------------

    def poll(
        self,
        cursor: int | Start,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None,
        now: float,
    ) -> Batch[T]:
        """A plain poll's answer: what is retained from ``cursor``, within the caps."""
        return self._answer(self._read(cursor, max_messages, max_bytes, fit, now), None, now)

    def long_poll_now(
        self, cursor: int | Start, batching: Batching, fit: Fit | None, now: float
    ) -> Batch[T] | None:
        """A long poll's answer if it need not wait, else None (nothing is counted)."""
        offset = self.log.resolve(cursor)
        self.log.evict_expired(now)
        reason = self._release(
            offset, min_messages_of(batching), batching.min_bytes, batching.max_wait == 0
        )
        if reason is None:
            return None
        return self._answer(
            self._read(offset, batching.max_messages, batching.max_bytes, fit, now), reason, now
        )

    def start_waiting(self, wait: W) -> bool:
        """Wait for ``wait``'s thresholds unless they are met now; False if they are (then it
        does not wait: the queue only notices thresholds met by appends made while it waits)."""
        if self._release(wait.offset, wait.min_messages, wait.min_bytes, False) is not None:
            return False
        self.waits.add(wait, self.log)
        return True

    def stop_waiting(self, wait: W) -> None:
        """``wait`` no longer waits (answered, timed out or cancelled)."""
        self.waits.discard(wait)

    def long_poll_after(self, wait: W, batching: Batching, fit: Fit | None, now: float) -> Batch[T]:
        """A long poll's answer once ``wait`` is over: released (its ``reason``), or timed out."""
        reason = (
            self._release(wait.offset, wait.min_messages, wait.min_bytes, wait.reason is None)
            or wait.reason  # thresholds met at wake-up, then retention evicted some
            or Release.MAX_WAIT
        )
        read = self._read(wait.offset, batching.max_messages, batching.max_bytes, fit, now)
        return self._answer(read, reason, now)

    def across(self, batch: Batch[T]) -> Batch[T]:
        """``batch``, answering a read from another life: an unknown number was lost before."""
        self._missed_unknown += 1
        return attrs.evolve(batch, missed_unknown=True)

    def _release(
        self, offset: int, min_messages: int, min_bytes: int | None, timed_out: bool
    ) -> Release | None:
        pending_messages, pending_bytes = self.log.pending(offset)
        return release_reason(
            pending_messages,
            pending_bytes,
            min_messages=min_messages,
            min_bytes=min_bytes,
            timed_out=timed_out,
            closed=self.closed,
        )

    def _read(
        self,
        cursor: int | Start,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None,
        now: float,
    ) -> Read[T]:
        log = self.log
        log.evict_expired(now)
        read = log.read(log.resolve(cursor), max_messages, max_bytes)
        if fit is not None and read.messages:
            keep = fit(read.messages)
            if keep < len(read.messages):
                read = Read(read.messages[:keep], read.messages[keep].offset, read.missed)
        return read

    def _answer(self, read: Read[T], reason: Release | None, now: float) -> Batch[T]:
        count = len(read.messages)
        self._polls += 1
        if not count:
            self._empty_polls += 1
        elif self.lag is not None:
            self.lag.observe(now - read.messages[0].published_at)
        self._delivered += count
        self._missed += read.missed
        closed = self.closed and read.cursor == self.log.head
        return Batch(read.messages, read.cursor, read.missed, closed, reason, self.epoch)

    def statistics(self, now: float) -> ChannelStatistics:
        log = self.log
        log.evict_expired(now)
        return ChannelStatistics(
            published=log.head,
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            subscribers=self.subscribers,
            retained_messages=log.retained_messages,
            retained_bytes=log.retained_bytes,
            polls=self._polls,
            empty_polls=self._empty_polls,
            waiting_polls=len(self.waits),
        )

"""Which waiting long polls a new message releases, without looking at every one of them.

Each waiting long poll knows, when it starts to wait, the head offset at which its
``min_messages`` is met and (if set) the running byte total at which its ``min_bytes`` is met.
Two heaps ordered by those marks let an append release exactly the polls whose mark it reached:
the cost per append is O(released · log waiting), not O(waiting). A mark can be too early (the
log evicted messages the poll counted on; missed messages do not count), never too late, so a
popped poll is checked against the log and put back with a later mark if it is not ready.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Generic, TypeVar

from ._log import RetentionLog
from ._release import release_reason
from ._values import Release

__all__ = ["ReleaseQueue", "Wait"]

# Cancelled and timed-out polls leave their heap entries behind; rebuild the heaps when there
# are more of those than this many plus the live ones.
_STALE_SLACK = 64


class Wait:
    """One long poll waiting from ``offset`` for its thresholds; ``reason`` once released."""

    __slots__ = ("active", "min_bytes", "min_messages", "offset", "reason")

    def __init__(self, offset: int, min_messages: int, min_bytes: int | None) -> None:
        self.offset = offset
        self.min_messages = min_messages
        self.min_bytes = min_bytes
        self.reason: Release | None = None
        self.active = False


W = TypeVar("W", bound=Wait)
_Entry = tuple[int, int, Any]  # (mark, tie-breaker, wait)


class ReleaseQueue(Generic[W]):
    """The long polls waiting on one log, ordered by when new messages will release them."""

    def __init__(self, stale_slack: int = _STALE_SLACK) -> None:
        self._stale_slack = stale_slack
        self._by_head: list[_Entry] = []
        self._by_bytes: list[_Entry] = []
        self.waiting = 0  # how many polls are waiting (an attribute: it is read on every append)
        self._order = itertools.count()

    def __len__(self) -> int:
        """How many polls are waiting."""
        return self.waiting

    def add(self, wait: W, log: RetentionLog[Any]) -> None:
        """Start waiting (the caller has checked that ``wait`` is not ready now)."""
        wait.active = True
        self.waiting += 1
        self._push_head(wait, log)
        if wait.min_bytes is not None:
            self._push_bytes(wait, log)

    def discard(self, wait: W) -> None:
        """Stop waiting (timed out, cancelled, or already released: then nothing happens)."""
        if not wait.active:
            return
        wait.active = False
        self.waiting -= 1
        self._drop_stale()

    @property
    def entries(self) -> int:
        """Heap entries held, stale ones included: at most ``2 * waiting + stale_slack``."""
        return len(self._by_head) + len(self._by_bytes)

    def _drop_stale(self) -> None:
        """Rebuild the heaps without the entries of polls no longer waiting, once those are
        more than the live ones (a released poll may still sit in its other heap)."""
        if len(self._by_head) + len(self._by_bytes) > 2 * self.waiting + self._stale_slack:
            self._by_head = [entry for entry in self._by_head if entry[2].active]
            self._by_bytes = [entry for entry in self._by_bytes if entry[2].active]
            heapq.heapify(self._by_head)
            heapq.heapify(self._by_bytes)

    def released(self, log: RetentionLog[Any]) -> list[W]:
        """The polls whose thresholds ``log`` now meets, each with its ``reason`` set."""
        ready: list[W] = []
        by_head = self._by_head
        head = log.head
        while by_head and by_head[0][0] <= head:
            wait = heapq.heappop(by_head)[2]
            if wait.active and not self._release(wait, log, ready):
                self._push_head(wait, log)
        by_bytes = self._by_bytes
        if by_bytes:
            total = log.bytes_before(log.head)
            while by_bytes and by_bytes[0][0] <= total:
                wait = heapq.heappop(by_bytes)[2]
                if wait.active and not self._release(wait, log, ready):
                    self._push_bytes(wait, log)
        if ready:
            self._drop_stale()
        return ready

    def release_all(self, reason: Release) -> list[W]:
        """Every waiting poll, released for ``reason`` (the channel closed)."""
        waits: list[W] = [entry[2] for entry in self._by_head if entry[2].active]
        for wait in waits:
            wait.reason = reason
            wait.active = False
        self._by_head.clear()
        self._by_bytes.clear()
        self.waiting = 0
        return waits

    def _release(self, wait: W, log: RetentionLog[Any], ready: list[W]) -> bool:
        count, nbytes = log.pending(wait.offset)
        reason = release_reason(
            count,
            nbytes,
            min_messages=wait.min_messages,
            min_bytes=wait.min_bytes,
            timed_out=False,
            closed=False,
        )
        if reason is None:
            return False
        wait.reason = reason
        wait.active = False
        self.waiting -= 1
        ready.append(wait)
        return True

    def _push_head(self, wait: W, log: RetentionLog[Any]) -> None:
        start = max(wait.offset, log.first)
        heapq.heappush(self._by_head, (start + wait.min_messages, next(self._order), wait))

    def _push_bytes(self, wait: W, log: RetentionLog[Any]) -> None:
        assert wait.min_bytes is not None
        start = max(wait.offset, log.first)
        mark = log.bytes_before(start) + wait.min_bytes
        heapq.heappush(self._by_bytes, (mark, next(self._order), wait))

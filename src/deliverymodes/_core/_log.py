"""The retention log behind poll and long-poll channels: messages by offset, within limits."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate, islice
from typing import Generic, TypeVar

from ._values import Message, Retention, Start, make_message

__all__ = ["Read", "RetentionLog"]

T = TypeVar("T")

# Evicted entries stay at the front of the lists until they are at least this many and at least
# half of them; then one slice deletion drops them all (amortised O(1) per message).
_COMPACT_AFTER = 1024


class Read(Generic[T]):
    """What one read of the log found: the messages, the next cursor and how many were missed."""

    __slots__ = ("cursor", "messages", "missed")

    def __init__(self, messages: tuple[Message[T], ...], cursor: int, missed: int) -> None:
        self.messages = messages
        self.cursor = cursor
        self.missed = missed


class RetentionLog(Generic[T]):
    """Messages in offset order, evicted oldest first to stay within a :class:`Retention`.

    Pure logic: no I/O, no waiting, no clock of its own (callers pass ``now``, wall-clock seconds).
    """

    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self._messages: list[Message[T]] = []
        # _ends[i]: total bytes of every message ever appended up to and including _messages[i].
        self._ends: list[int] = []
        self._start = 0  # index in _messages of the oldest retained message
        self._base = 0  # offset of _messages[0]
        self._bytes_before_base = 0  # total bytes of the messages before _messages[0]

    # -- positions -------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The offset the next appended message will get."""
        return self._base + len(self._messages)

    @property
    def first(self) -> int:
        """The oldest retained offset (equal to ``head`` when nothing is retained)."""
        return self._base + self._start

    @property
    def retained_messages(self) -> int:
        return len(self._messages) - self._start

    @property
    def retained_bytes(self) -> int:
        return self._bytes_at(len(self._messages)) - self._bytes_at(self._start)

    def _bytes_at(self, index: int) -> int:
        """Total bytes of all messages before list index ``index``."""
        return self._ends[index - 1] if index else self._bytes_before_base

    def bytes_before(self, offset: int) -> int:
        """Total bytes of all messages ever appended before ``offset`` (first <= offset <= head)."""
        return self._bytes_at(offset - self._base)

    def resolve(self, cursor: int | Start, *, name: str = "cursor") -> int:
        """Turn a cursor or start position into an offset, checking it is in range."""
        if cursor is Start.EARLIEST:
            return self.first
        if cursor is Start.LATEST:
            return self.head
        if not isinstance(cursor, int) or isinstance(cursor, bool):
            kind = type(cursor).__name__
            raise TypeError(f"{name} must be an int, EARLIEST or LATEST, not {kind}")
        if cursor < 0:
            raise ValueError(f"{name} must be >= 0, got {cursor}")
        if cursor > self.head:
            raise ValueError(f"{name} {cursor} is beyond the head of the channel ({self.head})")
        return cursor

    # -- writing ---------------------------------------------------------------------------------

    def append(self, payload: T, size: int, now: float) -> Message[T]:
        """Append a message and evict what no longer fits; returns the message."""
        # The publish hot path of every in-memory log channel: kept in one function.
        messages = self._messages
        ends = self._ends
        message = make_message(self._base + len(messages), payload, size, now)
        ends.append((ends[-1] if ends else self._bytes_before_base) + size)
        messages.append(message)
        retention = self.retention
        max_messages = retention.max_messages
        if max_messages is not None:
            start = len(messages) - max_messages
            if start > self._start:
                self._start = start
                if start >= _COMPACT_AFTER and 2 * start >= len(messages):
                    self._compact()
        if retention.max_bytes is not None or retention.max_age is not None:
            self._evict_beyond(now)
        return message

    def _evict_beyond(self, now: float) -> None:
        """Evict what exceeds ``max_bytes`` or ``max_age``."""
        retention = self.retention
        if retention.max_bytes is not None and self.retained_bytes > retention.max_bytes:
            # Keep the shortest suffix of messages whose bytes fit: the new oldest message is the
            # one after the first whose running total reaches ``limit``.
            limit = self._bytes_at(len(self._messages)) - retention.max_bytes
            self._evict_to(bisect_right(self._ends, limit - 1, self._start) + 1)
        if retention.max_age is not None:
            self.evict_expired(now)

    def restart_at(self, offset: int) -> None:
        """Forget every retained message and go on from ``offset``: for a log that mirrors one
        kept elsewhere, which lost the messages before ``offset`` (or began a new life there)."""
        self._messages.clear()
        self._ends.clear()
        self._start = 0
        self._base = offset
        self._bytes_before_base = 0

    def append_at(self, message: Message[T], now: float) -> None:
        """Append ``message``, made elsewhere at offset :attr:`head`, and evict what no longer
        fits (a mirror's append: the message keeps its own publish time)."""
        if message.offset != self.head:
            raise ValueError(f"message at offset {message.offset} appended at {self.head}")
        self._messages.append(message)
        ends = self._ends
        ends.append((ends[-1] if ends else self._bytes_before_base) + message.size)
        max_messages = self.retention.max_messages
        if max_messages is not None and len(self._messages) - max_messages > self._start:
            self._evict_to(len(self._messages) - max_messages)
        self._evict_beyond(now)

    def extend_at(self, messages: list[Message[T]], now: float) -> None:
        """Append ``messages``, made elsewhere at consecutive offsets from :attr:`head`, and
        evict what no longer fits (as :meth:`append_at` for each, in one go)."""
        if not messages:
            return
        head = self.head
        if messages[0].offset != head or messages[-1].offset != head + len(messages) - 1:
            raise ValueError(
                f"messages at offsets {messages[0].offset}-{messages[-1].offset} appended at {head}"
            )
        ends = self._ends
        total = ends[-1] if ends else self._bytes_before_base
        sizes = [message.size for message in messages]
        ends.extend(islice(accumulate(sizes, initial=total), 1, None))
        self._messages.extend(messages)
        max_messages = self.retention.max_messages
        if max_messages is not None and len(self._messages) - max_messages > self._start:
            self._evict_to(len(self._messages) - max_messages)
        self._evict_beyond(now)

    def evict_expired(self, now: float) -> int:
        """Evict messages older than ``max_age`` at wall-clock time ``now``; returns how many."""
        max_age = self.retention.max_age
        if max_age is None:
            return 0
        oldest_kept = now - max_age
        index = self._start
        messages = self._messages
        while index < len(messages) and messages[index].published_at < oldest_kept:
            index += 1
        evicted = index - self._start
        if evicted:
            self._evict_to(index)
        return evicted

    def _evict_to(self, index: int) -> None:
        if index > self._start:
            self._start = min(index, len(self._messages))
        if self._start >= _COMPACT_AFTER and 2 * self._start >= len(self._messages):
            self._compact()

    def _compact(self) -> None:
        """Drop the evicted entries from the front of the lists in one go."""
        self._bytes_before_base = self._bytes_at(self._start)
        self._base += self._start
        del self._messages[: self._start]
        del self._ends[: self._start]
        self._start = 0

    # -- reading ---------------------------------------------------------------------------------

    def pending(self, cursor: int) -> tuple[int, int]:
        """Messages and bytes retained at or after ``cursor`` (missed ones do not count)."""
        index = max(cursor - self._base, self._start)
        count = len(self._messages) - index
        if count <= 0:
            return 0, 0
        return count, self._bytes_at(len(self._messages)) - self._bytes_at(index)

    def read(self, cursor: int, max_messages: int | None, max_bytes: int | None) -> Read[T]:
        """Read from ``cursor`` (already resolved) within the caps.

        At most ``max_messages`` messages and ``max_bytes`` bytes, except that a single message
        larger than ``max_bytes`` is returned alone, so that a reader always makes progress.
        """
        missed = max(0, self.first - cursor)
        begin = cursor - self._base + missed
        end = len(self._messages)
        if max_messages is not None and end - begin > max_messages:
            end = begin + max_messages
        if max_bytes is not None and begin < end:
            limit = self._bytes_at(begin) + max_bytes
            end = max(bisect_right(self._ends, limit, begin, end), begin + 1)
        messages = tuple(self._messages[begin:end])
        return Read(messages, cursor + missed + len(messages), missed)

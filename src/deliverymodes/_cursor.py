"""The bases of every subscriber that reads by cursor: ``CursorSubscriber`` (local, remote over
TCP or HTTP: a buffer of fetched messages, one fetch at a time, the counts, and the end of the
channel) and ``RemoteCursorSubscriber`` (what remote ones add: the ``LATEST`` fix at open, asking
again after a dropped connection, the pause between polls)."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import deque
from collections.abc import Iterator
from typing import TypeVar

import anyio
from anyio.lowlevel import checkpoint
from typing_extensions import Self

from ._common import SubscriberIteration
from ._core import LATEST, Batch, Message, Start, SubscriberStatistics
from ._defaults import COOPERATIVE_BUDGET
from ._exceptions import ChannelClosed, ConnectionLost

__all__ = ["CursorSubscriber", "RemoteCursorSubscriber"]

_log = logging.getLogger("deliverymodes.client")

T = TypeVar("T")


class CursorSubscriber(SubscriberIteration[T]):
    """A subscriber that keeps its own cursor and fetches batches from somewhere (``_fetch``).

    The fetching, buffering, idling and counting shared by local and remote poll and long-poll
    subscribers.
    """

    def __init__(self, start: int | Start) -> None:
        self._cursor: int | Start = start
        self._buffer: deque[Message[T]] = deque()
        self._ended = False  # a closed batch arrived: after the buffer, the end
        self._closed = False
        self._fetching: anyio.Event | None = None  # set when the fetch under way is done
        self._scope: anyio.CancelScope | None = None  # the fetch under way, cancelled by aclose
        self._budget = COOPERATIVE_BUDGET
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
        self._epoch: int | None = None  # the life of the channel its cursor belongs to, once known
        self._polls = 0
        self._empty_polls = 0

    @property
    def cursor(self) -> int | Start:
        """The offset this subscriber will fetch next (buffered messages come before it)."""
        return self._cursor

    def _pending(self) -> int:
        """Messages waiting past the cursor, where that is known without asking (for ``lag``)."""
        return 0

    def _unsubscribed(self) -> None:
        """The subscription was closed (hook for the channel's count)."""

    @abstractmethod
    async def _fetch(self) -> Batch[T]:
        """One request to the channel from ``self._cursor``."""

    async def _idle(self) -> None:
        """What to do after an empty answer before asking again."""

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelClosed("this subscription is closed")

    def _took(self, batch: Batch[T]) -> None:
        self._cursor = batch.cursor
        self._epoch = batch.epoch or self._epoch
        self._missed += batch.missed
        self._missed_unknown += batch.missed_unknown
        self._polls += 1
        if not batch.messages:
            self._empty_polls += 1
        if batch.closed:
            self._ended = True

    async def poll(self) -> Batch[T]:
        """One request from this subscriber's cursor (buffered messages are returned first)."""
        self._check_open()
        if self._buffer:
            messages = tuple(self._buffer)
            self._buffer.clear()
            self._delivered += len(messages)
            return Batch(messages, messages[-1].offset + 1, 0, self._ended)
        batch = await self._fetch_exclusively(idle=False)
        if batch is None:
            return await self.poll()
        self._delivered += len(batch.messages)
        return batch

    async def _fetch_exclusively(self, *, idle: bool) -> Batch[T] | None:
        """Fetch and take a batch (then idle if it was empty and ``idle``).

        Returns None if another task's fetch was under way (it was awaited instead). One fetch at a
        time keeps two tasks reading one subscriber from receiving the same messages twice.
        """
        if self._fetching is not None:
            await self._fetching.wait()
            return None
        self._fetching = done = anyio.Event()
        try:
            with anyio.CancelScope() as self._scope:
                batch = await self._fetch()
                self._took(batch)
                if idle and not batch.messages and not batch.closed:
                    await self._idle()
                return batch
            self._check_open()  # only aclose() cancels the scope
            return None
        finally:
            self._scope = None
            self._fetching = None
            done.set()

    async def receive(self) -> Message[T]:
        """The next message, fetching batches as needed. Raises ChannelClosed at the end."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        buffer = self._buffer
        while not buffer:
            self._check_open()
            if self._ended:
                raise ChannelClosed("the channel is closed")
            batch = await self._fetch_exclusively(idle=True)
            if batch is not None:
                buffer.extend(batch.messages)
        self._delivered += 1
        return buffer.popleft()

    async def aclose(self) -> None:
        """End the subscription; buffered messages are discarded, a fetch under way is cut."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._unsubscribed()
        if self._scope is not None:
            self._scope.cancel()

    def statistics(self) -> SubscriberStatistics:
        pending = 0 if self._closed else self._pending()
        return SubscriberStatistics(
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            lag=len(self._buffer) + pending,
            polls=self._polls,
            empty_polls=self._empty_polls,
        )


class RemoteCursorSubscriber(CursorSubscriber[T]):
    """A cursor subscriber reading a channel in another process, over TCP or HTTP.

    ``async with`` fixes a ``LATEST`` start (so it sees everything published from then on); a
    request that fails because the connection dropped is made again from the same cursor, after
    the pauses of the transport's reconnection policy, so nothing is lost or read twice; after
    an empty answer it waits ``poll_interval`` seconds (None: asks again at once, a long poll).
    ``lag`` counts the messages fetched and not yet received: what the server retains past the
    cursor is not known without asking.
    """

    def __init__(self, start: int | Start, poll_interval: float | None) -> None:
        super().__init__(start)
        self.poll_interval = poll_interval

    async def __aenter__(self) -> Self:
        """Fix a LATEST start now, so that the subscription sees everything from this point."""
        if self._cursor is LATEST:
            self._cursor, self._epoch = await self._head()
        return self

    @abstractmethod
    async def _head(self) -> tuple[int, int | None]:
        """The channel's next offset and its epoch: where a ``LATEST`` start begins."""

    @abstractmethod
    async def _request(self) -> Batch[T]:
        """One request from ``self._cursor`` (of life ``self._epoch``)."""

    @abstractmethod
    def _pauses(self) -> Iterator[float]:
        """The pause before each new attempt after a dropped connection; none left: give up."""

    async def _fetch(self) -> Batch[T]:
        pauses: Iterator[float] | None = None
        while True:
            try:
                return await self._request()
            except ConnectionLost as error:
                pauses = pauses or self._pauses()
                pause = next(pauses, None)
                if pause is None:
                    _log.warning("gave up asking again from cursor %s: %s", self._cursor, error)
                    raise
                _log.info("a request failed (%s): asking again in %.2f s", error, pause)
            await anyio.sleep(pause)

    async def _idle(self) -> None:
        if self.poll_interval is not None:
            await anyio.sleep(self.poll_interval)

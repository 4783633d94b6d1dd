"""The base of remote subscribers whose messages come to them (a push subscription over TCP, an
HTTP event stream): a buffer the transport fills, the counts, and the end after the buffer."""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from typing import Generic, TypeVar

from anyio.lowlevel import checkpoint

from ._common import SubscriberIteration
from ._core import Message, SubscriberStatistics
from ._defaults import COOPERATIVE_BUDGET
from ._exceptions import ChannelClosed

__all__ = ["PushedSubscriber"]

T = TypeVar("T")
Item = TypeVar("Item")  # what the transport buffers: a message, or its bytes still to decode


class PushedSubscriber(SubscriberIteration[T], Generic[T, Item]):
    """A subscriber that buffers what its transport brings and hands it over in order.

    ``receive()`` empties the buffer before it raises the end (``_ended``: the channel closed,
    the server cut it off, the connection could not be made again). ``lag`` is the buffer: what
    the transport brought and the application has not received; what the server still holds for
    it is not known without asking. ``polls`` and ``empty_polls`` count the requests that
    (re)opened the stream, where the transport makes them.
    """

    def __init__(self) -> None:
        self._buffer: deque[Item] = deque()
        self._closed = False
        self._ended: Exception | None = None  # raised once the buffer is empty
        self._delivered = 0
        self._dropped = 0
        self._missed = 0
        self._missed_unknown = 0
        self._requests = 0
        self._empty_requests = 0
        self._budget = COOPERATIVE_BUDGET

    @abstractmethod
    async def _more(self) -> None:
        """Wait until the transport brings something: messages in the buffer, or the end."""

    @abstractmethod
    def _handed(self, item: Item) -> Message[T]:
        """``item``, taken from the buffer, as the message the application receives."""

    def _raise_if_over(self) -> None:
        if self._closed:
            raise ChannelClosed("this subscription is closed")
        if self._ended is not None:
            raise self._ended

    async def receive(self) -> Message[T]:
        """The next message; at the end, what ended the subscription (``ChannelClosed`` when the
        channel closed)."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        buffer = self._buffer
        while not buffer:
            self._raise_if_over()
            await self._more()
        item = buffer.popleft()
        self._delivered += 1
        return self._handed(item)

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            delivered=self._delivered,
            dropped=self._dropped,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            lag=len(self._buffer),
            polls=self._requests,
            empty_polls=self._empty_requests,
        )

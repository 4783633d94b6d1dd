"""Reading an ``HttpApp`` channel's Server-Sent Events, reconnecting with ``Last-Event-ID``
(needs ``httpx``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
from typing_extensions import Self

from .._common import SubscriberIteration
from .._core import Message, Start, SubscriberStatistics
from .._defaults import COOPERATIVE_BUDGET
from .._exceptions import ChannelClosed, ConnectionLost, RemoteError
from .._wire import ErrorCode
from ._answers import (
    checked,
    cursor_parameter,
    field,
    json_object,
    message,
    parsed,
    transport_errors,
)
from ._sse import ServerSentEvent, SseParser
from ._statuses import raise_for_status

if TYPE_CHECKING:
    from ._client import HttpChannel

__all__ = ["HttpEventSubscriber"]

T = TypeVar("T")

_OPENED = object()  # the event stream's "ready" event: the server is streaming from here
_NOTHING = object()  # an event that carries nothing for the reader (a gap report, say)


class HttpEventSubscriber(SubscriberIteration[T]):
    """Reads an ``HttpApp`` channel's Server-Sent Events; reconnects with ``Last-Event-ID``.

    After a drop it connects again with the pauses of the remote's ``Reconnect`` policy, each at
    least the server's ``retry:`` hint (within the policy's ``max_delay``); ``max_attempts``
    failed connections in a row end it with ``ConnectionLost``.
    """

    def __init__(self, channel: HttpChannel[T], start: int | Start) -> None:
        cursor_parameter(start)
        self._channel = channel
        self._start = start
        self._last_id: str | None = None  # the last event id seen: where a reconnection resumes
        self._stream: AsyncGenerator[Message[T] | object | None, None] | None = None
        self._ended: Exception | None = None
        self._closed = False
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
        self._requests = 0
        self._empty_requests = 0
        self._unread = 0  # messages of the last chunk read, not handed over yet
        self._budget = COOPERATIVE_BUDGET
        self.reconnects = 0
        channel._subscribers.add(self)

    async def __aenter__(self) -> Self:
        """Connect now: the server fixes the start (or subscribes) before it answers, so
        nothing published from here on is missed."""
        await self._open()
        return self

    async def _open(self) -> None:
        if self._stream is None:
            self._stream = self._events()
            if await self._stream.__anext__() is not _OPENED:
                text = "the event stream did not start with a ready event"
                raise RemoteError(ErrorCode.PROTOCOL_VIOLATION, text)

    async def _events(self) -> AsyncGenerator[Message[T] | object | None, None]:
        """Messages from the stream, reconnecting after drops; _OPENED marks each (re)connection,
        None the end."""
        remote = self._channel._remote
        hint = 0.0  # the server's retry: hint, in seconds
        pauses: Iterator[float] | None = None
        while True:
            delivered = self._delivered
            failure: Exception | None = None
            try:
                async with aclosing(self._connection()) as items:
                    async for item in items:
                        if isinstance(item, float):
                            hint = item
                            continue
                        if item is _OPENED:
                            pauses = None  # connected: count failed attempts anew
                        yield item
                        if item is None:
                            return
            except ConnectionLost as error:  # dropped, or the server is not there for now
                failure = error
            self._empty_requests += self._delivered == delivered
            pauses = pauses or remote._pauses()
            pause = next(pauses, None)
            if pause is None or remote.reconnect is None:
                lost = ConnectionLost(f"the event stream could not be read again: {failure!r}")
                self._ended = lost
                raise lost
            self.reconnects += 1
            await anyio.sleep(min(max(pause, hint), remote.reconnect.max_delay))

    async def _connection(self) -> AsyncGenerator[Message[T] | object | float | None, None]:
        """One request's items: messages, _OPENED, None (the end), or a float (a retry hint)."""
        remote = self._channel._remote
        headers, params = {"accept": "text/event-stream"}, {}
        if self._last_id is not None:
            headers["last-event-id"] = self._last_id
        else:
            params["cursor"] = cursor_parameter(self._start)
        url = f"{remote.base_url}{self._channel._path}/events"
        self._requests += 1
        with transport_errors():
            async with remote.client.stream("GET", url, headers=headers, params=params) as answer:
                if answer.status_code >= 400:
                    raise_for_status(answer.status_code, await answer.aread())
                parser = SseParser()
                chunks = cast(AsyncGenerator[bytes, None], answer.aiter_bytes())
                async with aclosing(chunks):
                    async for chunk in chunks:
                        found = checked("an event stream", partial(parser.feed, chunk))
                        self._unread = sum(event.event == "message" for event in found)
                        for event in found:
                            if event.retry is not None:
                                yield event.retry / 1000
                            item = self._take(event)
                            if item is _NOTHING:
                                continue
                            if isinstance(item, Message):
                                self._unread -= 1
                            yield item
                            if item is None:
                                return

    def _take(self, event: ServerSentEvent) -> Message[T] | object | None:
        """What one event means: a message, _OPENED, None (the end) or _NOTHING."""
        if event.event == "message":
            received: Message[T] = parsed("an event", message, event.data)
            self._last_id = event.id
            return received
        if event.event == "ready":
            parsed("a ready event", json_object, event.data)
            if event.id is not None:
                self._last_id = event.id  # a reconnection resumes here, not from LATEST again
            return _OPENED
        if event.event == "missed":
            gap = parsed("a missed event", json_object, event.data)
            missed = checked("a missed event", lambda: field(gap, "missed", int))
            unknown = gap.get("missed_unknown") is True
            self._missed += missed
            self._missed_unknown += unknown
            self._channel._missed += missed
            self._channel._missed_unknown += unknown
        elif event.event in ("closed", "disconnected"):
            return None
        return _NOTHING

    async def receive(self) -> Message[T]:
        """The next message; raises ChannelClosed once the stream says the channel closed, and
        ConnectionLost once the reconnection policy gave up."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await anyio.lowlevel.checkpoint()
        if self._closed:
            raise ChannelClosed("this subscription is closed")
        if self._ended is not None:
            raise self._ended
        await self._open()
        stream = self._stream
        assert stream is not None
        try:
            item = await stream.__anext__()
            while item is _OPENED:  # a reconnection
                item = await stream.__anext__()
        except BaseException:
            # Cancelled (or failed) while reading: drop this stream; the next receive reconnects
            # from the last event id, so nothing is lost or delivered twice.
            self._stream = None
            self._unread = 0
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        if item is None:
            self._ended = ChannelClosed("the channel is closed")
            await stream.aclose()
            raise self._ended
        self._delivered += 1
        self._channel._delivered += 1
        return cast(Message[T], item)

    async def aclose(self) -> None:
        """Stop reading; the stream is closed."""
        self._closed = True
        self._unread = 0
        self._channel._subscribers.discard(self)
        if self._stream is not None:
            await self._stream.aclose()

    def statistics(self) -> SubscriberStatistics:
        """``polls``: event-stream requests (the first and each reconnection); ``empty_polls``:
        those that ended without a message; ``lag``: messages read from the connection and not
        received yet; ``dropped`` stays 0 (a stream reports every gap as ``missed``)."""
        return SubscriberStatistics(
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            lag=self._unread,
            polls=self._requests,
            empty_polls=self._empty_requests,
        )

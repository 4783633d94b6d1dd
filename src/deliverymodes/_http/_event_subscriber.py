"""Reading an ``HttpApp`` channel's Server-Sent Events, reconnecting with ``Last-Event-ID``
(needs ``httpx``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
from typing_extensions import Self

from .._core import Message, Start
from .._exceptions import ChannelClosed, ConnectionLost, RemoteError
from .._pushed import PushedSubscriber
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

_log = logging.getLogger("deliverymodes.client")

T = TypeVar("T")

_OPENED = object()  # the event stream's "ready" event: the server is streaming from here
_NOTHING = object()  # an event that carries nothing for the reader (a gap report, say)
#: What an event stream yields: the messages of one chunk, _OPENED, or None (the end).
_Item = list[Message[Any]] | object | None


class HttpEventSubscriber(PushedSubscriber[T, Message[T]]):
    """Reads an ``HttpApp`` channel's Server-Sent Events; reconnects with ``Last-Event-ID``.

    After a drop it connects again with the pauses of the remote's ``Reconnect`` policy, each at
    least the server's ``retry:`` hint (within the policy's ``max_delay``); ``max_attempts``
    failed connections in a row end it with ``ConnectionLost``. Each connection counts as a
    poll; gaps the server reports count as ``missed``, whatever their cause.
    """

    def __init__(self, channel: HttpChannel[T], start: int | Start) -> None:
        cursor_parameter(start)
        super().__init__()
        self._channel = channel
        self._start = start
        self._last_id: str | None = None  # the last event id seen: where a reconnection resumes
        self._stream: AsyncGenerator[_Item, None] | None = None
        self._retry_hint = 0.0  # the server's retry: hint, in seconds
        self._received = 0  # messages read from the stream
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

    async def _more(self) -> None:
        """Read from the stream until messages or the end arrive."""
        await self._open()
        stream = self._stream
        assert stream is not None
        try:
            item = await stream.__anext__()
        except BaseException:
            # Cancelled (or failed) while reading: drop this stream; the next receive reconnects
            # from the last event id, so nothing is lost or delivered twice.
            self._stream = None
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        if item is None:
            self._ended = ChannelClosed("the channel is closed")
            await stream.aclose()
        elif isinstance(item, list):
            self._buffer.extend(item)

    def _handed(self, item: Message[T]) -> Message[T]:
        self._channel._delivered += 1
        return item

    async def _events(self) -> AsyncGenerator[_Item, None]:
        """What the stream brings, reconnecting after drops; _OPENED marks each (re)connection."""
        remote = self._channel._remote
        pauses: Iterator[float] | None = None
        again = False  # the next connection is made again after a drop
        while True:
            received = self._received
            failure: Exception | None = None
            try:
                async with aclosing(self._connection()) as items:
                    async for item in items:
                        if item is _OPENED:
                            pauses = None  # connected: count failed attempts anew
                            self.reconnects += again
                            again = False
                        yield item
                        if item is None:
                            return
            except ConnectionLost as error:  # dropped, or the server is not there for now
                failure = error
            self._empty_requests += self._received == received
            pauses = pauses or remote._pauses()
            pause = next(pauses, None)
            if pause is None or remote.reconnect is None:
                lost = ConnectionLost(f"the event stream could not be read again: {failure!r}")
                _log.warning("%s", lost)
                self._ended = lost
                raise lost
            again = True
            delay = min(max(pause, self._retry_hint), remote.reconnect.max_delay)
            why = "ended" if failure is None else f"was lost ({failure})"
            _log.info("the event stream %s: connecting again in %.2f s", why, delay)
            await anyio.sleep(delay)

    async def _connection(self) -> AsyncGenerator[_Item, None]:
        """One request's items: the messages of each chunk, _OPENED, None (the end)."""
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
                        messages: list[Message[T]] = []
                        for event in checked("an event stream", partial(parser.feed, chunk)):
                            item = self._take(event)
                            if isinstance(item, Message):
                                messages.append(item)
                            elif item is not _NOTHING:
                                if messages:
                                    yield messages
                                    messages = []
                                yield item
                                if item is None:
                                    return
                        if messages:
                            yield messages

    def _take(self, event: ServerSentEvent) -> Message[T] | object | None:
        """What one event means: a message, _OPENED, None (the end) or _NOTHING."""
        if event.retry is not None:
            self._retry_hint = event.retry / 1000
        if event.event == "message":
            received: Message[T] = parsed("an event", message, event.data)
            self._last_id = event.id
            self._received += 1
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

    async def aclose(self) -> None:
        """Stop reading; the stream is closed and messages not yet received are discarded."""
        self._closed = True
        self._buffer.clear()
        self._channel._subscribers.discard(self)
        if self._stream is not None:
            await self._stream.aclose()

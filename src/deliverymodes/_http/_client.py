"""HTTP clients for an ``HttpApp``: poll, long-poll and SSE subscribers (needs ``httpx``).

They satisfy the same ``Channel`` and ``Subscriber`` protocols as local channels, keep their
cursor, and resume from it when a connection drops.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from functools import partial
from typing import Any, Generic, TypeVar, cast

import anyio
import httpx
from typing_extensions import Self

from .._common import AsyncCloseable, SubscriberIteration
from .._core import (
    EARLIEST,
    LATEST,
    Batch,
    ChannelStatistics,
    Message,
    Release,
    Start,
    SubscriberStatistics,
    check_count,
    check_epoch,
    check_seconds,
    make_message,
)
from .._cursor import CursorSubscriber
from .._defaults import (
    COOPERATIVE_BUDGET,
    DEFAULT_MAX_RECONNECT_DELAY,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SSE_RETRY,
)
from .._exceptions import ChannelClosed, ConnectionLost, ProtocolError, RemoteError
from .._wire import ErrorCode, dump_json, load_json
from ._sse import ServerSentEvent, SseParser

__all__ = ["HttpChannel", "HttpEventSubscriber", "HttpPollSubscriber", "HttpRemote"]

T = TypeVar("T")

_OPENED = object()  # the event stream's "ready" event: the server is streaming from here
_NOTHING = object()  # an event that carries nothing for the reader (a gap report, say)


def _cursor_parameter(cursor: int | Start) -> str:
    if cursor is EARLIEST:
        return "earliest"
    if cursor is LATEST:
        return "latest"
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        raise ValueError(f"cursor must be an offset >= 0, EARLIEST or LATEST, not {cursor!r}")
    return str(cursor)


def _field(data: object, name: str, kind: type | tuple[type, ...]) -> Any:
    """``data[name]``, checked to be a ``kind``; ValueError for anything else."""
    if not isinstance(data, dict) or name not in data:
        raise ValueError(f"no {name!r} field")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{name!r} is {type(value).__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{name!r} is negative")
    return value


def _message(data: object) -> Message[Any]:
    payload = _field(data, "payload", object)
    if isinstance(data, dict) and data.get("encoding") == "base64":
        payload = base64.b64decode(_field(data, "payload", str), validate=True)
    return make_message(
        _field(data, "offset", int),
        payload,
        _field(data, "size", int),
        float(_field(data, "published_at", (int, float))),
    )


def _batch(data: object) -> Batch[Any]:
    reason = data.get("reason") if isinstance(data, dict) else None
    messages = _field(data, "messages", list)
    return Batch(
        tuple(_message(m) for m in messages),
        _field(data, "cursor", int),
        _field(data, "missed", int),
        _field(data, "closed", bool),
        None if reason is None else Release(reason),
        _field(data, "epoch", int),
        _field(data, "missed_unknown", bool),
    )


def _checked(what: str, read: Callable[[], T]) -> T:
    """``read()``; if the server sent garbage, ProtocolError (never a bare KeyError)."""
    try:
        return read()
    except (ValueError, TypeError) as error:  # binascii.Error is a ValueError
        message = f"the server sent {what} that cannot be read: {error}"
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, message) from None


def _parsed(what: str, parse: Callable[[Any], T], data: bytes | str) -> T:
    """``parse`` of the JSON ``data``, checked as by :func:`_checked`."""
    return _checked(what, lambda: parse(load_json(data)))


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not a JSON object")
    return value


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        text = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        text = response.text
    if response.status_code == 410:
        raise ChannelClosed(text)
    if response.status_code == 503:  # the server is stopping: like a dropped connection
        raise ConnectionLost(f"HTTP 503: {text}")
    if response.status_code == 400:
        raise ValueError(text)
    code = ErrorCode.UNKNOWN_CHANNEL if response.status_code == 404 else ErrorCode.UNSUPPORTED
    raise RemoteError(code, f"HTTP {response.status_code}: {text}")


class HttpRemote(AsyncCloseable):
    """The channels of an ``HttpApp`` at ``base_url``: ``async with HttpRemote(url) as remote``.

    ``remote.channel(name)`` gives a channel to publish to and to poll, long poll (``wait``) or
    subscribe to by polls, long polls or Server-Sent Events.
    """

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))

    def channel(self, name: str) -> HttpChannel[Any]:
        """The served channel ``name``."""
        return HttpChannel(self, name)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.client.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.TransportError as error:
            raise ConnectionLost(f"HTTP request failed: {error!r}") from error
        _raise_for(response)
        return _parsed("a response", _json_object, response.content)


class HttpChannel(AsyncCloseable, Generic[T]):
    """A channel served over HTTP. Satisfies ``Channel`` (``subscribe()`` long-polls)."""

    def __init__(self, remote: HttpRemote, name: str) -> None:
        self._remote = remote
        self.name = name
        self._path = "/" + name
        self._published = 0
        self._polls = 0
        self._empty_polls = 0
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
        self._subscribers: set[SubscriberIteration[T]] = set()

    async def publish(self, payload: T) -> Message[T]:
        """POST ``payload``: bytes as they are, anything else as JSON."""
        if isinstance(payload, (bytes, bytearray, memoryview)):
            kwargs: dict[str, Any] = {
                "content": bytes(payload),
                "headers": {"content-type": "application/octet-stream"},
            }
        else:
            kwargs = {
                "content": dump_json(payload),
                "headers": {"content-type": "application/json"},
            }
        data = await self._remote._request("POST", self._path, **kwargs)
        self._published += 1
        published = _checked("a publish answer", lambda: _message({**data, "payload": None}))
        return make_message(published.offset, payload, published.size, published.published_at)

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        wait: float | None = None,
        min_messages: int | None = None,
        min_bytes: int | None = None,
        max_messages: int | None = None,
        max_bytes: int | None = None,
    ) -> Batch[T]:
        """A poll, or a long poll with ``wait`` seconds (the server clamps it), from ``cursor``
        of life ``epoch`` (a batch's ``epoch``)."""
        params: dict[str, str] = {"cursor": _cursor_parameter(cursor)}
        if epoch is not None:
            params["epoch"] = str(check_epoch("epoch", epoch))
        if wait is not None:
            params["wait"] = str(check_seconds("wait", wait))
        for name, value, minimum in (
            ("min_messages", min_messages, 1),
            ("min_bytes", min_bytes, 0),
            ("max_messages", max_messages, 1),
            ("max_bytes", max_bytes, 1),
        ):
            if value is not None:
                params[name] = str(check_count(name, value, minimum=minimum))
        data = await self._remote._request("GET", self._path, params=params)
        batch: Batch[T] = _checked("a batch", lambda: _batch(data))
        self._polls += 1
        self._empty_polls += not batch.messages
        self._delivered += len(batch.messages)
        self._missed += batch.missed
        self._missed_unknown += batch.missed_unknown
        return batch

    def subscribe(
        self, start: int | Start = LATEST, *, wait: float = 25.0, **caps: int
    ) -> HttpPollSubscriber[T]:
        """A subscriber long-polling (``wait`` seconds at a time) from ``start``."""
        return HttpPollSubscriber(self, start, wait=check_seconds("wait", wait), **caps)

    def poll_subscriber(
        self, start: int | Start = LATEST, poll_interval: float = DEFAULT_POLL_INTERVAL
    ) -> HttpPollSubscriber[T]:
        """A subscriber making plain polls, ``poll_interval`` s apart after empty answers."""
        interval = check_seconds("poll_interval", poll_interval)
        return HttpPollSubscriber(self, start, wait=None, poll_interval=interval)

    def events(self, start: int | Start = LATEST) -> HttpEventSubscriber[T]:
        """A subscriber reading Server-Sent Events, resuming with ``Last-Event-ID``."""
        return HttpEventSubscriber(self, start)

    async def aclose(self) -> None:
        """Close the subscriptions made through this handle."""
        for subscriber in list(self._subscribers):
            await subscriber.aclose()

    def statistics(self) -> ChannelStatistics:
        """What was done through this handle (the server's channel has its own statistics)."""
        return ChannelStatistics(
            published=self._published,
            delivered=self._delivered,
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            subscribers=len(self._subscribers),
            polls=self._polls,
            empty_polls=self._empty_polls,
        )


class HttpPollSubscriber(CursorSubscriber[T]):
    """Polls or long-polls an ``HttpApp`` channel from its own cursor; retries dropped requests."""

    def __init__(
        self,
        channel: HttpChannel[T],
        start: int | Start,
        *,
        wait: float | None,
        poll_interval: float | None = None,
        **caps: int,
    ) -> None:
        _cursor_parameter(start)
        super().__init__(start)
        self._channel = channel
        self._wait = wait
        self.poll_interval = poll_interval
        self._caps = caps
        channel._subscribers.add(self)

    async def __aenter__(self) -> Self:
        """Fix a LATEST start now, so that the subscription sees everything from this point."""
        if self._cursor is LATEST:
            batch = await self._channel.poll(LATEST, max_messages=1)
            self._cursor, self._epoch = batch.cursor, batch.epoch or None
        return self

    async def _fetch(self) -> Batch[T]:
        delay = 0.1
        while True:
            try:
                return await self._channel.poll(
                    self._cursor, epoch=self._epoch, wait=self._wait, **self._caps
                )
            except ConnectionLost:  # the cursor is unchanged: try again, nothing is lost
                await anyio.sleep(delay)
                delay = min(delay * 2, DEFAULT_MAX_RECONNECT_DELAY)

    async def _idle(self) -> None:
        if self.poll_interval is not None:
            await anyio.sleep(self.poll_interval)

    def _unsubscribed(self) -> None:
        self._channel._subscribers.discard(self)


class HttpEventSubscriber(SubscriberIteration[T]):
    """Reads an ``HttpApp`` channel's Server-Sent Events; reconnects with ``Last-Event-ID``."""

    def __init__(self, channel: HttpChannel[T], start: int | Start) -> None:
        _cursor_parameter(start)
        self._channel = channel
        self._start = start
        self._last_id: str | None = None  # the last event id seen: where a reconnection resumes
        self._stream: AsyncGenerator[Message[T] | object | None, None] | None = None
        self._ended: Exception | None = None
        self._closed = False
        self._delivered = 0
        self._missed = 0
        self._missed_unknown = 0
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
                message = "the event stream did not start with a ready event"
                raise RemoteError(ErrorCode.PROTOCOL_VIOLATION, message)

    async def _events(self) -> AsyncGenerator[Message[T] | object | None, None]:
        """Messages from the stream, reconnecting after drops; _OPENED marks each (re)connection,
        None the end."""
        retry = DEFAULT_SSE_RETRY
        remote = self._channel._remote
        while True:
            headers, params = {"accept": "text/event-stream"}, {}
            if self._last_id is not None:
                headers["last-event-id"] = self._last_id
            else:
                params["cursor"] = _cursor_parameter(self._start)
            url = f"{remote.base_url}{self._channel._path}/events"
            try:
                async with remote.client.stream(
                    "GET", url, headers=headers, params=params
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        _raise_for(response)
                    parser = SseParser()
                    chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
                    async with aclosing(chunks):
                        async for chunk in chunks:
                            found = _checked("an event stream", partial(parser.feed, chunk))
                            for event in found:
                                if event.retry is not None:
                                    retry = event.retry / 1000
                                item = self._take(event)
                                if item is not _NOTHING:
                                    yield item
                                if item is None:
                                    return
            except (httpx.TransportError, ConnectionLost):  # dropped, or the server is stopping
                pass
            self.reconnects += 1
            await anyio.sleep(min(retry, DEFAULT_MAX_RECONNECT_DELAY))

    def _take(self, event: ServerSentEvent) -> Message[T] | object | None:
        """What one event means: a message, _OPENED, None (the end) or _NOTHING."""
        if event.event == "message":
            message: Message[T] = _parsed("an event", _message, event.data)
            self._last_id = event.id
            return message
        if event.event == "ready":
            _parsed("a ready event", _json_object, event.data)
            if event.id is not None:
                self._last_id = event.id  # a reconnection resumes here, not from LATEST again
            return _OPENED
        if event.event == "missed":
            gap = _parsed("a missed event", _json_object, event.data)
            self._missed += _checked("a missed event", lambda: _field(gap, "missed", int))
            self._missed_unknown += gap.get("missed_unknown") is True
        elif event.event in ("closed", "disconnected"):
            return None
        return _NOTHING

    async def receive(self) -> Message[T]:
        """The next message; raises ChannelClosed once the stream says the channel closed."""
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await anyio.lowlevel.checkpoint()
        if self._closed or self._ended is not None:
            raise ChannelClosed("the channel is closed")
        await self._open()
        stream = self._stream
        assert stream is not None
        try:
            message = await stream.__anext__()
            while message is _OPENED:  # a reconnection
                message = await stream.__anext__()
        except BaseException:
            # Cancelled (or failed) while reading: drop this stream; the next receive reconnects
            # from the last event id, so nothing is lost or delivered twice.
            self._stream = None
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        if message is None:
            self._ended = ChannelClosed("the channel is closed")
            await stream.aclose()
            raise self._ended
        self._delivered += 1
        return cast(Message[T], message)

    async def aclose(self) -> None:
        """Stop reading; the stream is closed."""
        self._closed = True
        self._channel._subscribers.discard(self)
        if self._stream is not None:
            await self._stream.aclose()

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            delivered=self._delivered, missed=self._missed, missed_unknown=self._missed_unknown
        )

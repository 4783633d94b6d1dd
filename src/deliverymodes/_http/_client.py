"""HTTP clients for an ``HttpApp``: a channel, and its poll and long-poll subscribers (needs
``httpx``; the event-stream subscriber is in ``_event_subscriber``).

They satisfy the same ``Channel`` and ``Subscriber`` protocols as local channels, keep their
cursor, and resume from it when a connection drops, as the remote's ``Reconnect`` policy says.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import httpx

from .._common import AsyncCloseable, SubscriberIteration
from .._core import (
    LATEST,
    UNSET,
    Batch,
    ChannelStatistics,
    Message,
    Start,
    Unset,
    check_count,
    check_epoch,
    check_optional_seconds,
    check_seconds,
    make_message,
)
from .._cursor import RemoteCursorSubscriber
from .._defaults import DEFAULT_POLL_INTERVAL
from .._reconnect import Reconnect
from .._wire import dump_json
from ._answers import (
    batch,
    checked,
    cursor_parameter,
    json_object,
    message,
    parsed,
    transport_errors,
)
from ._event_subscriber import HttpEventSubscriber
from ._statuses import raise_for_status

__all__ = ["HttpChannel", "HttpEventSubscriber", "HttpPollSubscriber", "HttpRemote"]

T = TypeVar("T")

#: How long a long-poll subscriber's requests are held by default, in seconds: under the 30 s an
#: ``HttpApp`` holds a long poll at most, and the 60 s idle timeout common to proxies.
_SUBSCRIBER_WAIT = 25.0


def poll_parameters(
    *,
    wait: float | Unset | None,
    min_messages: int | Unset,
    min_bytes: int | Unset | None,
    max_messages: int | Unset | None,
    max_bytes: int | Unset | None,
) -> dict[str, str]:
    """The query parameters of a poll (a long poll with ``wait``), checked. ``UNSET`` leaves a
    setting to the server, ``None`` asks for no limit (no byte threshold for ``min_bytes``)."""
    params: dict[str, str] = {}
    if wait is not UNSET:
        seconds = check_optional_seconds("wait", wait)
        params["wait"] = "none" if seconds is None else str(seconds)
    elif min_messages is not UNSET or min_bytes is not UNSET:
        raise ValueError("min_messages and min_bytes go with wait (a long poll)")
    if min_messages is not UNSET:
        params["min_messages"] = str(check_count("min_messages", min_messages))
    for name, value, minimum in (
        ("min_bytes", min_bytes, 0),
        ("max_messages", max_messages, 1),
        ("max_bytes", max_bytes, 1),
    ):
        if value is None:
            params[name] = "none"
        elif not isinstance(value, Unset):
            params[name] = str(check_count(name, value, minimum=minimum))
    return params


class HttpRemote(AsyncCloseable):
    """The channels of an ``HttpApp`` at ``base_url``: ``async with HttpRemote(url) as remote``.

    ``remote.channel(name)`` gives a channel to publish to and to poll, long poll (``wait``) or
    subscribe to by polls, long polls or Server-Sent Events. Subscribers ask again after a
    dropped connection (or a 503) with the pauses of ``reconnect`` (None: never).
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        reconnect: Reconnect | None = Reconnect(),
    ) -> None:
        if reconnect is not None and not isinstance(reconnect, Reconnect):
            raise TypeError(f"reconnect must be a Reconnect or None, not {reconnect!r}")
        self.base_url = base_url.rstrip("/")
        self.reconnect = reconnect
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
        self._rng = random.Random()

    def channel(self, name: str) -> HttpChannel[Any]:
        """The served channel ``name``."""
        return HttpChannel(self, name)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    def _pauses(self) -> Iterator[float]:
        """A subscriber's pauses between attempts after a dropped connection (none: give up)."""
        return iter(()) if self.reconnect is None else self.reconnect.delays(self._rng)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        with transport_errors():
            response = await self.client.request(method, f"{self.base_url}{path}", **kwargs)
        raise_for_status(response.status_code, response.content)
        return parsed("a response", json_object, response.content)


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
        published = checked("a publish answer", lambda: message({**data, "payload": None}))
        return make_message(published.offset, payload, published.size, published.published_at)

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        wait: float | Unset | None = UNSET,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> Batch[T]:
        """A poll from ``cursor`` of life ``epoch`` (a batch's ``epoch``), or with ``wait`` a
        long poll held up to ``wait`` seconds (``None``: as long as the server holds one).

        Settings left ``UNSET`` are the server's; ``None`` means no limit, as on a local channel.
        """
        params = poll_parameters(
            wait=wait,
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        return await self._poll(cursor, epoch, params)

    async def _poll(
        self, cursor: int | Start, epoch: int | None, params: dict[str, str]
    ) -> Batch[T]:
        query = {"cursor": cursor_parameter(cursor), **params}
        if epoch is not None:
            query["epoch"] = str(check_epoch("epoch", epoch))
        data = await self._remote._request("GET", self._path, params=query)
        answer: Batch[T] = checked("a batch", lambda: batch(data))
        self._polls += 1
        self._empty_polls += not answer.messages
        self._delivered += len(answer.messages)
        self._missed += answer.missed
        self._missed_unknown += answer.missed_unknown
        return answer

    def subscribe(
        self,
        start: int | Start = LATEST,
        *,
        wait: float | None = _SUBSCRIBER_WAIT,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> HttpPollSubscriber[T]:
        """A subscriber long-polling from ``start``, each request held up to ``wait`` seconds
        (``None``: as long as the server holds one); other settings as in :meth:`poll`."""
        params = poll_parameters(
            wait=wait,
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        return HttpPollSubscriber(self, start, params, poll_interval=None)

    def poll_subscriber(
        self,
        start: int | Start = LATEST,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> HttpPollSubscriber[T]:
        """A subscriber making plain polls, ``poll_interval`` s apart after empty answers."""
        interval = check_seconds("poll_interval", poll_interval)
        params = poll_parameters(
            wait=UNSET,
            min_messages=UNSET,
            min_bytes=UNSET,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        return HttpPollSubscriber(self, start, params, poll_interval=interval)

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


class HttpPollSubscriber(RemoteCursorSubscriber[T]):
    """Polls or long-polls an ``HttpApp`` channel from its own cursor; retries dropped requests."""

    def __init__(
        self,
        channel: HttpChannel[T],
        start: int | Start,
        params: dict[str, str],
        *,
        poll_interval: float | None,
    ) -> None:
        cursor_parameter(start)
        super().__init__(start, poll_interval)
        self._channel = channel
        self._params = params
        channel._subscribers.add(self)

    async def _head(self) -> tuple[int, int | None]:
        answer = await self._channel.poll(LATEST, max_messages=1)
        return answer.cursor, answer.epoch or None

    async def _request(self) -> Batch[T]:
        return await self._channel._poll(self._cursor, self._epoch, self._params)

    def _pauses(self) -> Iterator[float]:
        return self._channel._remote._pauses()

    def _unsubscribed(self) -> None:
        self._channel._subscribers.discard(self)

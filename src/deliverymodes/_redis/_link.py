"""What every Redis channel has: its client, its keys, publishing through the script, and the
follower feeding this process's view of the channel (a sink)."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio
import anyio.lowlevel
from typing_extensions import Self

from .._core import Batch, Message, Retention, make_message, new_epoch
from .._exceptions import ChannelClosed, ConnectionLost
from .._reconnect import Reconnect
from .._wire import Codec, JsonCodec
from ._client import RedisClient
from ._follow import Follower
from ._records import epoch_in, retention_arguments, run_channel_script
from ._scripts import PUBLISH
from ._sink import Sink

__all__ = ["Link", "LocalSink", "Opened", "fetch_again"]

T = TypeVar("T")

_log = logging.getLogger("deliverymodes.client")


class LocalSink(Sink[T], Protocol[T]):
    """A sink that can also take messages this process just published (at consecutive
    offsets), without waiting for their notification, when they are the next ones it expects."""

    def published_here(self, epoch: int, messages: list[Message[T]]) -> None: ...


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(
            f"key must be a str (the Redis key of the channel), not {type(key).__name__}"
        )
    if not key:
        raise ValueError("key must not be empty")
    return key


def _check_codec(codec: object) -> Codec[Any]:
    if not (callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))):
        raise TypeError(f"codec must have encode and decode methods, not {type(codec).__name__}")
    return codec  # type: ignore[return-value]


class _Batch:
    """Publishes that go to Redis in one round trip."""

    __slots__ = ("arguments", "error", "made", "messages", "settled")

    def __init__(self) -> None:
        self.made: list[tuple[Any, int, float]] = []  # payload, size, publish time
        self.arguments: list[tuple[bytes, int, str] | None] = []  # None: withdrawn
        self.messages: list[Message[Any] | None] = []  # once Redis assigned the offsets
        self.settled = False
        self.error: Exception | None = None


class _UnderWay:
    """A round trip on its way, which publishes made meanwhile wait for: an event is made only
    if one waits (most round trips have nobody waiting)."""

    __slots__ = ("_event", "_over")

    def __init__(self) -> None:
        self._event: anyio.Event | None = None
        self._over = False

    async def wait(self) -> None:
        if self._over:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def over(self) -> None:
        self._over = True
        if self._event is not None:
            self._event.set()


class Link(Generic[T]):
    """A channel's way to Redis: ``redis`` is a URL (the link opens a client of its own) or an
    open :class:`RedisClient` shared with other channels."""

    def __init__(  # noqa: PLR0917 - internal, called from three places
        self,
        owner: str,
        redis: str | RedisClient,
        key: str,
        codec: Codec[T] | None,
        timeout: float,
        retention: Retention,
        sink: LocalSink[T],
        *,
        start_latest: bool,
    ) -> None:
        self.key = _check_key(key)
        if isinstance(redis, RedisClient):
            self.client, self._owns_client = redis, False
        elif isinstance(redis, str):
            self.client, self._owns_client = RedisClient(redis, timeout=timeout), True
        else:
            kind = type(redis).__name__
            raise TypeError(
                f"redis must be a redis://, rediss:// or unix:// URL or a RedisClient, not {kind}"
            )
        self.codec: Codec[T] = JsonCodec() if codec is None else _check_codec(codec)
        self.keys: tuple[str, str] = (key, key + ":meta")
        self._retention = retention_arguments(retention)
        self.sink = sink
        self.follower: Follower[T] = Follower(
            self.client, key, self.codec, retention, sink, start_latest=start_latest
        )
        self._owner = owner
        self.opened = False
        self._closed = False
        self._settling = False  # closing: publishes are refused, those on their way finish
        self.closing = anyio.Event()  # set at close: readers pausing before a retry end at once
        self._forming: _Batch | None = None  # publishes waiting for the next round trip
        self._candidate = str(new_epoch())  # the epoch of a life a publish may have to begin
        self._sending: _UnderWay | None = None  # the round trip under way

    def check_open(self) -> None:
        if not self.opened:
            state = "closed" if self._closed else "not open: use `async with channel` first"
            raise RuntimeError(f"{self._owner} {self.key!r} is {state}")

    async def open(self) -> None:
        """Connect (if the client is the link's own), subscribe and catch up."""
        if self.opened or self._closed:
            raise RuntimeError(f"{self._owner} {self.key!r} can be opened only once")
        if self._owns_client:
            await self.client.__aenter__()
        try:
            await self.follower.start()
        except Exception:
            if not self._closed:
                if self._owns_client:
                    await self.client.__aexit__(None, None, None)
                raise
            return  # closed meanwhile (its own client too): a closed handle, as after aclose()
        except BaseException:
            if self._owns_client:
                await self.client.__aexit__(None, None, None)
            raise
        if self._closed:  # closed while it opened: it no longer listens
            with anyio.CancelScope(shield=True), contextlib.suppress(ConnectionLost):
                await self.follower.stop()
            return
        self.opened = True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.closing.set()
        self.client._close_with(self, None)
        was_open, self.opened = self.opened, False
        if was_open:
            with anyio.CancelScope(shield=True), contextlib.suppress(ConnectionLost):
                await self.follower.stop()  # bounded by the client's timeout
        if self._owns_client:
            await self.client.aclose()

    async def close_around(self, close_view: Callable[[], Awaitable[None]]) -> None:
        """Close the channel's handle: refuse publishes, let those on their way finish (so that
        this process's readers have them before they end), ``close_view()``, then close."""
        with anyio.CancelScope(shield=True):  # bounded by the client's timeout
            await self._settle()
        await close_view()
        await self.close()

    async def _settle(self) -> None:
        """Refuse publishes from now on and wait for those already made to finish (each round
        trip is bounded by the client's timeout)."""
        self._settling = True
        while self._sending is not None or self._forming is not None:
            under_way = self._sending
            if under_way is not None:
                await under_way.wait()
            else:  # its publishers, woken, send the batch being formed
                await anyio.lowlevel.checkpoint()

    def _check_publishing(self) -> None:
        self.check_open()
        if self._settling:
            raise ChannelClosed("cannot publish to a closed channel")

    async def exit(self) -> None:
        """Leave the client's ``async with`` if it is the link's own (in the task that opened
        the channel)."""
        await self.close()
        if self._owns_client:
            await self.client.__aexit__(None, None, None)

    async def publish(self, payload: T, size: int) -> Message[T]:
        """Append ``payload`` in Redis and return its message.

        Publishes made while one is on its way go together in the next round trip: one script
        run appends them all, in the order they were made, and announces them in one
        notification. A publish cancelled before its round trip began is not made; once it
        began, it is made even if its caller is cancelled.
        """
        self._check_publishing()
        data = self.codec.encode(payload)
        now = time.time()
        if self._sending is None and self._forming is None:
            # Nothing on its way: this one goes alone, at once.
            self._sending = sending = _UnderWay()
            try:
                epoch, offset = await self._run(data, size, repr(now))
            finally:
                self._sending = None
                sending.over()
            message = make_message(offset, payload, size, now)
            self.sink.published_here(epoch, [message])
            return message
        return (await self._in_batch([payload], [size], [data], now))[0]

    async def publish_many(self, sized: list[tuple[T, int]]) -> list[Message[T]]:
        """Append ``(payload, size)`` pairs in Redis, in order, in one script run (with
        whatever else is waiting for it); their messages. All or none of them, as for one."""
        self._check_publishing()
        if not sized:
            return []
        encode = self.codec.encode
        payloads = [payload for payload, _ in sized]
        sizes = [size for _, size in sized]
        return await self._in_batch(payloads, sizes, [encode(p) for p in payloads], time.time())

    async def _in_batch(
        self, payloads: list[T], sizes: list[int], data: list[bytes], now: float
    ) -> list[Message[T]]:
        """Add messages, published at ``now``, to the batch being formed and wait until it was
        sent."""
        batch = self._forming
        if batch is None:
            batch = self._forming = _Batch()
        first = len(batch.made)
        stamp = repr(now)
        for payload, each, size in zip(payloads, data, sizes, strict=True):
            batch.made.append((payload, size, now))
            batch.arguments.append((each, size, stamp))
        end = len(batch.made)
        try:
            while not batch.settled:
                under_way = self._sending
                if under_way is None:
                    await self._send_forming()
                else:
                    await under_way.wait()
        finally:
            if batch is self._forming:  # cancelled before its batch was sent: not published
                batch.arguments[first:end] = [None] * (end - first)
                if not any(batch.arguments):  # nobody left to send it
                    self._forming = None
        if batch.error is not None:
            raise batch.error
        return batch.messages[first:end]  # type: ignore[return-value]  # none withdrawn

    async def _run(self, *messages: bytes | str | int) -> tuple[int, int]:
        """Run the publish script for ``messages`` (payload, size, time, …): (epoch, first
        offset). Shielded: once sent, the publish happens either way."""
        candidate = self._candidate
        epoch, first = await run_channel_script(
            self.client,
            PUBLISH,
            self.keys,
            (candidate, messages[-1], *self._retention, *messages),
            shield=True,
        )
        if epoch == candidate.encode():
            self._candidate = str(new_epoch())  # taken for a new life: the next one differs
        return epoch_in(epoch, self.keys[1]), first

    async def _send_forming(self) -> None:
        """Send the batch being formed (shielded: once sent, it is published either way)."""
        batch, self._forming = self._forming, None
        assert batch is not None
        self._sending = sending = _UnderWay()
        arguments: list[bytes | str | int] = []
        for each in batch.arguments:
            if each is not None:
                arguments += each
        try:
            if arguments:
                epoch, offset = await self._run(*arguments)
                made: list[Message[Any]] = []
                for (payload, size, now), each in zip(batch.made, batch.arguments, strict=True):
                    if each is None:  # withdrawn: a place kept, so that the others find theirs
                        batch.messages.append(None)
                    else:
                        message = make_message(offset, payload, size, now)
                        batch.messages.append(message)
                        made.append(message)
                        offset += 1
                self.sink.published_here(epoch, made)
        except Exception as error:  # every publish of the batch raises it
            batch.error = error
        finally:
            batch.settled = True
            self._sending = None
            sending.over()


class Opened:
    """``async with`` for a Redis channel: opens its link, and on the way out closes it and
    leaves its own client's ``async with`` in the same task (``aclose()`` may come from any)."""

    _link: Link[Any]

    if TYPE_CHECKING:  # the channel's own, later in the method resolution order

        async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self._link.open()
        if self._link.opened:  # closed with its client, if the client closes first
            self._link.client._close_with(self._link, self.aclose)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            await self._link.exit()


async def fetch_again(
    fetch: Callable[[], Awaitable[Batch[T]]],
    reconnect: Reconnect,
    closed: Callable[[], bool],
    closing: anyio.Event,
) -> Batch[T]:
    """``fetch()``, made again after the pauses of ``reconnect`` while Redis is unreachable; a
    pause ends early when ``closing`` is set (the answer then comes from what is left)."""
    pauses = None
    while True:
        try:
            return await fetch()
        except ConnectionLost as error:
            if closed():
                raise ChannelClosed("the channel is closed") from None
            pauses = pauses or reconnect.delays(random.Random())
            pause = next(pauses, None)
            if pause is None:
                raise
            _log.info("a read from Redis failed (%s): again in %.2f s", error, pause)
        with anyio.move_on_after(pause):
            await closing.wait()

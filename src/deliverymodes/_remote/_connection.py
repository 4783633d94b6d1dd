"""A client's connection to a server: one wire connection at a time, made again when it drops.

``Remote`` owns the requests and push subscriptions made through it. Each wire connection (a
``Link``) runs a reader, a writer and a liveness watch; when one drops, requests in flight fail
with ``ConnectionLost``, calls made meanwhile wait for the next connection (within a bound), and
push subscriptions are made again on it.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Generator, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteStream
from typing_extensions import Self

from .._common import AsyncCloseable
from .._core import Batch, Message, check_count, check_optional_seconds
from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_KEEPALIVE_MISSES,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_RECONNECT_CALL_TIMEOUT,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._exceptions import ConnectionLost, DeliveryError
from .._reconnect import Reconnect
from .._wire import Batch as WireBatch
from .._wire import (
    Cancel,
    ClientConnection,
    Close,
    Codec,
    End,
    EndReason,
    Error,
    Event,
    JsonCodec,
    Published,
    Push,
    Subscribed,
    WireMessage,
)
from .._wire._translate import batch_from_wire, error_for, messages_from_wire
from ._link import Link, Pending
from ._payloads import check_codec

if TYPE_CHECKING:
    from ._client import (
        RemoteLongPollChannel,
        RemotePollChannel,
        RemotePushChannel,
        RemotePushSubscriber,
    )

__all__ = ["Remote"]

_log = logging.getLogger("deliverymodes.client")

#: Seconds ``Remote.aclose`` waits for the server to finish after CLOSE before cutting the stream.
_GOODBYE_TIMEOUT = 5.0


class Remote(AsyncCloseable):
    """A connection to a deliverymodes server: ``async with connect_tcp(…) as remote``, or
    ``remote = await connect_tcp(…)`` … ``await remote.aclose()``.

    ``remote.push(name)``, ``remote.poll(name)`` and ``remote.long_poll(name)`` give channels that
    satisfy the same ``Channel`` protocol as the local ones, so consumer code does not change when
    a channel moves out of process. With ``reconnect`` (a :class:`Reconnect`), a dropped
    connection is made again, and the channels and subscribers go on.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[ByteStream]],
        *,
        codec: Codec[Any] | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        keepalive_interval: float | None = DEFAULT_KEEPALIVE_INTERVAL,
        keepalive_misses: int = DEFAULT_KEEPALIVE_MISSES,
        write_buffer_size: int = DEFAULT_WRITE_BUFFER_SIZE,
        reconnect: Reconnect | None = None,
    ) -> None:
        if reconnect is not None and not isinstance(reconnect, Reconnect):
            raise TypeError(f"reconnect must be a Reconnect or None, not {reconnect!r}")
        self._open_stream = open_stream
        self.codec: Codec[Any] = check_codec(codec or JsonCodec())
        self._max_frame_size = check_count("max_frame_size", max_frame_size)
        ClientConnection(self._max_frame_size)  # checks the size now, not at the first connection
        self._keepalive = check_optional_seconds("keepalive_interval", keepalive_interval)
        self._keepalive_misses = check_count("keepalive_misses", keepalive_misses)
        self._write_buffer_size = check_count("write_buffer_size", write_buffer_size)
        self.reconnect = reconnect
        self._link: Link | None = None  # the connection in use; None while there is none
        self._connected = anyio.Event()  # set while there is one, or for good once failed
        self._failure: DeliveryError | None = None  # why it ended for good
        self._closed = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._maintained = anyio.Event()  # set when the task that keeps it up is done
        self._pending: dict[int, Pending] = {}
        self._subscriptions: dict[int, RemotePushSubscriber[Any]] = {}
        self._next_number = 0
        self._rng = random.Random()
        self._written_before = 0  # by earlier connections
        self._read_before = 0
        self.reconnects = 0

    # -- lifetime --------------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Self]:
        """``remote = await connect_tcp(…)`` opens it too; then ``await remote.aclose()``."""
        return self.__aenter__().__await__()

    async def __aenter__(self) -> Self:
        if self._task_group is not None:  # opened already, by await
            return self
        self._task_group = task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await task_group.start(self._maintain)
        except BaseException as error:
            # Refused, or cancelled before the server's welcome: leave the task group here, in
            # the scope it was entered in, as ``async with`` would, before the error goes on.
            self._closed = True
            task_group.cancel_scope.cancel()
            with contextlib.suppress(BaseException):
                await task_group.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    async def aclose(self) -> None:
        """Say goodbye, write what is queued, and close the connection and its subscriptions."""
        if self._closed:
            return
        self._closed = True
        link, task_group = self._link, self._task_group
        if link is not None:
            with contextlib.suppress(ConnectionLost):
                link.writer.write(link.connection.send(Close()))
            link.writer.finish()
        self._fail(ConnectionLost("the connection was closed"))
        if task_group is not None:
            # A graceful goodbye: the writer flushes CLOSE, the server finishes and closes its
            # end, and our reader sees the end of the stream. Bounded, for servers that do not.
            with anyio.move_on_after(_GOODBYE_TIMEOUT if link else 0, shield=True):
                await self._maintained.wait()
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)

    @property
    def bytes_written(self) -> int:
        """Bytes written to the server so far, over every connection."""
        link = self._link
        return self._written_before + (0 if link is None else link.writer.bytes_written)

    @property
    def bytes_read(self) -> int:
        """Bytes read from the server so far, over every connection."""
        link = self._link
        return self._read_before + (0 if link is None else link.bytes_read)

    @property
    def connected(self) -> bool:
        """True while a connection to the server is open (not while it is being made again)."""
        return self._link is not None

    # -- keeping a connection up -----------------------------------------------------------------

    async def _maintain(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Connect, and connect again whenever the connection drops, until closed or given up."""
        started = False
        delays = self._delays()
        try:
            while True:
                try:
                    stream = await self._open_stream()
                except OSError as error:
                    failure: DeliveryError = ConnectionLost(f"cannot connect: {error}")
                    welcomed = False
                else:
                    link = Link.open(
                        stream,
                        max_frame_size=self._max_frame_size,
                        write_buffer_size=self._write_buffer_size,
                        keepalive=self._keepalive,
                    )
                    await self._run(link, task_status if not started else None)
                    welcomed, started = link.welcomed, started or link.welcomed
                    failure = link.failure or ConnectionLost("the connection ended")
                    self._written_before += link.writer.bytes_written
                    self._read_before += link.bytes_read
                if not started:
                    raise failure  # the first connection: __aenter__ reports it
                final = not isinstance(failure, ConnectionLost)  # the server refused us
                if self._closed or self.reconnect is None or final:
                    if final and not self._closed:
                        _log.warning("the server ended the connection: %s", failure)
                    self._fail(failure)
                    return
                if welcomed:
                    delays = self._delays()  # it worked for a while: count attempts anew
                delay = next(delays, None)
                if delay is None:
                    attempts = self.reconnect.max_attempts
                    _log.warning("gave up connecting again after %s attempts", attempts)
                    self._fail(ConnectionLost(f"gave up after {attempts} attempts: {failure}"))
                    return
                _log.info("connection lost (%s): connecting again in %.2f s", failure, delay)
                await anyio.sleep(delay)
        finally:
            self._maintained.set()

    def _delays(self) -> Iterator[float]:
        return iter(()) if self.reconnect is None else self.reconnect.delays(self._rng)

    async def _run(self, link: Link, task_status: anyio.abc.TaskStatus[None] | None) -> None:
        """Run one connection until it ends (``link.failure`` says why)."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(link.write, tg.cancel_scope)
                if self._keepalive is not None:
                    limit = self._keepalive * self._keepalive_misses
                    tg.start_soon(link.watch, limit, tg.cancel_scope)
                await link.read(partial(self._welcome, link, task_status), self._dispatch)
                tg.cancel_scope.cancel()
        finally:
            if self._link is link:  # it was in use: what was in flight on it fails now
                self._link = None
                self._connected = anyio.Event()
                self._lost(link.failure or ConnectionLost("the connection ended"))
            with anyio.CancelScope(shield=True):
                await link.stream.aclose()

    def _welcome(self, link: Link, task_status: anyio.abc.TaskStatus[None] | None) -> None:
        if task_status is None:
            self.reconnects += 1
        self._link = link
        self._connected.set()
        for subscription in list(self._subscriptions.values()):
            self._send_subscribe(subscription)
        if task_status is not None:
            task_status.started()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Push):
            subscription = self._subscriptions.get(event.subscription)
            if subscription is not None:  # else it was closed here; the END is on its way
                subscription._deliver(event.messages)
        elif isinstance(event, (Published, WireBatch, Subscribed)):
            self._resolve(event.request, event, None)
        elif isinstance(event, End):
            if event.reason is EndReason.UNSUBSCRIBED and event.subscription in self._subscriptions:
                # Not asked for (an UNSUBSCRIBE here forgets it first): the server is going
                # away. The subscription is made again on the next connection, if one comes.
                return
            ended = self._subscriptions.pop(event.subscription, None)
            if ended is not None:
                ended._end(event.reason)
        elif isinstance(event, Error):
            self._resolve(event.request, None, error_for(event.code, event.message))

    def _resolve(self, number: int, reply: Event | None, error: Any) -> None:
        pending = self._pending.pop(number, None)
        if pending is not None:  # else its requester gave up on it
            pending.resolve(reply, error)

    def _lost(self, failure: DeliveryError) -> None:
        """The connection dropped: what was in flight on it fails; subscriptions wait for the
        next connection (or end, if there is none)."""
        pending, self._pending = self._pending, {}
        for request in pending.values():
            request.resolve(None, ConnectionLost(f"the connection dropped: {failure}"))
        for subscription in self._subscriptions.values():
            subscription._disconnected()

    def _fail(self, error: DeliveryError) -> None:
        """No connection any more, for good."""
        if self._failure is None:
            self._failure = error
        self._connected.set()  # wakes the calls waiting for a connection: they raise
        pending, self._pending = self._pending, {}
        for request in pending.values():
            request.resolve(None, self._failure)
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription in subscriptions.values():
            subscription._fail(self._failure)

    # -- requests --------------------------------------------------------------------------------

    def _number(self) -> int:
        self._next_number = self._next_number % 0xFFFFFFFF + 1  # 1 … 2**32 - 1; 0 is reserved
        return self._next_number

    @property
    def _coming_back(self) -> bool:
        """True while a dropped connection may still be made again."""
        return self._failure is None and not self._closed

    async def _usable_link(self) -> Link:
        """The connection to send on, waiting for it (within ``call_timeout``) if it is down."""
        if self._task_group is None:
            raise RuntimeError("use the connection inside 'async with' first")
        while True:
            if self._failure is not None:
                raise self._failure
            link = self._link
            if link is not None:
                return link
            timeout = (
                DEFAULT_RECONNECT_CALL_TIMEOUT
                if self.reconnect is None
                else (self.reconnect.call_timeout)
            )
            with anyio.move_on_after(timeout) as waited:
                await self._connected.wait()
            if waited.cancelled_caught:
                raise ConnectionLost(f"the connection did not come back within {timeout:g} s")

    def _send(self, event: Event) -> None:
        """Send ``event`` now if connected (credit and unsubscribing need no other connection)."""
        link = self._link
        if link is not None:
            with contextlib.suppress(ConnectionLost):
                link.writer.write(link.connection.send(event))

    async def _request(self, make: Callable[[int], Event]) -> Event:
        link = await self._usable_link()
        number = self._number()
        pending = self._pending[number] = Pending(number)
        try:
            link.writer.write(link.connection.send(make(number)))
        except ConnectionLost:
            del self._pending[number]
            raise
        try:
            await pending.done.wait()
        finally:
            if not pending.done.is_set() and self._pending.pop(number, None) is not None:
                # Given up (cancelled): the server withdraws the request if it still can (a
                # waiting long poll, a publish waiting for room); a late answer is dropped.
                self._send(Cancel(number))
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    def _add_subscription(self, subscription: RemotePushSubscriber[Any]) -> None:
        if self._task_group is None:
            raise RuntimeError("use the connection inside 'async with' first")
        if self._failure is not None:
            subscription._fail(self._failure)
            return
        self._subscriptions[subscription.number] = subscription
        if self._link is not None:  # else it is made when the connection comes back
            self._send_subscribe(subscription)

    def _send_subscribe(self, subscription: RemotePushSubscriber[Any]) -> None:
        number = self._number()
        self._pending[number] = Pending(number, subscription._answer)
        self._send(subscription._request(number))

    def _drop_subscription(self, subscription: RemotePushSubscriber[Any]) -> bool:
        """Forget ``subscription``; True if the server may still have it (then unsubscribe)."""
        return self._subscriptions.pop(subscription.number, None) is not None

    def _decode(self, messages: tuple[WireMessage, ...]) -> tuple[Message[Any], ...]:
        return messages_from_wire(messages, self.codec.decode)

    def _batch(self, reply: Event) -> Batch[Any]:
        assert isinstance(reply, WireBatch)
        return batch_from_wire(reply, self.codec.decode)

    # -- channels --------------------------------------------------------------------------------

    def push(self, name: str) -> RemotePushChannel[Any]:
        """The server's push channel ``name``."""
        from ._client import RemotePushChannel  # noqa: PLC0415 - the channels use this module

        return RemotePushChannel(self, name)

    def poll(self, name: str) -> RemotePollChannel[Any]:
        """The server's poll (or long-poll) channel ``name``, read by plain polls."""
        from ._client import RemotePollChannel  # noqa: PLC0415 - the channels use this module

        return RemotePollChannel(self, name)

    def long_poll(self, name: str) -> RemoteLongPollChannel[Any]:
        """The server's long-poll channel ``name``."""
        from ._client import RemoteLongPollChannel  # noqa: PLC0415 - the channels use this module

        return RemoteLongPollChannel(self, name)

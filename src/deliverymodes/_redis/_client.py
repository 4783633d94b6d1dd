"""RedisClient: the connections one process holds to one Redis server, shared by its channels.

Two connections at most, whatever the number of channels and readers: one for commands
(pipelined, so that concurrent publishes and polls share round trips) and one for Pub/Sub (every
channel's notifications). Each is opened again after it drops.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.lowlevel
from typing_extensions import Self

from .._core import check_seconds
from .._exceptions import ConnectionLost
from .._reconnect import Reconnect
from ._address import RedisAddress, parse_redis_url
from ._connection import PushHandler, RedisConnection, RedisError
from ._scripts import Script

__all__ = ["DEFAULT_REDIS_TIMEOUT", "Listener", "RedisClient"]

_log = logging.getLogger("deliverymodes.client")

#: Seconds a Redis command may take (connecting included) before it fails with ConnectionLost.
DEFAULT_REDIS_TIMEOUT = 5.0


class Listener(Protocol):
    """What a channel gives :meth:`RedisClient.listen`: told of each notification, of each
    (re)subscription (to catch up on what it missed) and of each loss of the Pub/Sub link."""

    async def notified(self, data: bytes) -> None: ...

    async def resumed(self) -> None: ...

    def interrupted(self) -> None: ...


class RedisClient:
    """Connections to one Redis server, for any number of Redis channels of this process.

    ``url`` is ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or
    ``unix:///path/to/redis.sock[?db=N]``. A command that cannot be sent or answered within
    ``timeout`` seconds (connecting included) raises ``ConnectionLost``; the next one connects
    again. The Pub/Sub connection comes back by itself after the pauses of ``reconnect``.
    Use it as ``async with RedisClient(url) as client`` and pass it to the channels.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        reconnect: Reconnect = Reconnect(),
    ) -> None:
        self.address: RedisAddress = parse_redis_url(url)
        self.timeout = check_seconds("timeout", timeout)
        if self.timeout == 0:
            raise ValueError("timeout must be > 0")
        if not isinstance(reconnect, Reconnect):
            raise TypeError(f"reconnect must be a Reconnect, not {type(reconnect).__name__}")
        self.reconnect = reconnect
        self._task_group: anyio.abc.TaskGroup | None = None
        self._commands: RedisConnection | None = None
        self._connecting = anyio.Lock()
        self._pubsub: RedisConnection | None = None
        self._opened: set[RedisConnection] = set()  # every connection not known to be closed
        self._channels: dict[object, Callable[[], Awaitable[None]]] = {}  # open: their aclose
        self._pubsub_up: anyio.Event | None = None  # set while the Pub/Sub link is up
        self._keeping_pubsub = False
        self._listeners: dict[bytes, list[Listener]] = {}  # by Pub/Sub channel
        self._confirmed: set[bytes] = set()  # channels Redis let a listener subscribe to
        self._pubsub_error: Exception | None = None  # why the Pub/Sub link last failed
        self._background: anyio.CancelScope | None = None  # the Pub/Sub keeper's
        self._closed = False

    @property
    def url(self) -> str:
        """The server's URL, without its password."""
        return self.address.url

    @property
    def connections(self) -> int:
        """Connections to Redis this client holds open now (0, 1 or 2). The Pub/Sub link is
        watched all the time; a command connection that Redis dropped counts until the next
        command finds out (and opens another)."""
        return sum(1 for c in (self._commands, self._pubsub) if c is not None and not c.broken)

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("this RedisClient is already open")
        if self._closed:
            raise RuntimeError("this RedisClient is closed")
        self._background = anyio.CancelScope()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
        task_group, self._task_group = self._task_group, None
        if task_group is not None:  # in the task that entered it, as anyio requires
            await task_group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close both connections (from any task); commands waiting, and later ones, raise
        ConnectionLost. Leaving ``async with`` closes it too."""
        if self._closed:
            return
        self._closed = True
        if self._background is not None:
            self._background.cancel()  # the Pub/Sub keeper; the body of `async with` goes on
        if self._pubsub_up is not None:
            self._pubsub_up.set()  # subscriptions waiting for the link find the client closed
        # Every connection, not only the two in use: one being opened (under shield) as the
        # client closes, or dropped by the keeper, would keep the client's task group open.
        for connection in list(self._opened):
            await connection.aclose()
        for close in list(self._channels.values()):  # nothing left to send: they end at once
            await close()

    def _close_with(self, channel: object, close: Callable[[], Awaitable[None]] | None) -> None:
        """Have ``close()`` called when this client closes (``None``: no longer): how the
        channels open on it close with it."""
        if close is None:
            self._channels.pop(channel, None)
        else:
            self._channels[channel] = close

    def _closed_error(self) -> ConnectionLost:
        return ConnectionLost(f"the client of Redis at {self.url} is closed")

    async def _open(self, on_push: PushHandler | None = None) -> RedisConnection:
        """A new connection, counted among the client's; closed again at once if the client
        closed while it was being opened."""
        connection = await RedisConnection.open(
            self.address, self.timeout, self._group(), on_push=on_push
        )
        if self._closed:
            await connection.aclose()
            raise self._closed_error()
        self._opened = {c for c in self._opened if not c.broken}
        self._opened.add(connection)
        return connection

    def _group(self) -> anyio.abc.TaskGroup:
        if self._closed:
            raise self._closed_error()
        if self._task_group is None:
            raise RuntimeError("this RedisClient is not open: use `async with client` first")
        return self._task_group

    # -- commands --------------------------------------------------------------------------------

    async def execute(self, *arguments: str | bytes | int | float, shield: bool = False) -> Any:
        """Run one Redis command and return its reply (bytes, int, list or None).

        ``RedisError`` for an error reply; ``ConnectionLost`` if Redis cannot be reached or
        does not answer within the timeout. With ``shield``, a cancellation does not interrupt
        it (a command whose effect must be known once it is sent).
        """
        connection = self._commands
        if connection is None or connection.broken:
            with anyio.CancelScope(shield=shield):  # connecting is bounded by the timeout
                opened = await self._connect()
            connection = opened
        return await connection.execute(*arguments, shield=shield)

    async def execute_many(self, *commands: tuple[str | bytes | int | float, ...]) -> list[Any]:
        """Run ``commands`` in one round trip; their replies in order, an error reply as a
        ``hiredis.ReplyError`` in its place. Sent as ``MULTI`` … ``EXEC``, they run at once."""
        connection = self._commands
        if connection is None or connection.broken:
            connection = await self._connect()
        return await connection.execute_many(list(commands))

    async def _connect(self) -> RedisConnection:
        async with self._connecting:
            connection = self._commands
            if connection is None or connection.broken:
                if connection is not None:
                    await connection.aclose()  # its stream, if nothing closed it yet
                connection = await self._open()
                self._commands = connection
            return connection

    async def run_script(
        self,
        script: Script,
        keys: tuple[str, ...],
        arguments: tuple[str | bytes | int, ...],
        *,
        shield: bool = False,
    ) -> Any:
        """Run ``script`` by its SHA-1, loading it first if Redis does not know it."""
        try:
            return await self.execute(
                "EVALSHA", script.sha, len(keys), *keys, *arguments, shield=shield
            )
        except RedisError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        return await self.execute(
            "EVAL", script.source, len(keys), *keys, *arguments, shield=shield
        )

    # -- Pub/Sub ---------------------------------------------------------------------------------

    async def listen(self, channel: bytes, listener: Listener) -> None:
        """Subscribe ``listener`` to the Pub/Sub ``channel``; returns once it is subscribed and
        has caught up, or raises ``ConnectionLost`` if that takes longer than the timeout."""
        group = self._group()
        self._listeners.setdefault(channel, []).append(listener)
        if not self._keeping_pubsub:
            self._keeping_pubsub = True
            self._pubsub_up = anyio.Event()
            group.start_soon(self._keep_pubsub_until_closed)
        try:
            with anyio.fail_after(self.timeout):
                while True:
                    if self._closed:  # aclose() set the event this waits on, or will
                        raise self._closed_error()
                    up = self._pubsub_up
                    assert up is not None
                    await up.wait()
                    pubsub = self._pubsub
                    if pubsub is not None and not pubsub.broken:
                        try:
                            await pubsub.execute("SUBSCRIBE", channel)
                        except ConnectionLost:
                            continue
                        self._confirmed.add(channel)
                        await listener.resumed()
                        return
                    await anyio.lowlevel.checkpoint()
        except TimeoutError:
            self._forget(channel, listener)
            why = f" ({self._pubsub_error})" if self._pubsub_error else ""
            raise ConnectionLost(
                f"cannot subscribe to Redis at {self.url} within {self.timeout} s{why}"
            ) from None
        except BaseException:
            self._forget(channel, listener)
            raise

    def _forget(self, channel: bytes, listener: Listener) -> bool:
        """Take ``listener`` off ``channel``; True if that was the channel's last one."""
        listeners = self._listeners.get(channel, [])
        if listener in listeners:
            listeners.remove(listener)
        if listeners:
            return False
        self._listeners.pop(channel, None)
        self._confirmed.discard(channel)
        return True

    async def unlisten(self, channel: bytes, listener: Listener) -> None:
        """Stop telling ``listener``; the channel is unsubscribed once it has no listener."""
        if not self._forget(channel, listener):
            return
        pubsub = self._pubsub
        if pubsub is not None and not pubsub.broken:
            with contextlib.suppress(ConnectionLost):  # its reply is not waited for
                await pubsub.send("UNSUBSCRIBE", channel)

    async def _notify(self, channel: bytes, data: bytes) -> None:
        for listener in self._listeners.get(channel, ()):
            await listener.notified(data)

    async def _watch(self, connection: RedisConnection) -> None:
        """Until ``connection`` breaks: a Redis that stops answering (frozen, or cut off by a
        silent network) is found by a PING each ``timeout`` seconds of silence, which then
        times out and breaks it."""
        while not connection.broken:
            with anyio.move_on_after(self.timeout):
                await connection.wait_broken()
            if not connection.broken:
                with contextlib.suppress(ConnectionLost, RedisError):
                    await connection.execute("PING")

    async def _keep_pubsub_until_closed(self) -> None:
        assert self._background is not None
        with self._background:
            await self._keep_pubsub()

    async def _keep_pubsub(self) -> None:
        """Hold the Pub/Sub connection open, subscribed to every listener's channel."""
        rng = random.Random()
        pauses = None
        while True:
            connection = None
            try:
                connection = await self._open(on_push=self._notify)
                self._pubsub = connection
                # Channels a listener is still subscribing to are left to it: a refusal (an
                # ACL) is then its error, not the link's.
                confirmed = self._confirmed
                listening = [item for item in self._listeners.items() if item[0] in confirmed]
                for channel, _ in listening:
                    await connection.execute("SUBSCRIBE", channel)
            except (ConnectionLost, RedisError) as error:
                if connection is not None:  # refused a SUBSCRIBE: not left open beside the next
                    self._pubsub = None
                    await connection.aclose()
                self._pubsub_error = error
                pauses = pauses or self.reconnect.delays(rng)
                pause = next(pauses, self.reconnect.max_delay)
                _log.info("Redis Pub/Sub at %s: %s; again in %.2f s", self.url, error, pause)
                await anyio.sleep(pause)
                continue
            if pauses is not None:
                _log.info("Redis Pub/Sub connection to %s is back", self.url)
            pauses = None
            self._pubsub_error = None
            assert self._pubsub_up is not None
            self._pubsub_up.set()
            for _, listeners in listening:
                for listener in list(listeners):
                    await listener.resumed()
            await self._watch(connection)
            if self._closed:  # broken by aclose(), before this task saw the cancellation
                return
            self._pubsub = None
            self._pubsub_up = anyio.Event()
            commands = self._commands
            if commands is not None and commands.idle:
                # Most likely dead too (Redis went away): closed now, the next command connects
                # afresh instead of failing once on it.
                await commands.aclose()
            for listeners in list(self._listeners.values()):
                for listener in listeners:
                    listener.interrupted()
            pauses = self.reconnect.delays(rng)
            pause = next(pauses, self.reconnect.max_delay)
            _log.info("Redis Pub/Sub connection to %s dropped; again in %.2f s", self.url, pause)
            await anyio.sleep(pause)

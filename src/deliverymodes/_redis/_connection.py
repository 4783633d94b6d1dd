"""One connection to Redis: hiredis parses and packs RESP, anyio carries the bytes.

Commands from any number of tasks are pipelined: each is queued and written with whatever else
is queued by then (one write, one round trip for all of them), and replies are matched to
commands in order. On a command connection the tasks waiting for replies read them themselves:
one at a time reads, hands each reply to its command, and passes the reading on when its own
has come (no task of its own, and no hop through one per reply). A Pub/Sub connection has a
reader task. A connection that fails or times out is broken for good: every command waiting on
it raises ``ConnectionLost``, and its owner opens another.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import hiredis
from anyio.abc import ByteStream

from .._common import running_on_trio
from .._exceptions import ConnectionLost, DeliveryError
from ._address import RedisAddress
from ._unix import UnixStream

__all__ = ["PushHandler", "RedisConnection", "RedisError"]

_log = logging.getLogger("deliverymodes.client")

_READ_SIZE = 65536
_MESSAGE = b"message"


class RedisError(DeliveryError):
    """Redis refused a command (an error reply), or holds something the channel cannot use."""


class _Reply:
    """A command's place in the queue of replies."""

    __slots__ = ("abandoned", "done", "event", "sent_at", "value")

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at  # when it was queued (anyio's clock): the watchdog's reference
        self.done = False
        self.abandoned = False  # its caller is gone: the reply is read and thrown away
        self.event: anyio.Event | None = None  # what its caller waits on, if it waits
        self.value: Any = None

    def settle(self, value: Any) -> None:
        self.value = value
        self.done = True
        if self.event is not None:
            self.event.set()


PushHandler = Callable[[bytes, bytes], Awaitable[None]]


class RedisConnection:
    """One Redis connection: pipelined commands, replies matched in order by :meth:`run`.

    Open it with :meth:`open`, which starts its reader in ``task_group``. With ``on_push``, it
    is a Pub/Sub connection: each published message is handed to ``on_push(channel, data)``,
    awaited before the next is read (a slow handler holds Redis back, as a full buffer should).
    """

    def __init__(self, stream: ByteStream, address: RedisAddress, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._stream = stream
        self._reader = hiredis.Reader()
        self._pending: deque[_Reply] = deque()
        self._outgoing: list[bytes] = []
        self._flushing = False
        self._flush_began = 0.0  # when the write under way began
        self._reading = False  # a task is reading replies
        self._error: ConnectionLost | None = None
        self._closed = anyio.Event()
        self._watchdog = anyio.CancelScope()

    @classmethod
    async def open(
        cls,
        address: RedisAddress,
        timeout: float,
        task_group: anyio.abc.TaskGroup,
        on_push: PushHandler | None = None,
    ) -> RedisConnection:
        """Connect, log in and select the database; ``ConnectionLost`` if Redis cannot be
        reached within ``timeout`` seconds, ``RedisError`` if it refuses the login."""
        try:
            with anyio.fail_after(timeout):
                stream: ByteStream
                if address.path is not None:
                    stream = await anyio.connect_unix(address.path)
                    if not running_on_trio():
                        stream = UnixStream(stream)
                else:
                    assert address.host is not None
                    if address.tls:
                        # No TLS closing handshake: Redis needs none, and it would read from
                        # the stream while the connection's reader task may be reading too.
                        stream = await anyio.connect_tcp(
                            address.host,
                            address.port,
                            ssl_context=ssl.create_default_context(),
                            tls_standard_compatible=False,
                        )
                    else:
                        stream = await anyio.connect_tcp(address.host, address.port)
        except (OSError, TimeoutError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else str(error)
            raise ConnectionLost(f"cannot connect to Redis at {address.url}: {reason}") from None
        connection = cls(stream, address, timeout)
        task_group.start_soon(connection._watch)
        if on_push is not None:
            connection._reading = True  # for good: the reader task reads every reply
            task_group.start_soon(connection.run, on_push)
        try:
            if address.password is not None:
                login = [address.password]
                if address.username is not None:
                    login.insert(0, address.username)
                await connection.execute("AUTH", *login)
            if address.db:
                await connection.execute("SELECT", address.db)
        except BaseException:
            await connection.aclose()
            raise
        return connection

    @property
    def idle(self) -> bool:
        """Nothing is being sent or awaited on it."""
        return not self._pending and not self._flushing

    @property
    def broken(self) -> bool:
        """The connection failed or was closed: it takes no more commands."""
        return self._error is not None

    async def execute(self, *arguments: str | bytes | int | float, shield: bool = False) -> Any:
        """Send one command and return its reply (bytes, int, list, None).

        ``RedisError`` for an error reply; ``ConnectionLost`` if the connection fails or the
        reply takes longer than the timeout (the connection is then broken). Cancelled while it
        waits, the reply is read and thrown away when it comes; with ``shield``, it is not
        cancelled (within the timeout).
        """
        if self._error is not None:
            raise self._error
        reply = _Reply(anyio.current_time())
        self._pending.append(reply)
        self._outgoing.append(hiredis.pack_command(arguments))  # type: ignore[arg-type]
        value = await self._wait_for(reply, shield)
        if isinstance(value, hiredis.ReplyError):
            raise RedisError(str(value))
        return value

    async def send(self, *arguments: str | bytes | int | float) -> None:
        """Send one command without waiting for its reply, which is read and thrown away when
        it comes (an error reply too). ``ConnectionLost`` if the connection is broken."""
        if self._error is not None:
            raise self._error
        reply = _Reply(anyio.current_time())
        reply.abandoned = True
        self._pending.append(reply)
        self._outgoing.append(hiredis.pack_command(arguments))  # type: ignore[arg-type]
        if not self._flushing:  # otherwise the write under way takes it too
            with anyio.CancelScope(shield=True):
                await self._flush()

    async def execute_many(
        self, commands: list[tuple[str | bytes | int | float, ...]], *, shield: bool = False
    ) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order (an error reply
        as a ``hiredis.ReplyError`` in its place); otherwise as :meth:`execute`."""
        if self._error is not None:
            raise self._error
        now = anyio.current_time()
        replies = [_Reply(now) for _ in commands]
        self._pending.extend(replies)
        self._outgoing.extend(hiredis.pack_command(command) for command in commands)  # type: ignore[arg-type]
        await self._wait_for(replies[-1], shield)
        return [reply.value for reply in replies]

    async def _wait_for(self, reply: _Reply, shield: bool) -> Any:
        """Flush, then wait until ``reply`` has come (reading replies meanwhile, if nobody else
        does); its value. ``ConnectionLost`` if it does not come (the watchdog breaks the
        connection when it is late)."""
        try:
            if shield:
                with anyio.CancelScope(shield=True):
                    await self._send_and_wait(reply, shielded=True)
            else:
                await self._send_and_wait(reply, shielded=False)
        finally:
            if not reply.done:
                reply.abandoned = True
                self._hand_over()
        value = reply.value
        if isinstance(value, ConnectionLost):
            # A cancellation that also stopped the reader wins over what that did to the reply.
            await anyio.lowlevel.checkpoint_if_cancelled()
            raise value
        return value

    async def _send_and_wait(self, reply: _Reply, *, shielded: bool) -> None:
        if not self._flushing:
            if shielded:
                await self._flush()
            else:
                with anyio.CancelScope(shield=True):
                    await self._flush()
        while not reply.done:
            if self._reading:  # another task reads: it hands over the reply, or the reading
                reply.event = event = anyio.Event()
                await event.wait()
            else:
                await self._read_until(reply)

    async def _flush(self) -> None:
        """Write everything queued, and what is queued meanwhile, in as few writes as it takes.

        Called shielded: a write cut in the middle would leave half a command on the connection
        (the watchdog breaks a write that takes longer than the timeout).
        """
        self._flushing = True
        self._flush_began = anyio.current_time()
        url = self.address.url
        try:
            while self._outgoing and self._error is None:
                data = b"".join(self._outgoing)
                self._outgoing.clear()
                try:
                    await self._stream.send(data)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    # The reader finds the end too, and closes the stream: closing it here as
                    # the end arrives trips anyio's Unix sockets on asyncio.
                    self._fail(f"the connection to Redis at {url} failed")
                    return
        finally:
            self._flushing = False

    async def _watch(self) -> None:
        """Break the connection when a write, or the oldest reply awaited, takes longer than
        the timeout: one timer per connection rather than one per command. Found within a
        quarter of the timeout after it passed."""
        timeout = self.timeout
        with self._watchdog:
            while self._error is None:
                now = anyio.current_time()
                if self._flushing and now - self._flush_began >= timeout:
                    await self._break(f"Redis at {self.address.url} took no data for {timeout} s")
                    return
                oldest = next((r.sent_at for r in self._pending if not r.abandoned), None)
                if oldest is not None and now - oldest >= timeout:
                    await self._break(
                        f"no reply from Redis at {self.address.url} within {timeout} s"
                    )
                    return
                due = timeout / 4 if oldest is None else max(oldest + timeout - now, timeout / 64)
                await anyio.sleep(min(due, timeout / 4) if self._flushing else due)

    async def _read_until(self, reply: _Reply) -> None:
        """Read replies, settling each command's, until ``reply``'s has come."""
        url = self.address.url
        self._reading = True
        reader = self._reader
        pending = self._pending
        try:
            while not reply.done:
                data = await self._stream.receive(_READ_SIZE)
                reader.feed(data)
                while (value := reader.gets()) is not False:
                    if pending:
                        pending.popleft().settle(value)
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._fail(f"the connection to Redis at {url} was closed")
        except hiredis.ProtocolError as error:
            self._fail(f"Redis at {url} sent bytes that are not RESP: {error}")
        finally:
            self._reading = False
            if self._error is not None:  # broken: this reader closes the stream (see _break)
                with anyio.CancelScope(shield=True):
                    await self._stream.aclose()
            self._hand_over()

    def _hand_over(self) -> None:
        """Nobody reads now: wake the oldest command still waiting, to read."""
        if self._reading:
            return
        for waiting in self._pending:
            if not waiting.done and not waiting.abandoned and waiting.event is not None:
                waiting.event.set()
                return

    async def run(self, on_push: PushHandler | None = None) -> None:
        """Read replies until the connection ends; then every command waiting fails."""
        try:
            await self._read(on_push)
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._fail(f"the connection to Redis at {self.address.url} was closed")
        except hiredis.ProtocolError as error:
            self._fail(f"Redis at {self.address.url} sent bytes that are not RESP: {error}")
        finally:
            self._fail(f"the connection to Redis at {self.address.url} was closed")
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            self._closed.set()

    async def _read(self, on_push: PushHandler | None) -> None:
        reader = self._reader
        pending = self._pending
        while True:
            data = await self._stream.receive(_READ_SIZE)
            if on_push is not None:
                # Let the tasks woken with this one go first: a publish's reply comes with its
                # own notification, and once the publish has put its messages in this
                # process's view, the notification is passed over without being read.
                await anyio.lowlevel.checkpoint()
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                if on_push is not None and type(reply) is list and reply[0] == _MESSAGE:
                    await on_push(reply[1], reply[2])
                elif pending:
                    pending.popleft().settle(reply)

    def _fail(self, reason: str) -> None:
        """Break the connection: commands waiting (and later ones) raise ConnectionLost."""
        if self._error is None:
            self._error = ConnectionLost(reason)
            _log.debug("Redis connection broken: %s", reason)
            self._watchdog.cancel()
        while self._pending:
            self._pending.popleft().settle(self._error)
        self._outgoing.clear()

    async def _break(self, reason: str) -> None:
        """Break the connection and close its stream, which ends the reader.

        While another task reads the stream, it is shut down instead, and the reader closes it
        once it finds the end: on asyncio, anyio's Unix socket stream, closed by one task while
        another waits to read it, can report an ``InvalidStateError`` to the loop when data
        arrives at that moment."""
        self._fail(reason)
        if self._reading and self._shut_down():
            return
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    def _shut_down(self) -> bool:
        """Shut the socket down both ways (the reader then reads the end); False if the stream
        gives no socket to shut down."""
        sock = self._stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is None:
            return False
        with contextlib.suppress(OSError):  # already closed, or never connected
            sock.shutdown(socket.SHUT_RDWR)
        return True

    async def wait_broken(self) -> None:
        """Return once the connection has ended and its reader stopped."""
        await self._closed.wait()

    async def aclose(self) -> None:
        """Close the connection; commands waiting raise ConnectionLost."""
        await self._break(f"the connection to Redis at {self.address.url} was closed")

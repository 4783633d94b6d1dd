"""Running a server on each transport for the remote tests."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio

from deliverymodes import (
    Remote,
    ServerLimits,
    connect,
    connect_tcp,
    connect_unix,
    serve,
    serve_tcp,
    serve_unix,
    stream_pair,
    wire,
)

TRANSPORTS = ["memory", "tcp", "unix"]


@asynccontextmanager
async def running_server(
    channels: Mapping[str, object], transport: str, limits: ServerLimits | None = None
) -> AsyncIterator[Callable[..., Remote]]:
    """Serve ``channels`` on ``transport``; yields a function that makes a (new) connection
    (``reconnect=None`` for one that is not made again once it drops)."""
    async with anyio.create_task_group() as tg:
        if transport == "tcp":
            port = await tg.start(partial(serve_tcp, channels, limits=limits))
            yield lambda **options: connect_tcp("127.0.0.1", port, **options)
        elif transport == "unix":
            with tempfile.TemporaryDirectory(dir="/tmp") as folder:
                path = str(Path(folder) / "dm.sock")
                await tg.start(partial(serve_unix, channels, path, limits=limits))
                yield lambda **options: connect_unix(path, **options)
        else:

            def make(**_options: object) -> Remote:  # a stream pair is never made again
                server_end, client_end = stream_pair()
                tg.start_soon(partial(serve, server_end, channels, limits=limits))
                return connect(client_end)

            yield make
        tg.cancel_scope.cancel()


@asynccontextmanager
async def raw_connection(connect_to: Callable[..., Remote]) -> AsyncIterator[anyio.abc.ByteStream]:
    """The byte stream under a connection, with nothing speaking on it yet (for bad input)."""
    remote = connect_to()
    stream = await remote._open_stream()
    try:
        yield stream
        # Close as a well-behaved client does, and let the server finish first.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await stream.send(wire.encode(wire.Close()))
        with anyio.fail_after(5), contextlib.suppress(Exception):
            while await stream.receive():
                pass
    finally:
        await stream.aclose()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (bounded by the caller's fail_after) for the server to notice something."""
    while not condition():  # noqa: ASYNC110 - the server's state has no event to wait on
        await anyio.sleep(0.005)


class RawClient:
    """A client that speaks frames by hand, as an outside implementation would."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.decoder = wire.FrameDecoder(64 * 1024 * 1024)

    async def send(self, *frames: wire.Event | bytes) -> None:
        """Write ``frames`` (events or raw bytes) in one write."""
        data = [f if isinstance(f, bytes) else wire.encode(f) for f in frames]
        await self.stream.send(b"".join(data))

    async def next(self, *, keepalives: bool = False) -> wire.Event | None:
        """The next frame from the server (KEEPALIVE skipped unless ``keepalives``); None at the
        end of the stream."""
        while True:
            event = self.decoder.next_event()
            if event is not None:
                if isinstance(event, wire.Keepalive) and not keepalives:
                    continue
                return event
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return None
            self.decoder.receive_data(data)

    async def hello(self, max_frame_size: int = 1 << 20) -> None:
        await self.send(wire.Hello(wire.PROTOCOL_VERSION, max_frame_size))
        assert isinstance(await self.next(), wire.Welcome)


@asynccontextmanager
async def raw_tcp_client(port: int) -> AsyncIterator[RawClient]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    try:
        yield RawClient(stream)
    finally:
        await stream.aclose()


@asynccontextmanager
async def tcp_server(
    channels: Mapping[str, object], limits: ServerLimits | None = None
) -> AsyncIterator[int]:
    """``serve_tcp`` on a free port; yields the port. The server must still be running at the
    end: a server that ended (crashed) fails the test with its exception."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, channels, limits=limits))
        yield port
        tg.cancel_scope.cancel()


class Proxy:
    """A loopback TCP proxy in front of a server, to cut connections or make them silent.

    ``cut()`` closes the connections it carries; ``silence()`` stops forwarding on them while
    keeping them open (as a pulled cable would); ``refuse`` makes it close new connections at
    once (a server that is down). New connections are forwarded normally otherwise.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refuse = False
        self.accepted = 0
        self._scopes: list[anyio.CancelScope] = []
        self._silenced: list[list[bool]] = []

    async def run(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        async with listener:
            await listener.serve(self._carry)

    async def _carry(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            if self.refuse:
                return
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
            except OSError:
                return
            self.accepted += 1
            silent = [False]
            scope = anyio.CancelScope()
            self._scopes.append(scope)
            self._silenced.append(silent)
            async with upstream:
                with scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pump, client, upstream, silent, tg.cancel_scope)
                        tg.start_soon(self._pump, upstream, client, silent, tg.cancel_scope)

    @staticmethod
    async def _pump(
        source: anyio.abc.SocketStream,
        target: anyio.abc.SocketStream,
        silent: list[bool],
        scope: anyio.CancelScope,
    ) -> None:
        try:
            async for chunk in source:
                if not silent[0]:
                    await target.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        if not silent[0]:
            scope.cancel()  # one side ended: end the other

    def cut(self) -> None:
        """Close every connection carried now."""
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()
        self._silenced.clear()

    def silence(self) -> None:
        """Stop forwarding on every connection carried now, keeping them open."""
        for silent in self._silenced:
            silent[0] = True
        self._scopes.clear()
        self._silenced.clear()

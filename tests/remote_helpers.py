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
) -> AsyncIterator[Callable[[], Remote]]:
    """Serve ``channels`` on ``transport``; yields a function that makes a (new) connection."""
    async with anyio.create_task_group() as tg:
        if transport == "tcp":
            port = await tg.start(partial(serve_tcp, channels, limits=limits))
            yield lambda: connect_tcp("127.0.0.1", port)
        elif transport == "unix":
            with tempfile.TemporaryDirectory(dir="/tmp") as folder:
                path = str(Path(folder) / "dm.sock")
                await tg.start(partial(serve_unix, channels, path, limits=limits))
                yield lambda: connect_unix(path)
        else:

            def make() -> Remote:
                server_end, client_end = stream_pair()
                tg.start_soon(partial(serve, server_end, channels, limits=limits))
                return connect(client_end)

            yield make
        tg.cancel_scope.cancel()


@asynccontextmanager
async def raw_connection(connect_to: Callable[[], Remote]) -> AsyncIterator[anyio.abc.ByteStream]:
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

"""Running the ASGI app under a real server (hypercorn, on asyncio or trio) on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import sniffio
from hypercorn.config import Config


@asynccontextmanager
async def running_app(app: Any, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with hypercorn on loopback (a free port by default); yields the base URL."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(512)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # hypercorn owns and closes it
    config.loglevel = "WARNING"
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = anyio.Event()
    if sniffio.current_async_library() == "trio":
        import hypercorn.trio

        serve: Any = hypercorn.trio.serve
    else:
        import hypercorn.asyncio

        serve = hypercorn.asyncio.serve
    stopped = anyio.Event()

    async def run() -> None:
        await serve(app, config, shutdown_trigger=stop.wait)
        stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(10):
            while True:  # until the server answers
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.01)
                    continue
                await stream.aclose()
                break
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop.set()
            with anyio.move_on_after(config.graceful_timeout + 1):
                await stopped.wait()
            if not stopped.is_set():
                # On asyncio under Python 3.12+, hypercorn's shutdown waits for every open
                # connection, past its graceful timeout (pgjones/hypercorn#308): end them as it
                # does on earlier versions, by cancelling their tasks.
                _cancel_hypercorn_connections()
                with anyio.fail_after(10):
                    await stopped.wait()


def _cancel_hypercorn_connections() -> None:
    import asyncio

    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__.endswith("_server_callback"):  # type: ignore[union-attr]
            task.cancel()

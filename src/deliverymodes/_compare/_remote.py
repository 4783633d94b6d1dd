"""``compare`` over TCP or HTTP: the channel and its publisher in a server thread of their own
(so that the serving side's CPU time can be told apart), the readers in this one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import anyio

from .._core import EARLIEST
from .._remote import connect_tcp, serve_tcp
from .._wire import BytesCodec
from ._run import (
    Progress,
    Result,
    Workload,
    make_channel,
    make_result,
    publish_workload,
    read_all,
    report_progress,
    requests_made,
    slow_count,
    subscriber_counts,
)

__all__ = ["run_remote"]


class _Server:
    """The serving side, run by ``anyio.run`` in its own thread."""

    def __init__(self, model: str, workload: Workload, progress: Progress) -> None:
        self.model = model
        self.workload = workload
        self.progress = progress
        self.ready = threading.Event()
        self.go = threading.Event()
        self.readers_done = threading.Event()
        self.finished = threading.Event()
        self.port = 0
        self.cpu = 0.0
        self.published = 0
        self.error: BaseException | None = None
        self.channel: Any = None

    def run(self) -> None:
        try:
            anyio.run(self._main)
        except BaseException as error:  # reported to the main thread
            self.error = error
            self.ready.set()
        finally:
            self.finished.set()

    async def _main(self) -> None:
        workload = self.workload
        self.channel = channel = make_channel(self.model, workload)
        async with anyio.create_task_group() as tg:
            if workload.transport == "tcp":
                self.port = await tg.start(
                    partial(serve_tcp, {"feed": channel}, codec=BytesCodec())
                )
                stop_server: Callable[[], None] = tg.cancel_scope.cancel
            else:
                stop_server = await self._serve_http(tg, channel)
            self.ready.set()
            await anyio.to_thread.run_sync(self.go.wait)
            cpu_before = time.thread_time()
            payload = b"x" * workload.payload_size
            deadline = time.monotonic() + workload.duration

            def stop() -> bool:
                return workload.messages is None and time.monotonic() >= deadline

            await publish_workload(channel, workload, payload, stop, self.progress.recorder)
            await channel.aclose()
            await anyio.to_thread.run_sync(self.readers_done.wait)
            self.cpu = time.thread_time() - cpu_before
            self.published = channel.statistics().published
            stop_server()

    async def _serve_http(self, tg: anyio.abc.TaskGroup, channel: Any) -> Callable[[], None]:
        try:
            import hypercorn.asyncio  # noqa: PLC0415 - an optional dependency
            from hypercorn.config import Config  # noqa: PLC0415
        except ImportError:
            raise RuntimeError(
                'the http transport needs an ASGI server: pip install "deliverymodes[compare]"'
            ) from None
        from .._http import HttpApp  # noqa: PLC0415

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        self.port = listener.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{listener.detach()}"]
        config.loglevel = "WARNING"
        config.accesslog = None
        config.graceful_timeout = 1.0
        stopped = anyio.Event()
        app: Any = HttpApp({"feed": channel}, keepalive_interval=5)
        tg.start_soon(partial(hypercorn.asyncio.serve, app, config, shutdown_trigger=stopped.wait))
        return stopped.set


async def _tcp_readers(
    model: str, workload: Workload, port: int, stack: AsyncExitStack
) -> tuple[list[Any], Callable[[], int]]:
    remotes = []
    subscribers = []
    for _ in range(workload.subscribers):
        remote = await stack.enter_async_context(connect_tcp("127.0.0.1", port, codec=BytesCodec()))
        remotes.append(remote)
        if model == "push":
            subscriber: Any = remote.push("feed").subscribe()
        elif model == "poll":
            subscriber = remote.poll("feed").subscribe(EARLIEST, workload.poll_interval)
        else:
            subscriber = remote.long_poll("feed").subscribe(
                EARLIEST, min_messages=workload.min_messages, max_wait=workload.max_wait
            )
        subscribers.append(await stack.enter_async_context(subscriber))
    return subscribers, lambda: sum(r.bytes_read + r.bytes_written for r in remotes)


async def _http_readers(
    model: str, workload: Workload, port: int, stack: AsyncExitStack
) -> tuple[list[Any], Callable[[], int]]:
    try:
        import httpx  # noqa: PLC0415 - an optional dependency

        from ..http import HttpRemote  # noqa: PLC0415
    except ImportError:
        raise RuntimeError(
            'the http transport needs httpx: pip install "deliverymodes[compare]"'
        ) from None
    tally = _Tally()
    counting = _counting_transport(httpx)
    subscribers = []
    for _ in range(workload.subscribers):
        # Each reader has a client of its own, as each browser has: one shared connection pool
        # looks at every connection on every request, and the load generator became the limit.
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=counting(tally), timeout=httpx.Timeout(30.0, read=None))
        )
        channel = HttpRemote(f"http://127.0.0.1:{port}", client=client).channel("feed")
        if model == "push":
            subscriber: Any = channel.events(EARLIEST)
        elif model == "poll":
            subscriber = channel.poll_subscriber(EARLIEST, workload.poll_interval)
        else:
            subscriber = channel.subscribe(
                EARLIEST, wait=workload.max_wait, min_messages=workload.min_messages
            )
        subscribers.append(await stack.enter_async_context(subscriber))
    return subscribers, lambda: tally.bytes


class _Tally:
    """Bytes on the wire, both ways, over every reader's connections."""

    def __init__(self) -> None:
        self.bytes = 0


def _counting_transport(httpx: Any) -> Callable[[_Tally], Any]:
    """A class of httpx transports that count the bytes of requests and answers (headers
    included) into a tally."""

    def header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
        return sum(len(name) + len(value) + 4 for name, value in headers)

    class Counted(httpx.AsyncByteStream):  # type: ignore[misc]
        """The answer's body, counted as it is read. An iterator rather than an async generator:
        a stream left early (SSE) leaves no generator for trio to finalise."""

        def __init__(self, inner: Any, tally: _Tally) -> None:
            self._inner, self._tally = inner, tally
            self._chunks: Any = None

        def __aiter__(self) -> Any:
            self._chunks = self._inner.__aiter__()
            return self

        async def __anext__(self) -> bytes:
            chunk: bytes = await self._chunks.__anext__()
            self._tally.bytes += len(chunk)
            return chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class Counting(httpx.AsyncBaseTransport):  # type: ignore[misc]
        def __init__(self, tally: _Tally) -> None:
            self._inner = httpx.AsyncHTTPTransport()
            self._tally = tally

        async def handle_async_request(self, request: Any) -> Any:
            self._tally.bytes += 16 + len(request.url.raw_path) + header_bytes(request.headers.raw)
            response = await self._inner.handle_async_request(request)
            self._tally.bytes += 17 + header_bytes(response.headers.raw)
            response.stream = Counted(response.stream, self._tally)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

    return Counting


def _require_http() -> None:
    """Say plainly what to install when an optional dependency of the http transport is missing."""
    for module in ("hypercorn", "httpx"):
        try:
            __import__(module)
        except ImportError:
            raise RuntimeError(
                f'the http transport needs {module}: pip install "deliverymodes[compare]"'
            ) from None


async def run_remote(
    model: str, workload: Workload, on_progress: Callable[[Progress], None] | None
) -> Result:
    if workload.transport == "http":
        _require_http()
    progress = Progress(model, workload)
    recorder = progress.recorder
    server = _Server(model, workload, progress)
    thread = threading.Thread(target=server.run, name="deliverymodes-compare-server", daemon=True)
    thread.start()
    await anyio.to_thread.run_sync(server.ready.wait)
    if server.error is not None:
        raise server.error
    slow = slow_count(workload)
    try:
        async with AsyncExitStack() as stack:
            make = _tcp_readers if workload.transport == "tcp" else _http_readers
            subscribers, wire_bytes = await make(model, workload, server.port, stack)
            started = time.monotonic()
            server.go.set()
            async with anyio.create_task_group() as watching:
                watching.start_soon(report_progress, progress, on_progress)
                async with anyio.create_task_group() as readers:  # they end with the channel
                    for index, subscriber in enumerate(subscribers):
                        delay = workload.slow_delay if index < slow else None
                        readers.start_soon(read_all, subscriber, recorder, delay)
                watching.cancel_scope.cancel()
            elapsed = time.monotonic() - started
            server.readers_done.set()
            await anyio.to_thread.run_sync(server.finished.wait)
            stats = [s.statistics() for s in subscribers]
            total_bytes = wire_bytes()
    finally:
        server.go.set()
        server.readers_done.set()
    if server.error is not None:
        raise server.error
    published = server.published
    per_subscriber = subscriber_counts(model, published, stats)
    return make_result(
        model,
        workload,
        published=published,
        per_subscriber=per_subscriber,
        requests=requests_made(model, stats),
        empty=sum(s.empty_polls for s in stats),
        wire_bytes=total_bytes,
        cpu=server.cpu,
        elapsed=elapsed,
        recorder=recorder,
    )

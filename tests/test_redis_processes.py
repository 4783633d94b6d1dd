"""Two server processes over the same Redis channels: what is published to one reaches every
client of the other (Server-Sent Events, WebSocket, long polls and polls), each message once and
in order, with the offsets the publishes answered.

Each process runs ``tests/redis_worker.py`` under a real server: uvicorn when the test runs on
asyncio, hypercorn's trio worker when it runs on trio, so that both backends run the Redis
channels in a server too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from deliverymodes import LATEST, Message
from deliverymodes.http import HttpRemote

from .redis_server import private_redis, require_redis_server
from .served_apps import ROOT, free_port

require_redis_server()

#: Messages published to each channel before the last one, which says "the end".
COUNT = 40
END = {"end": True}
CHANNELS = ("push", "long", "poll")


def _command(backend: str, port: int) -> list[str]:
    app = "tests.redis_worker:app"
    if backend == "trio":
        return ["hypercorn", app, "-b", f"127.0.0.1:{port}", "-w", "0", "-k", "trio"]
    return ["uvicorn", app, "--port", str(port), "--log-level", "warning"]


@asynccontextmanager
async def worker(redis_url: str, backend: str) -> AsyncIterator[str]:
    """A server process serving the Redis channels at ``redis_url``; yields its base URL once
    it answers polls (its channels open), and stops it at the end (SIGKILL if SIGTERM is not
    enough within 10 s)."""
    port = free_port()
    environment = {
        **os.environ,
        "DELIVERYMODES_TEST_REDIS": redis_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
            [sys.executable, "-m", *_command(backend, port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

        def said() -> str:
            stderr.seek(0)
            return stderr.read().decode(errors="replace")[-3000:]

        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                with anyio.fail_after(30):
                    while True:
                        assert process.poll() is None, f"the worker ended:\n{said()}"
                        try:
                            answer = await client.get(f"{url}/poll", params={"cursor": "earliest"})
                        except httpx.TransportError:
                            answer = None
                        if answer is not None and answer.status_code == 200:
                            break
                        await anyio.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                await anyio.to_thread.run_sync(lambda: process.wait(10))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


Received = list[tuple[int, object]]
Reader = Callable[[Received], Coroutine[Any, Any, None]]


def _subscriber_reader(subscriber: Any) -> Reader:
    async def read(into: Received) -> None:
        message: Message[object]
        async for message in subscriber:
            into.append((message.offset, message.payload))
            if message.payload == END:
                return

    return read


def _socket_reader(socket: AsyncWebSocketSession) -> Reader:
    async def read(into: Received) -> None:
        while True:
            frame = json.loads(await socket.receive_text())
            assert "offset" in frame, f"a WebSocket reported a gap: {frame}"
            into.append((frame["offset"], frame["payload"]))
            if frame["payload"] == END:
                return

    return read


async def open_readers(
    stack: AsyncExitStack, url: str, sockets: httpx.AsyncClient, label: str = ""
) -> dict[str, tuple[str, Reader]]:
    """Readers of every channel of the server at ``url``, connected before anything is
    published: an event stream and a WebSocket on each, polls on the poll and long-poll
    channels, long polls on the long-poll channel. By label: (channel name, reader)."""
    remote = await stack.enter_async_context(HttpRemote(url))
    readers: dict[str, tuple[str, Reader]] = {}
    for name in CHANNELS:
        channel = remote.channel(name)
        start = LATEST if name == "push" else 0
        events = await stack.enter_async_context(channel.events(start))
        readers[f"{label}{name} SSE"] = (name, _subscriber_reader(events))
        socket: AsyncWebSocketSession = await stack.enter_async_context(
            aconnect_ws(f"{url}/{name}/ws", sockets)
        )
        readers[f"{label}{name} WebSocket"] = (name, _socket_reader(socket))
        if name != "push":
            polls = await stack.enter_async_context(channel.poll_subscriber(0, poll_interval=0.05))
            readers[f"{label}{name} polls"] = (name, _subscriber_reader(polls))
        if name == "long":
            long_polls = await stack.enter_async_context(channel.subscribe(0, wait=5))
            readers[f"{label}{name} long polls"] = (name, _subscriber_reader(long_polls))
    return readers


async def test_what_one_process_publishes_reaches_every_client_of_the_other(
    anyio_backend: str,
) -> None:
    with private_redis() as redis_url, anyio.fail_after(90):
        async with (
            worker(redis_url, anyio_backend) as first,
            worker(redis_url, anyio_backend) as second,
            HttpRemote(first) as publisher,
            httpx.AsyncClient() as sockets,
            AsyncExitStack() as stack,
        ):
            readers = await open_readers(stack, second, sockets)
            published: dict[str, Received] = {name: [] for name in CHANNELS}
            received: dict[str, Received] = {label: [] for label in readers}

            async def publish(name: str) -> None:
                channel = publisher.channel(name)
                for number in range(COUNT):
                    payload = {"channel": name, "number": number}
                    message = await channel.publish(payload)
                    published[name].append((message.offset, payload))
                message = await channel.publish(END)
                published[name].append((message.offset, END))

            async with anyio.create_task_group() as tg:
                for label, (_, read) in readers.items():
                    tg.start_soon(read, received[label])
                for name in CHANNELS:
                    tg.start_soon(publish, name)

    for name in CHANNELS:
        assert [offset for offset, _ in published[name]] == list(range(COUNT + 1))
    for label, (name, _) in readers.items():
        assert received[label] == published[name], label


async def test_concurrent_publishes_to_both_processes_reach_all_clients_in_one_order(
    anyio_backend: str,
) -> None:
    """Publishers on both processes at once, several per channel: every reader of either
    process gets every message once, in offset order, and the offsets have no gap."""
    with private_redis() as redis_url, anyio.fail_after(90):
        async with (
            worker(redis_url, anyio_backend) as first,
            worker(redis_url, anyio_backend) as second,
            HttpRemote(first) as to_first,
            HttpRemote(second) as to_second,
            httpx.AsyncClient() as sockets,
            AsyncExitStack() as stack,
        ):
            readers = await open_readers(stack, first, sockets, "first: ")
            readers |= await open_readers(stack, second, sockets, "second: ")
            published: dict[str, Received] = {name: [] for name in CHANNELS}
            received: dict[str, Received] = {label: [] for label in readers}

            async def publish(remote: HttpRemote, name: str, publisher: int) -> None:
                channel = remote.channel(name)
                for number in range(COUNT // 4):
                    payload = {"publisher": publisher, "number": number}
                    message = await channel.publish(payload)
                    published[name].append((message.offset, payload))

            async with anyio.create_task_group() as tg:
                for label, (_, read) in readers.items():
                    tg.start_soon(read, received[label])
                async with anyio.create_task_group() as publishing:
                    for name in CHANNELS:
                        for publisher in range(4):
                            remote = (to_first, to_second)[publisher % 2]
                            publishing.start_soon(publish, remote, name, publisher)
                for name in CHANNELS:
                    message = await to_second.channel(name).publish(END)
                    published[name].append((message.offset, END))

    for name in CHANNELS:
        published[name].sort(key=lambda sent: sent[0])
        assert [offset for offset, _ in published[name]] == list(range(COUNT + 1))
    for label, (name, _) in readers.items():
        assert received[label] == published[name], label

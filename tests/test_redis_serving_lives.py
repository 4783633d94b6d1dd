"""Redis channels served over HTTP while Redis loses their data (FLUSHALL): WebSocket and
event-stream readers of a poll or long-poll channel report the new life and go on with it,
rather than failing on a cursor the new life does not have."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from deliverymodes import ErrorCode, HttpApp, PushChannel, Reconnect, RemoteError, connect_tcp
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .http_helpers import running_app
from .redis_helpers import new_key, settled
from .redis_server import private_redis, require_redis_server, restartable_redis
from .remote_helpers import tcp_server

require_redis_server()

SLOW = Reconnect(initial_delay=60, max_delay=60, jitter=0)  # Redis stays away


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.mark.parametrize("kind", [RedisPollChannel, RedisLongPollChannel])
async def test_a_websocket_reader_reports_the_new_life(redis_url: str, kind: Any) -> None:
    async with (
        RedisClient(redis_url) as client,
        kind(client, new_key()) as channel,
        running_app(HttpApp({"c": channel})) as url,
        httpx.AsyncClient() as http,
    ):
        for number in range(3):
            await channel.publish(number)
        old = channel.epoch
        await client.execute("FLUSHALL")
        with anyio.fail_after(10):
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}/c/ws", http) as socket:
                await anyio.sleep(0.2)  # its first read finds the new life, empty
                async with RedisClient(redis_url) as other, kind(other, channel.key) as writer:
                    await writer.publish("new")
                gap = json.loads(await socket.receive_text())
                message = json.loads(await socket.receive_text())
    assert gap["missed_unknown"] is True
    assert gap["epoch"] != old
    assert (message["offset"], message["payload"], message["epoch"]) == (0, "new", gap["epoch"])


async def test_an_event_stream_reports_the_new_life(redis_url: str) -> None:
    async with (
        RedisClient(redis_url) as client,
        RedisPollChannel[object](client, new_key()) as channel,
        running_app(HttpApp({"c": channel}, poll_interval=0.05)) as url,
        httpx.AsyncClient() as http,
    ):
        for number in range(3):
            await channel.publish(number)
        old = channel.epoch
        await client.execute("FLUSHALL")
        lines: list[str] = []
        with anyio.fail_after(10):
            async with http.stream("GET", f"{url}/c/events") as response:
                assert response.status_code == 200
                async with RedisClient(redis_url) as other:
                    async with RedisPollChannel[object](other, channel.key) as writer:
                        await anyio.sleep(0.2)  # the stream's first read finds the new life
                        await writer.publish("new")
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line.startswith("data:") and '"new"' in line:
                        break
    missed = [
        json.loads(line[5:])
        for line, before in zip(lines, ["", *lines[:-1]], strict=True)
        if line.startswith("data:") and before == "event: missed"
    ]
    assert len(missed) == 1
    assert missed[0]["missed_unknown"] is True
    assert missed[0]["epoch"] != old
    ids = [line for line in lines if line.startswith("id:")]
    assert ids[-1] == f"id: {missed[0]['epoch']}:0"


async def test_while_redis_is_unreachable_requests_get_503_and_streams_end_to_come_back() -> None:
    """Redis killed under an app serving a Redis channel: a poll and a publish are answered 503
    (what the library's clients take as a dropped connection, to try again), a WebSocket reader
    is closed with 1013 (try again later) and an event stream ends with its ``retry:`` hint,
    without a failure of the server."""
    with restartable_redis(persistent=False) as server:
        async with (
            RedisClient(server.url, timeout=1, reconnect=SLOW) as client,
            RedisLongPollChannel[object](client, "c") as channel,
            running_app(HttpApp({"c": channel}, poll_interval=0.05)) as url,
            httpx.AsyncClient() as http,
        ):
            await channel.publish(0)
            socket: AsyncWebSocketSession
            with anyio.fail_after(20):
                async with (
                    aconnect_ws(f"{url}/c/ws", http) as socket,
                    http.stream("GET", f"{url}/c/events?wait=0.05") as events,
                ):
                    server.kill()
                    polled = await http.get(f"{url}/c?cursor=1&wait=0.1")
                    published = await http.post(f"{url}/c", json="lost")
                    with pytest.raises(WebSocketDisconnect) as closed:
                        await socket.receive_text()
                    tail = [line async for line in events.aiter_lines()]
    assert (polled.status_code, published.status_code) == (503, 503)
    assert "cannot answer now" in polled.json()["error"]
    assert closed.value.code == 1013
    assert any(line.startswith("retry:") for line in tail)


async def test_over_tcp_each_request_is_refused_and_the_connection_goes_on() -> None:
    """Redis killed under ``serve_tcp``: a poll, a long poll and a publish on the Redis channel
    are each refused (``INTERNAL``, saying why) instead of ending the connection, and a push
    subscription on the same connection lives on."""
    with restartable_redis(persistent=False) as server:
        async with (
            RedisClient(server.url, timeout=1, reconnect=SLOW) as client,
            RedisLongPollChannel[object](client, "c") as channel,
            tcp_server({"c": channel, "p": PushChannel[object]()}) as port,
            connect_tcp("127.0.0.1", port) as remote,
        ):
            await channel.publish(0)
            push = remote.push("p")
            async with push.subscribe() as subscriber:
                server.kill()
                with anyio.fail_after(20):
                    for call in (
                        lambda: remote.poll("c").poll(1),
                        lambda: remote.long_poll("c").poll(1, max_wait=0.2),
                        lambda: remote.poll("c").publish("lost"),
                    ):
                        with pytest.raises(RemoteError, match="cannot answer now") as refused:
                            await call()
                        assert refused.value.code is ErrorCode.INTERNAL
                    await push.publish("still here")
                    assert (await subscriber.receive()).payload == "still here"


async def test_channels_opened_by_the_lifespan_are_closed_before_the_server_ends(
    redis_url: str,
) -> None:
    """``HttpApp(lifespan=…)`` opens the Redis client and channel when the server starts and
    closes them when it shuts down, before it tells the server so (which may then end the task)."""
    channels: dict[str, object] = {}
    seen: list[Any] = []

    @asynccontextmanager
    async def redis_channels() -> AsyncIterator[None]:
        async with (
            RedisClient(redis_url) as client,
            RedisLongPollChannel[object](client, new_key()) as channel,
        ):
            seen.extend([client, channel])
            channels["c"] = channel
            yield

    async with running_app(HttpApp(channels, lifespan=redis_channels)) as url:
        async with httpx.AsyncClient() as http:
            published = await http.post(f"{url}/c", json="hello")
            polled = await http.get(f"{url}/c?cursor=0")
    client, channel = seen
    assert published.status_code == 200
    assert [m["payload"] for m in polled.json()["messages"]] == ["hello"]
    assert channel.closed
    assert client.connections == 0


async def test_a_lifespan_that_fails_to_start_fails_the_startup() -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[None]:
        raise RuntimeError("no Redis here")
        yield  # pragma: no cover

    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await HttpApp({}, lifespan=broken)({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "no Redis here" in sent[0]["message"]


def test_a_lifespan_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="lifespan must be a function"):
        HttpApp({}, lifespan=object())  # type: ignore[arg-type]


LIFESPAN_APP = """
from contextlib import asynccontextmanager
from deliverymodes.http import HttpApp
from deliverymodes.redis import RedisClient, RedisLongPollChannel

channels = {{}}


@asynccontextmanager
async def redis_channels():
    async with (
        RedisClient({url!r}) as client,
        RedisLongPollChannel[object](client, "prices") as prices,
    ):
        channels["prices"] = prices
        print("READY", flush=True)
        yield
    print("CLOSED", client.connections, prices.closed, flush=True)


app = HttpApp(channels, lifespan=redis_channels)
"""


def test_hypercorn_stopped_by_sigterm_closes_the_lifespan_channels(
    redis_url: str, tmp_path: Path
) -> None:
    """The deployment the docs show, under the hypercorn command: SIGTERM closes the channels
    and their client before the worker ends, and it ends cleanly (status 0)."""
    (tmp_path / "lifespan_app.py").write_text(LIFESPAN_APP.format(url=redis_url))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "hypercorn", "lifespan_app:app", "-w", "0"]
    server = subprocess.Popen(
        [*command, "-b", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        for _ in range(50):  # until the lifespan opened the channels (the server may log first)
            if server.stdout.readline().strip() == "READY":
                break
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert "CLOSED 0 True" in output, output
    assert "Traceback" not in output, output
    assert server.returncode == 0


async def test_push_readers_over_http_are_told_of_the_new_life(redis_url: str) -> None:
    """A Redis push channel served over WebSocket and an event stream, whose data Redis loses:
    once a publish begins the new life, both readers get a report with ``missed_unknown`` and
    the new epoch before its first message, whose offset (0) is the new life's."""
    async with (
        RedisClient(redis_url) as client,
        RedisPushChannel[object](client, new_key()) as channel,
        running_app(HttpApp({"c": channel})) as url,
        httpx.AsyncClient() as http,
    ):
        socket: AsyncWebSocketSession
        with anyio.fail_after(20):
            async with (
                aconnect_ws(f"{url}/c/ws", http) as socket,
                http.stream("GET", f"{url}/c/events") as events,
            ):
                await settled(lambda: channel.statistics().subscribers == 2)
                for number in range(3):
                    await channel.publish(number)
                old = channel.epoch
                await client.execute("FLUSHALL")
                async with RedisClient(redis_url) as other:
                    async with RedisPushChannel[object](other, channel.key) as writer:
                        await writer.publish("new")
                frames = [json.loads(await socket.receive_text()) for _ in range(5)]
                lines: list[str] = []
                async for line in events.aiter_lines():
                    lines.append(line)
                    if '"new"' in line:
                        break
    assert [f["offset"] for f in frames[:3]] == [0, 1, 2]
    gap, message = frames[3:]
    assert (gap["missed_unknown"], gap["cursor"]) == (True, 0)
    assert gap["epoch"] != old
    assert (message["offset"], message["payload"], message["epoch"]) == (0, "new", gap["epoch"])
    ids = [line for line in lines if line.startswith("id:")]
    assert ids[1:] == [f"id: {old}:0", f"id: {old}:1", f"id: {old}:2", f"id: {gap['epoch']}:0"]
    assert "event: missed" in lines

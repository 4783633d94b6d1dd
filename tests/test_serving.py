"""Channels written outside the library (tests/outside_channels.py) served by ``serve_tcp`` and
``HttpApp`` and read by the library's remote and HTTP clients in every model: the adapters need
nothing from a channel but the serving protocols."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect

from deliverymodes import (
    EARLIEST,
    Batching,
    ChannelClosed,
    HttpApp,
    Overflow,
    Release,
    ServedLog,
    ServedLongPoll,
    ServedPush,
    Subscriber,
    connect_tcp,
    serve_tcp,
)
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app
from tests.outside_channels import OutsideLog, OutsideLongPoll, OutsidePush
from tests.remote_helpers import tcp_server, wait_until
from tests.test_http import websocket

SOURCE = Path(__file__).parent.parent / "src" / "deliverymodes"
#: The modules that serve channels: what they import is checked below.
ADAPTERS = [
    "_serving.py",
    *(
        f"{package}/{p.name}"
        for package in ("_remote", "_http")
        for p in (SOURCE / package).glob("*.py")
    ),
]
CHANNEL_MODULES = {"_push", "_poll", "_longpoll", "_log_channel"}
CHANNEL_CLASSES = {"PushChannel", "PollChannel", "LongPollChannel", "LogChannel"}


async def settled(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        await wait_until(condition)


async def take(subscriber: Subscriber[Any], count: int) -> list[Any]:
    got: list[Any] = []
    with anyio.fail_after(10):
        async for message in subscriber:
            got.append(message.payload)
            if len(got) == count:
                break
    return got


def test_the_outside_channels_satisfy_the_serving_protocols() -> None:
    assert isinstance(OutsideLog[int](), ServedLog)
    assert isinstance(OutsideLongPoll[int](), ServedLongPoll)
    assert isinstance(OutsidePush[int](), ServedPush)


@pytest.mark.parametrize("module", ADAPTERS)
def test_no_adapter_imports_a_channel_class(module: str) -> None:
    tree = ast.parse((SOURCE / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").rsplit(".", 1)[-1] not in CHANNEL_MODULES, module
            assert not {alias.name for alias in node.names} & CHANNEL_CLASSES, module
        elif isinstance(node, ast.Import):
            assert not any(a.name.rsplit(".", 1)[-1] in CHANNEL_MODULES for a in node.names)


@pytest.mark.parametrize("bad", [42, "channel", object()])
async def test_a_mapping_of_non_channels_is_refused_when_given(bad: object) -> None:
    with pytest.raises(TypeError, match=r"channel 'x' \("):
        HttpApp({"x": bad})
    with pytest.raises(TypeError, match=r"channel 'x' \("):
        await serve_tcp({"x": bad})
    with pytest.raises(TypeError, match="mapping of names"):
        HttpApp([("x", OutsideLog[int]())])  # type: ignore[arg-type]


# -- over TCP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("long", [False, True], ids=["poll", "long poll"])
async def test_an_outside_log_over_tcp(long: bool) -> None:
    channel = OutsideLongPoll[Any](Batching(max_wait=10)) if long else OutsideLog[Any]()
    async with tcp_server({"c": channel}) as port, connect_tcp("127.0.0.1", port) as remote:
        handle = remote.long_poll("c") if long else remote.poll("c")
        await handle.publish({"n": 0})  # through the adapter
        await channel.publish({"n": 1})
        async with handle.subscribe(EARLIEST) as subscriber:
            assert await take(subscriber, 2) == [{"n": 0}, {"n": 1}]
            if long:  # a long poll the adapter holds until the publish releases it
                async with anyio.create_task_group() as tg:
                    tg.start_soon(take, subscriber, 1)
                    await settled(lambda: channel.statistics().waiting_polls > 0)
                    await channel.publish({"n": 2})
        batch = await handle.poll(0, epoch=channel.epoch + 1)  # a cursor of another life
        assert (batch.missed_unknown, batch.epoch, len(batch.messages)) == (
            True,
            channel.epoch,
            3 if long else 2,
        )
        statistics = channel.statistics()
        assert statistics.published == (3 if long else 2)
        await channel.aclose()
        closed = await handle.poll(batch.cursor)
        assert closed.closed


async def test_an_outside_long_poll_over_tcp_is_answered_at_close() -> None:
    channel = OutsideLongPoll[int](Batching(max_wait=None))
    async with tcp_server({"c": channel}) as port, connect_tcp("127.0.0.1", port) as remote:
        async with anyio.create_task_group() as tg:
            answers: list[Any] = []

            async def wait() -> None:
                answers.append(await remote.long_poll("c").poll(0))

            tg.start_soon(wait)
            await settled(lambda: channel.statistics().waiting_polls > 0)
            await channel.aclose()
        assert (answers[0].closed, answers[0].reason) == (True, Release.CLOSED)


async def test_an_outside_push_channel_over_tcp() -> None:
    channel = OutsidePush[Any](buffer_size=10, overflow=Overflow.DROP_OLDEST)
    async with tcp_server({"c": channel}) as port, connect_tcp("127.0.0.1", port) as remote:
        handle = remote.push("c")
        async with handle.subscribe() as subscriber:
            await settled(lambda: channel.statistics().subscribers == 1)
            await handle.publish("through the adapter")
            await channel.publish("local")
            assert await take(subscriber, 2) == ["through the adapter", "local"]
            await channel.aclose()
            with anyio.fail_after(10), pytest.raises(ChannelClosed):
                await subscriber.receive()
        assert channel.statistics().delivered == 2


# -- over HTTP -------------------------------------------------------------------------------------


async def test_an_outside_long_poll_channel_over_http() -> None:
    channel = OutsideLongPoll[Any](Batching(max_wait=10))
    app = HttpApp({"c": channel}, keepalive_interval=5)
    async with running_app(app) as url, HttpRemote(url) as remote:
        handle = remote.channel("c")
        await handle.publish({"n": 0})
        batch = await handle.poll(0)
        assert ([m.payload for m in batch.messages], batch.reason) == ([{"n": 0}], None)
        with anyio.fail_after(10):
            waited = await handle.poll(1, wait=0.05)
        assert (waited.messages, waited.reason) == ((), Release.MAX_WAIT)
        async with handle.subscribe(EARLIEST, wait=5) as polling, handle.events(EARLIEST) as sse:
            await channel.publish({"n": 1})
            assert await take(polling, 2) == [{"n": 0}, {"n": 1}]
            assert await take(sse, 2) == [{"n": 0}, {"n": 1}]
        across = await handle.poll(5, epoch=channel.epoch + 1)
        assert across.missed_unknown


async def test_an_outside_poll_channel_over_http() -> None:
    channel = OutsideLog[Any]()
    app = HttpApp({"c": channel}, poll_interval=0.01)
    async with running_app(app) as url, HttpRemote(url) as remote:
        handle = remote.channel("c")
        await handle.publish("a")
        async with (
            handle.poll_subscriber(EARLIEST, 0.01) as polling,
            handle.events(EARLIEST) as sse,
        ):
            await channel.publish("b")
            assert await take(polling, 2) == ["a", "b"]
            assert await take(sse, 2) == ["a", "b"]
        with pytest.raises(ValueError, match="wait needs a long-poll channel"):
            await handle.poll(0, wait=1)


async def test_an_outside_push_channel_over_http() -> None:
    channel = OutsidePush[Any](buffer_size=10, overflow=Overflow.DROP_OLDEST)
    async with running_app(HttpApp({"c": channel})) as url, HttpRemote(url) as remote:
        async with remote.channel("c").events() as sse:
            await settled(lambda: channel.statistics().subscribers == 1)
            await channel.publish("pushed")
            assert await take(sse, 1) == ["pushed"]
        async with httpx.AsyncClient() as client, websocket(f"{url}/c/ws", client) as socket:
            await settled(lambda: channel.statistics().subscribers == 1)
            await socket.send_text(json.dumps("sent on the socket"))
            with anyio.fail_after(10):
                received = json.loads(await socket.receive_text())
            assert (received["payload"], received["epoch"]) == ("sent on the socket", channel.epoch)


@pytest.mark.parametrize("long", [False, True], ids=["poll", "long poll"])
async def test_an_outside_log_over_a_websocket(long: bool) -> None:
    channel = OutsideLongPoll[Any](Batching(max_wait=10)) if long else OutsideLog[Any]()
    app = HttpApp({"c": channel}, poll_interval=0.01)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        async with websocket(f"{url}/c/ws", client) as socket:
            await socket.send_text(json.dumps("one"))  # published through the socket
            with anyio.fail_after(10):
                got = [json.loads(await socket.receive_text())]
                await channel.publish("two")
                got.append(json.loads(await socket.receive_text()))
            assert [(m["offset"], m["payload"]) for m in got] == [(0, "one"), (1, "two")]
            await channel.aclose()
            assert await close_code(socket) == 1000


async def close_code(socket: AsyncWebSocketSession) -> int:
    """Receive until the server closes the socket; its close code."""
    with anyio.fail_after(10):
        try:
            while True:
                await socket.receive_text()
        except WebSocketDisconnect as closed:
            return closed.code

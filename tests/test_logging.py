"""What the library logs: quiet at INFO while all is well, never per message, and the events an
operator needs (connections, clients breaking the protocol, slow consumers, reconnecting)."""

from __future__ import annotations

import contextlib
import logging
from functools import partial

import anyio
import httpx
import pytest

from deliverymodes import (
    EARLIEST,
    HttpApp,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Reconnect,
    RemoteError,
    SlowConsumer,
    connect_tcp,
    serve_tcp,
    wire,
)
from tests.http_helpers import running_app
from tests.remote_helpers import raw_connection

QUICK = Reconnect(initial_delay=0.01, max_delay=0.05, max_attempts=3)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("deliverymodes") and r.levelno >= level]


async def workload_over_tcp_and_http(messages: int) -> None:
    channels = {
        "push": PushChannel[int](),
        "poll": PollChannel[int](),
        "long": LongPollChannel[int](),
    }
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, channels))
        async with connect_tcp("127.0.0.1", port) as remote:
            async with remote.push("push").subscribe() as subscriber:
                for value in range(messages):
                    await remote.push("push").publish(value)
                    await remote.poll("poll").publish(value)
                    await remote.long_poll("long").publish(value)
                for _ in range(messages):
                    await subscriber.receive()
            await remote.poll("poll").poll(EARLIEST)
            await remote.long_poll("long").poll(EARLIEST, max_wait=1)
        async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
            for value in range(messages):
                assert (await client.post("/poll", json=value)).status_code < 300
            assert (await client.get("/poll", params={"cursor": 0})).status_code == 200
            assert (await client.get("/long", params={"cursor": 0, "wait": 1})).status_code == 200
        tg.cancel_scope.cancel()


async def test_a_healthy_server_is_quiet_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes")
    with anyio.fail_after(30):
        await workload_over_tcp_and_http(20)
    assert not records(caplog, logging.INFO)


async def test_nothing_is_logged_per_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="deliverymodes")
    with anyio.fail_after(30):
        await workload_over_tcp_and_http(1)
    few = len(records(caplog, logging.DEBUG))
    caplog.clear()
    with anyio.fail_after(30):
        await workload_over_tcp_and_http(100)
    assert len(records(caplog, logging.DEBUG)) == few
    assert any("opened" in r.getMessage() for r in records(caplog, logging.DEBUG))


async def test_connections_opened_and_closed_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="deliverymodes.server")
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"poll": PollChannel[int]()}))
        with anyio.fail_after(10):
            async with connect_tcp("127.0.0.1", port) as remote:
                await remote.poll("poll").poll(EARLIEST)
            while not any("closed" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    messages = [r.getMessage() for r in records(caplog, logging.DEBUG)]
    assert any(m.startswith("connection from") and m.endswith("opened") for m in messages)
    assert all(r.levelno == logging.DEBUG for r in records(caplog, logging.DEBUG))


async def test_a_client_breaking_the_protocol_is_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes")
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"poll": PollChannel[int]()}))
        with anyio.fail_after(10):
            async with raw_connection(partial(connect_tcp, "127.0.0.1", port)) as stream:
                await stream.send(wire.encode(wire.Poll(1, "poll", 0)))  # before HELLO
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    while await stream.receive():  # until the server closes the connection
                        pass
        tg.cancel_scope.cancel()
    found = [r for r in records(caplog, logging.INFO) if r.name == "deliverymodes.server"]
    assert found
    assert "broke the protocol" in found[0].getMessage()
    assert found[0].levelno == logging.INFO


async def test_a_slow_consumer_cut_off_is_a_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes")
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.DISCONNECT)
    subscriber = channel.subscribe()
    for value in range(3):
        await channel.publish(value)
    assert [(await subscriber.receive()).payload for _ in range(2)] == [0, 1]
    for _ in range(2):
        with pytest.raises(SlowConsumer):
            await subscriber.receive()
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].name == "deliverymodes.channel"
    assert "cut off" in warnings[0].getMessage()


async def test_reconnection_attempts_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes.client")
    channels = {"poll": PollChannel[int]()}
    server = anyio.CancelScope()

    async def run_server(*, task_status: anyio.abc.TaskStatus[int]) -> None:
        with server:
            await serve_tcp(channels, task_status=task_status)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            port = await tg.start(run_server)
            async with connect_tcp("127.0.0.1", port, reconnect=QUICK):
                server.cancel()  # the server goes away; nothing listens any more
                while not any(r.levelno == logging.WARNING for r in caplog.records):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
    client = [r for r in caplog.records if r.name == "deliverymodes.client"]
    attempts = [r for r in client if r.levelno == logging.INFO]
    assert len(attempts) == QUICK.max_attempts
    assert all("connecting again" in r.getMessage() for r in attempts)
    assert "gave up" in client[-1].getMessage()


async def test_a_cut_off_subscriber_closed_unread_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes")
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.DISCONNECT)
    subscriber = channel.subscribe()
    for value in range(5):
        await channel.publish(value)
    assert not records(caplog, logging.WARNING)  # the publish itself logs nothing
    await subscriber.aclose()
    await subscriber.aclose()
    warnings = records(caplog, logging.WARNING)
    assert [r.name for r in warnings] == ["deliverymodes.channel"]


async def test_a_request_the_server_fails_is_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="deliverymodes")
    channel = PollChannel[object]()
    await channel.publish({1, 2})  # no JSON form: the server cannot encode it
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"poll": channel}))
        with anyio.fail_after(10):
            async with connect_tcp("127.0.0.1", port) as remote:
                with pytest.raises(RemoteError):
                    await remote.poll("poll").poll(EARLIEST)
        tg.cancel_scope.cancel()
    errors = records(caplog, logging.ERROR)
    assert [r.name for r in errors] == ["deliverymodes.server"]
    assert "cannot encode" in errors[0].getMessage()

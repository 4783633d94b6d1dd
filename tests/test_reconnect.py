"""Connections that drop, go silent or are told the server is going away, through a loopback
proxy that can cut or silence them: clients reconnect and resume, losing nothing silently."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import pytest

from deliverymodes import (
    Batching,
    ConnectionLost,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Reconnect,
    ServerLimits,
    connect_tcp,
    serve_tcp,
    wire,
)
from tests.remote_helpers import Proxy, raw_tcp_client, wait_until

QUICK = Reconnect(initial_delay=0.01, max_delay=0.05)


@asynccontextmanager
async def behind_proxy(
    channels: dict[str, object], limits: ServerLimits | None = None
) -> AsyncIterator[Proxy]:
    """A server for ``channels`` and a proxy in front of it (its port: ``proxy.port``)."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, channels, limits=limits))
        proxy = Proxy(port)
        proxy.port = await tg.start(proxy.run)  # type: ignore[attr-defined]
        yield proxy
        tg.cancel_scope.cancel()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    policy = Reconnect(initial_delay=0.1, max_delay=1.0, multiplier=2, jitter=0.5, max_attempts=6)
    delays = list(policy.delays(random.Random(3)))
    assert len(delays) == 6
    for delay, full in zip(delays, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0], strict=True):
        assert full * 0.5 <= delay <= full
    assert list(Reconnect(jitter=0, max_attempts=2).delays(random.Random())) == [0.1, 0.2]


@pytest.mark.parametrize(
    ("field", "value"),
    [("jitter", 2), ("multiplier", 0.5), ("max_attempts", 0), ("call_timeout", -1)],
)
def test_reconnect_settings_are_checked(field: str, value: float) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        Reconnect(**{field: value})  # type: ignore[arg-type]


async def test_long_poll_and_push_subscribers_go_on_after_a_cut() -> None:
    long = LongPollChannel[int](batching=Batching(max_wait=None))
    push = PushChannel[int]()
    async with (
        behind_proxy({"long": long, "push": push}) as proxy,
        connect_tcp("127.0.0.1", proxy.port, reconnect=QUICK) as remote,  # type: ignore[attr-defined]
        remote.long_poll("long").subscribe(0) as reader,
        remote.push("push").subscribe() as pushed,
    ):
        with anyio.fail_after(10):
            for n in range(3):
                await long.publish(n)
                await push.publish(n)
            assert [(await reader.receive()).payload for _ in range(3)] == [0, 1, 2]
            assert [(await pushed.receive()).payload for _ in range(3)] == [0, 1, 2]
            proxy.refuse = True
            proxy.cut()
            await wait_until(lambda: not remote.connected)
            for n in range(3, 6):  # while the client is away
                await long.publish(n)
                await push.publish(n)
            proxy.refuse = False
            await wait_until(lambda: pushed.subscribed)
            await long.publish(6)
            await push.publish(6)
            assert [(await reader.receive()).payload for _ in range(4)] == [3, 4, 5, 6]
            assert (await pushed.receive()).payload == 6
        assert remote.reconnects == 1
        assert reader.statistics().missed == 0  # resumed by cursor: nothing lost
        statistics = pushed.statistics()
        assert (statistics.delivered, statistics.missed) == (4, 3)  # told what it missed


async def test_a_publish_in_flight_fails_and_a_call_made_meanwhile_waits() -> None:
    push = PushChannel[int](buffer_size=1, overflow=Overflow.BLOCK)
    poll = PollChannel[int]()
    async with (
        behind_proxy({"push": push, "poll": poll}) as proxy,
        connect_tcp("127.0.0.1", proxy.port, reconnect=QUICK) as remote,  # type: ignore[attr-defined]
        push.subscribe() as local,
    ):
        await push.publish(0)  # fills the buffer: a remote publish waits
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def publish_in_flight() -> None:
                    with pytest.raises(ConnectionLost):
                        await remote.push("push").publish(1)

                tg.start_soon(publish_in_flight)
                await wait_until(lambda: proxy.accepted == 1)
                await anyio.wait_all_tasks_blocked()
                proxy.refuse = True
                proxy.cut()
            await wait_until(lambda: not remote.connected)
            async with anyio.create_task_group() as tg:
                answers: list[int] = []

                async def publish_meanwhile() -> None:
                    answers.append((await remote.poll("poll").publish(7)).offset)

                tg.start_soon(publish_meanwhile)
                await anyio.wait_all_tasks_blocked()
                assert answers == []  # waiting for the connection
                proxy.refuse = False
            assert answers == [0]
            assert (await local.receive()).payload == 0
        assert push.statistics().published == 1  # the publish in flight was never applied


async def test_calls_give_up_after_the_call_timeout_and_after_max_attempts() -> None:
    poll = PollChannel[int]()
    patient = Reconnect(initial_delay=0.01, max_delay=0.02, call_timeout=0.2)
    async with (
        behind_proxy({"poll": poll}) as proxy,
        connect_tcp("127.0.0.1", proxy.port, reconnect=patient) as remote,  # type: ignore[attr-defined]
    ):
        proxy.refuse = True
        proxy.cut()
        with anyio.fail_after(10):
            await wait_until(lambda: not remote.connected)
            with pytest.raises(ConnectionLost, match="did not come back"):
                await remote.poll("poll").poll(0)
    limited = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=2)
    async with (
        behind_proxy({"poll": poll}) as proxy,
        connect_tcp("127.0.0.1", proxy.port, reconnect=limited) as remote,  # type: ignore[attr-defined]
    ):
        async with remote.poll("poll").subscribe(0, poll_interval=0.01) as reader:
            proxy.refuse = True
            proxy.cut()
            with anyio.fail_after(10), pytest.raises(ConnectionLost, match="gave up"):
                await reader.receive()


async def test_without_reconnection_a_cut_ends_everything() -> None:
    push = PushChannel[int]()
    async with (
        behind_proxy({"push": push}) as proxy,
        connect_tcp("127.0.0.1", proxy.port, reconnect=None) as remote,  # type: ignore[attr-defined]
        remote.push("push").subscribe() as pushed,
    ):
        proxy.cut()
        with anyio.fail_after(10), pytest.raises(ConnectionLost):
            await pushed.receive()
        assert not remote.connected


async def test_a_silent_peer_is_taken_for_gone_on_both_ends() -> None:
    long = LongPollChannel[int](batching=Batching(max_wait=None))
    push = PushChannel[int]()
    limits = ServerLimits(keepalive_interval=0.1, keepalive_misses=3)
    async with (
        behind_proxy({"long": long, "push": push}, limits) as proxy,
        connect_tcp(
            "127.0.0.1",
            proxy.port,  # type: ignore[attr-defined]
            reconnect=QUICK,
            keepalive_interval=0.1,
            keepalive_misses=3,
        ) as remote,
        remote.long_poll("long").subscribe(0) as reader,
        remote.push("push").subscribe() as pushed,
    ):
        with anyio.fail_after(20):
            await long.publish(0)
            assert (await reader.receive()).payload == 0
            proxy.silence()  # no FIN, no RST: nothing more comes through, either way
            # The client gives up on the silent server and connects again...
            await wait_until(lambda: remote.reconnects == 1)
            await long.publish(1)
            assert (await reader.receive()).payload == 1
            await wait_until(lambda: pushed.subscribed)
            await push.publish(2)
            assert (await pushed.receive()).payload == 2
            # ...and the server gives up on the silent client: its subscription goes.
            await wait_until(lambda: push.statistics().subscribers == 1)
        assert proxy.accepted == 2


async def test_a_server_that_stops_answers_what_waits_and_says_it_is_going_away() -> None:
    push = PushChannel[int](buffer_size=1, overflow=Overflow.BLOCK)
    async with anyio.create_task_group() as tg, push.subscribe():
        await push.publish(0)  # fills the buffer: a remote publish waits
        stop = anyio.CancelScope()

        async def serve(*, task_status: anyio.abc.TaskStatus[int]) -> None:
            with stop:
                channels = {"c": LongPollChannel[str](), "p": push}
                await serve_tcp(channels, task_status=task_status)

        port = await tg.start(serve)
        async with raw_tcp_client(port) as raw:
            await raw.hello()
            await raw.send(
                wire.Subscribe(1, 1, "p", 0, 0, 10),
                wire.LongPoll(2, "c", wire.LATEST_CURSOR, max_wait_ms=wire.NO_LIMIT),
                wire.Publish(3, "p", b"1"),
            )
            with anyio.fail_after(5):
                assert isinstance(await raw.next(), wire.Subscribed)
                await wait_until(lambda: push.statistics().buffered == 1)
                await anyio.wait_all_tasks_blocked()
                stop.cancel()
                farewell = []
                while (event := await raw.next()) is not None:
                    farewell.append(event)
    cancelled, answered, ended, close = farewell
    assert isinstance(cancelled, wire.Error)
    assert (cancelled.request, cancelled.code) == (3, wire.ErrorCode.CANCELLED)
    assert isinstance(answered, wire.Batch)
    assert (answered.request, answered.reason) == (2, 3)  # answered at once, max_wait
    assert ended == wire.End(1, wire.EndReason.UNSUBSCRIBED)
    assert close == wire.Close()
    assert push.statistics().published == 1  # the waiting publish was withdrawn


async def test_a_reader_comes_back_to_a_restarted_server_on_the_same_port() -> None:
    old = LongPollChannel[str](batching=Batching(max_wait=None))
    new = LongPollChannel[str](batching=Batching(max_wait=None))
    async with anyio.create_task_group() as tg:
        first = anyio.CancelScope()

        async def serve_old(*, task_status: anyio.abc.TaskStatus[int]) -> None:
            with first:
                await serve_tcp({"c": old}, task_status=task_status)

        port = await tg.start(serve_old)
        async with (
            connect_tcp("127.0.0.1", port, reconnect=QUICK) as remote,
            remote.long_poll("c").subscribe(0) as reader,
        ):
            with anyio.fail_after(20):
                await old.publish("a0")
                assert (await reader.receive()).payload == "a0"
                first.cancel()  # the server stops (and tells its clients)
                await wait_until(lambda: not remote.connected)
                new.publish_nowait("b0")
                await tg.start(partial(serve_tcp, {"c": new}, port=port))
                assert (await reader.receive()).payload == "b0"
            assert reader.statistics().missed_unknown == 1  # a new life: the gap is reported
        tg.cancel_scope.cancel()


async def test_a_push_subscriber_comes_back_to_a_restarted_server() -> None:
    """The server stops (ending the subscription with END 3, then CLOSE: going away) and starts
    again on the same port: the remote push subscriber, which did not unsubscribe, is made again
    on the next connection and receives what is published then."""
    push = PushChannel[str]()
    async with anyio.create_task_group() as tg:
        first = anyio.CancelScope()

        async def serve_first(*, task_status: anyio.abc.TaskStatus[int]) -> None:
            with first:
                await serve_tcp({"p": push}, task_status=task_status)

        port = await tg.start(serve_first)
        async with (
            connect_tcp("127.0.0.1", port, reconnect=QUICK) as remote,
            remote.push("p").subscribe() as subscriber,
        ):
            with anyio.fail_after(20):
                await push.publish("before")
                assert (await subscriber.receive()).payload == "before"
                first.cancel()
                await wait_until(lambda: not remote.connected)
                await tg.start(partial(serve_tcp, {"p": push}, port=port))
                await wait_until(lambda: push.statistics().subscribers == 1)
                await push.publish("after")
                assert (await subscriber.receive()).payload == "after"
        tg.cancel_scope.cancel()

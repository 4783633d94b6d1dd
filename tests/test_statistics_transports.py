"""Subscriber statistics have one shape and one meaning on every transport: after the same
workload, local, TCP and HTTP subscribers report the same numbers (where a transport cannot know
one, it says 0, as docs/api.md states)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from deliverymodes import (
    Batching,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Retention,
    Subscriber,
    SubscriberStatistics,
    connect_tcp,
)
from deliverymodes.http import HttpApp, HttpRemote
from tests.http_helpers import running_app
from tests.remote_helpers import tcp_server

RETAINED = 3
PUBLISHED = 5

MakeSubscriber = Callable[[Any, str], Subscriber[int]]


@asynccontextmanager
async def served(channels: dict[str, object], transport: str) -> AsyncIterator[Any]:
    """A handle with ``poll(name)`` and ``long_poll(name)`` giving subscribers from offset 0."""
    if transport == "local":
        yield None
    elif transport == "tcp":
        async with tcp_server(channels) as port, connect_tcp("127.0.0.1", port) as remote:
            yield remote
    else:
        async with running_app(HttpApp(channels)) as url, HttpRemote(url) as remote:
            yield remote


def cursor_subscriber(
    transport: str, handle: Any, channels: dict[str, Any], name: str
) -> Subscriber[int]:
    """A subscriber from offset 0, long polls held 0.05 s at most, polls 0.01 s apart."""
    if transport == "local":
        channel = channels[name]
        if name == "long":
            return channel.subscribe(0, max_wait=0.05)  # type: ignore[no-any-return]
        return channel.subscribe(0, poll_interval=0.01)  # type: ignore[no-any-return]
    if transport == "tcp":
        if name == "long":
            return handle.long_poll(name).subscribe(0, max_wait=0.05)  # type: ignore[no-any-return]
        return handle.poll(name).subscribe(0, poll_interval=0.01)  # type: ignore[no-any-return]
    channel = handle.channel(name)
    if name == "long":
        return channel.subscribe(0, wait=0.05)  # type: ignore[no-any-return]
    return channel.poll_subscriber(0, poll_interval=0.01)  # type: ignore[no-any-return]


@pytest.mark.parametrize("transport", ["local", "tcp", "http"])
@pytest.mark.parametrize("name", ["poll", "long"])
async def test_cursor_subscribers_count_the_same_on_every_transport(
    transport: str, name: str
) -> None:
    """Five published, three retained: the first answer holds three and reports two missed."""
    retention = Retention(max_messages=RETAINED)
    channels: dict[str, Any] = {
        "poll": PollChannel[int](retention=retention),
        "long": LongPollChannel[int](retention=retention, batching=Batching(max_wait=0.05)),
    }
    for value in range(PUBLISHED):
        await channels[name].publish(value)
    async with served(channels, transport) as handle:
        subscriber: Any = cursor_subscriber(transport, handle, channels, name)
        async with subscriber:
            with anyio.fail_after(10):
                assert (await subscriber.receive()).payload == 2
            assert subscriber.statistics() == SubscriberStatistics(
                delivered=1, missed=2, lag=2, polls=1
            )
            with anyio.fail_after(10):
                assert [(await subscriber.receive()).payload for _ in range(2)] == [3, 4]
                empty = await subscriber.poll()
            assert empty.messages == ()
            assert subscriber.statistics() == SubscriberStatistics(
                delivered=3, missed=2, lag=0, polls=2, empty_polls=1
            )


async def burst_then_trickle(push: PushChannel[int], subscriber: Subscriber[int]) -> int:
    """Publish a burst the subscriber has no room for, then one message at a time until one
    after the burst arrives; returns that message's offset (payloads are their offsets)."""
    for value in range(PUBLISHED):
        await push.publish(value)
    done = anyio.Event()
    last = -1

    async def read() -> None:
        nonlocal last
        while last < PUBLISHED:
            last = (await subscriber.receive()).payload
        done.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            value = PUBLISHED
            while not done.is_set():
                await push.publish(value)
                value += 1
                with anyio.move_on_after(0.01):
                    await done.wait()
    return last


@pytest.mark.parametrize("transport", ["local", "tcp"])
async def test_push_subscribers_count_drops_as_the_channel_does(transport: str) -> None:
    """A subscriber with room for one message, sent one at a time: the channel drops the rest
    for it; every message up to the last received is delivered or dropped, and the channel and
    the subscriber count the same drops."""
    push = PushChannel[int](buffer_size=1, overflow=Overflow.DROP_NEWEST)
    async with served({"push": push}, transport) as handle:
        channel: Any = push if transport == "local" else handle.push("push")
        subscriber: Any = (
            channel.subscribe() if transport == "local" else channel.subscribe(window=1)
        )
        async with subscriber:
            last = await burst_then_trickle(push, subscriber)
            statistics = subscriber.statistics()
            assert statistics.dropped >= 1
            assert statistics.delivered + statistics.dropped == last + 1
            assert statistics.dropped == push.statistics().dropped
            assert (statistics.missed, statistics.lag, statistics.polls) == (0, 0, 0)
        # The channel (served, or a handle) counts its subscribers' drops, closed ones too.
        totals = channel.statistics()
        assert (totals.delivered, totals.dropped) == (statistics.delivered, statistics.dropped)


async def test_an_event_stream_counts_requests_and_reports_gaps_as_missed() -> None:
    retention = Retention(max_messages=RETAINED)
    long = LongPollChannel[int](retention=retention, batching=Batching(max_wait=0.05))
    for value in range(PUBLISHED):
        await long.publish(value)
    async with running_app(HttpApp({"long": long})) as url, HttpRemote(url) as remote:
        async with remote.channel("long").events(0) as subscriber:
            assert subscriber.statistics().polls == 1  # the stream's request
            with anyio.fail_after(10):
                assert [(await subscriber.receive()).payload for _ in range(3)] == [2, 3, 4]
            assert subscriber.statistics() == SubscriberStatistics(
                delivered=3, missed=2, lag=0, polls=1
            )


async def test_an_event_stream_on_a_push_channel_reports_drops_as_missed() -> None:
    push = PushChannel[int](buffer_size=1, overflow=Overflow.DROP_NEWEST)
    async with running_app(HttpApp({"push": push})) as url, HttpRemote(url) as remote:
        async with remote.channel("push").events() as subscriber:
            last = await burst_then_trickle(push, subscriber)
            statistics = subscriber.statistics()
            assert statistics.dropped == 0  # a stream cannot tell a drop from another gap
            assert statistics.delivered + statistics.missed == last + 1
            assert statistics.missed >= 1
            assert (statistics.polls, statistics.empty_polls) == (1, 0)

"""Semantics every model shares, checked under concurrency: order, accounting, cancellation."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from anyio.lowlevel import checkpoint

from deliverymodes import (
    EARLIEST,
    Batching,
    Channel,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Retention,
    SlowConsumer,
    Subscriber,
)

MESSAGES = 600

Setup = Callable[[], tuple[Channel[int], list[Subscriber[int]]]]


def push(policy: Overflow) -> Setup:
    def setup() -> tuple[Channel[int], list[Subscriber[int]]]:
        channel = PushChannel[int](buffer_size=8, overflow=policy)
        return channel, [channel.subscribe() for _ in range(3)]

    return setup


def poll() -> tuple[Channel[int], list[Subscriber[int]]]:
    channel = PollChannel[int](Retention(max_messages=20))
    return channel, [channel.subscribe(EARLIEST, poll_interval=0.0005) for _ in range(3)]


def long_poll() -> tuple[Channel[int], list[Subscriber[int]]]:
    channel = LongPollChannel[int](Retention(max_messages=20), Batching(max_wait=None))
    return channel, [channel.subscribe(EARLIEST, max_messages=7) for _ in range(3)]


SETUPS = {
    "push-block": push(Overflow.BLOCK),
    "push-drop-oldest": push(Overflow.DROP_OLDEST),
    "push-drop-newest": push(Overflow.DROP_NEWEST),
    "push-disconnect": push(Overflow.DISCONNECT),
    "poll": poll,
    "long-poll": long_poll,
}


@pytest.mark.parametrize("name", SETUPS)
async def test_every_offset_is_delivered_dropped_or_missed_once(name: str) -> None:
    channel, subscribers = SETUPS[name]()
    offsets: list[list[int]] = [[] for _ in subscribers]

    async def read(index: int) -> None:
        subscriber = subscribers[index]
        try:
            async for message in subscriber:
                offsets[index].append(message.offset)
                for _ in range(index):  # reader i is i times slower
                    await checkpoint()
        except SlowConsumer:
            pass

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for index in range(len(subscribers)):
                tg.start_soon(read, index)
            for value in range(MESSAGES):
                await channel.publish(value)
                if value % 5 == 0:
                    await checkpoint()
            await channel.aclose()
    for subscriber, seen in zip(subscribers, offsets, strict=True):
        assert seen == sorted(set(seen)), "out of order or duplicated"
        stats = subscriber.statistics()
        assert stats.delivered == len(seen)
        accounted = stats.delivered + stats.dropped + stats.missed
        if name == "push-disconnect" and stats.dropped:
            assert accounted <= MESSAGES  # nothing is counted for it once it is cut off
        else:
            assert accounted == MESSAGES
        assert stats.lag == 0
        await subscriber.aclose()
    total = channel.statistics()
    assert total.published == MESSAGES
    assert total.delivered == sum(len(seen) for seen in offsets)
    if name == "push-block":
        assert total.dropped == 0
        assert offsets == [list(range(MESSAGES))] * 3


async def test_cancelled_long_poll_receive_loses_nothing() -> None:
    channel = LongPollChannel[int](batching=Batching(max_wait=None))
    async with channel.subscribe() as subscriber:
        with anyio.move_on_after(0.02) as scope:
            await subscriber.receive()
        assert scope.cancelled_caught
        assert channel.statistics().waiting_polls == 0
        await channel.publish(1)
        with anyio.fail_after(5):
            assert (await subscriber.receive()).payload == 1

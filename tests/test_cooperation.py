"""Endpoints yield on a fixed budget even when they never need to wait, and honour cancellation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio.lowlevel import checkpoint

from deliverymodes import (
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Retention,
)
from deliverymodes.defaults import COOPERATIVE_BUDGET

OPERATIONS = COOPERATIVE_BUDGET * 5


async def longest_streak(operation: Callable[[], Awaitable[object]]) -> int:
    """Run ``operation`` in a tight loop; the most calls in a row with no other task running."""
    ticks = 0
    streak = longest = 0

    async def other_task() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        while not ticks:
            await checkpoint()
        for _ in range(OPERATIONS):
            before = ticks
            await operation()
            streak = streak + 1 if ticks == before else 0
            longest = max(longest, streak)
        tg.cancel_scope.cancel()
    return longest


def push_publish() -> Callable[[], Awaitable[object]]:
    channel = PushChannel[int](overflow=Overflow.DROP_NEWEST)
    return lambda: channel.publish(1)


def push_receive() -> Callable[[], Awaitable[object]]:
    channel = PushChannel[int](buffer_size=OPERATIONS)
    subscriber = channel.subscribe()
    for value in range(OPERATIONS):
        channel.publish_nowait(value)
    return subscriber.receive


def poll_publish() -> Callable[[], Awaitable[object]]:
    channel = PollChannel[int](Retention(max_messages=10))
    return lambda: channel.publish(1)


def poll_poll() -> Callable[[], Awaitable[object]]:
    channel = PollChannel[int]()
    return lambda: channel.poll(0)


def long_poll_poll() -> Callable[[], Awaitable[object]]:
    channel = LongPollChannel[int]()
    channel.publish_nowait(1)
    return lambda: channel.poll(0)


def poll_subscriber_receive() -> Callable[[], Awaitable[object]]:
    channel = LongPollChannel[int](Retention(max_messages=None))
    subscriber = channel.subscribe(0, max_messages=None)
    for value in range(OPERATIONS):
        channel.publish_nowait(value)
    return subscriber.receive


OPERATIONS_UNDER_TEST = [
    push_publish,
    push_receive,
    poll_publish,
    poll_poll,
    long_poll_poll,
    poll_subscriber_receive,
]


@pytest.mark.parametrize("make", OPERATIONS_UNDER_TEST)
async def test_tight_loops_yield_on_the_budget(
    make: Callable[[], Callable[[], Awaitable[object]]], anyio_backend_name: str
) -> None:
    operation = make()
    # asyncio runs the other task at the very next yield; trio runs every ready task once per
    # batch in an order of its choosing, so the other task may get its turn just after the
    # operation's next yield instead.
    bound = COOPERATIVE_BUDGET if anyio_backend_name == "asyncio" else 2 * COOPERATIVE_BUDGET
    with anyio.fail_after(10):
        assert await longest_streak(operation) < bound


@pytest.mark.parametrize("make", OPERATIONS_UNDER_TEST)
async def test_tight_loops_honour_cancellation(
    make: Callable[[], Callable[[], Awaitable[object]]],
) -> None:
    operation = make()
    done = 0
    with anyio.fail_after(10), anyio.CancelScope() as scope:
        scope.cancel()
        for _ in range(OPERATIONS):
            await operation()
            done += 1
    assert scope.cancelled_caught
    assert done < COOPERATIVE_BUDGET

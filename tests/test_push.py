"""PushChannel: fan-out, overflow policies, backpressure, cancellation and close."""

from __future__ import annotations

from collections import deque

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverymodes import ChannelClosed, Overflow, PushChannel, PushSubscriber, SlowConsumer
from tests.strategies import policies


async def drain(subscriber: PushSubscriber[int]) -> list[int]:
    """Everything a subscriber of a closed channel still has."""
    return [message.payload async for message in subscriber]


async def test_every_subscriber_gets_every_later_message_in_order() -> None:
    channel = PushChannel[int]()
    early = channel.subscribe()
    await channel.publish(0)
    late = channel.subscribe()
    for value in range(1, 6):
        await channel.publish(value)
    await channel.aclose()
    assert await drain(early) == [0, 1, 2, 3, 4, 5]
    assert await drain(late) == [1, 2, 3, 4, 5]


async def test_offsets_sizes_and_times() -> None:
    async with PushChannel[str]() as channel, channel.subscribe() as subscriber:
        first = await channel.publish("héllo")
        second = await channel.publish("x")
        assert (first.offset, second.offset) == (0, 1)
        assert first.size == 6
        assert first.published_at <= second.published_at
        assert await subscriber.receive() == first


async def test_subscription_exists_once_the_block_is_entered() -> None:
    channel = PushChannel[int]()
    async with channel.subscribe() as subscriber:
        await channel.publish(7)
        with anyio.fail_after(5):
            assert (await subscriber.receive()).payload == 7


async def test_receive_waits_for_the_next_message() -> None:
    channel = PushChannel[int]()
    async with channel.subscribe() as subscriber, anyio.create_task_group() as tg:
        got: list[int] = []

        async def reader() -> None:
            got.append((await subscriber.receive()).payload)

        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        await channel.publish(3)
    assert got == [3]


async def test_block_publish_waits_for_room_then_completes() -> None:
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.BLOCK)
    async with channel.subscribe() as subscriber:
        await channel.publish(0)
        await channel.publish(1)
        done: list[int] = []
        async with anyio.create_task_group() as tg:

            async def publisher() -> None:
                done.append((await channel.publish(2)).offset)

            tg.start_soon(publisher)
            await anyio.wait_all_tasks_blocked()
            assert done == []
            assert channel.statistics().buffered == 2
            assert (await subscriber.receive()).payload == 0
        assert done == [2]
        assert [(await subscriber.receive()).payload for _ in range(2)] == [1, 2]


async def test_cancelled_blocked_publish_reaches_no_subscriber() -> None:
    channel = PushChannel[int](buffer_size=1, overflow=Overflow.BLOCK)
    roomy = channel.subscribe(buffer_size=10)
    full = channel.subscribe()
    await channel.publish(0)
    with anyio.move_on_after(0.05) as scope:
        await channel.publish(1)
    assert scope.cancelled_caught
    assert roomy.statistics().lag == 1  # the cancelled publish did not reach the roomy one
    assert (await full.receive()).payload == 0
    message = await channel.publish(2)
    assert message.offset == 1  # the cancelled publish took no offset
    await channel.aclose()
    assert await drain(roomy) == [0, 2]
    assert await drain(full) == [2]
    assert channel.statistics().published == 2


async def test_drop_oldest_keeps_the_newest() -> None:
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.DROP_OLDEST)
    subscriber = channel.subscribe()
    for value in range(5):
        await channel.publish(value)
    assert subscriber.statistics().dropped == 3
    assert subscriber.statistics().lag == 2
    await channel.aclose()
    assert await drain(subscriber) == [3, 4]
    stats = channel.statistics()
    assert (stats.published, stats.delivered, stats.dropped) == (5, 2, 3)


async def test_drop_newest_keeps_the_oldest() -> None:
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.DROP_NEWEST)
    subscriber = channel.subscribe()
    for value in range(5):
        await channel.publish(value)
    await channel.aclose()
    assert await drain(subscriber) == [0, 1]
    assert subscriber.statistics().dropped == 3


async def test_disconnect_cuts_off_only_the_slow_subscriber() -> None:
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.DISCONNECT)
    slow = channel.subscribe()
    fast = channel.subscribe(buffer_size=100)
    for value in range(4):
        await channel.publish(value)
    assert channel.statistics().subscribers == 1
    assert [(await slow.receive()).payload for _ in range(2)] == [0, 1]
    with pytest.raises(SlowConsumer):
        await slow.receive()
    with pytest.raises(SlowConsumer):
        async for _message in slow:
            pass
    # Cut off by message 2; 3 came after: both are dropped for it, so its counts add up.
    assert slow.statistics().dropped == 2
    assert slow.statistics().delivered + slow.statistics().dropped == 4
    assert [(await fast.receive()).payload for _ in range(4)] == [0, 1, 2, 3]
    await slow.aclose()
    await channel.publish(4)  # after it was closed: no longer counted for it
    assert channel.statistics().dropped == 2
    await fast.aclose()


async def test_per_subscriber_policy_overrides_the_channel() -> None:
    channel = PushChannel[int](buffer_size=1, overflow=Overflow.BLOCK)
    dropping = channel.subscribe(overflow=Overflow.DROP_NEWEST)
    assert (dropping.buffer_size, dropping.overflow) == (1, Overflow.DROP_NEWEST)
    for value in range(3):
        with anyio.fail_after(5):
            await channel.publish(value)  # never blocks: the only subscriber drops
    assert dropping.statistics().dropped == 2
    await dropping.aclose()


async def test_cancelled_receive_loses_nothing() -> None:
    channel = PushChannel[int]()
    async with channel.subscribe() as subscriber:
        with anyio.move_on_after(0.01):
            await subscriber.receive()
        await channel.publish(1)
        with anyio.fail_after(5):
            assert (await subscriber.receive()).payload == 1


async def test_tasks_receiving_from_one_subscriber_at_once_share_its_messages() -> None:
    """Several tasks waiting on one subscriber are all woken (as by an event): between them they
    get every message once, one of them cancelled meanwhile loses nothing, and all end at close."""
    channel = PushChannel[int](buffer_size=200)
    got: list[int] = []
    ended: list[str] = []
    stopper = anyio.CancelScope()

    async with channel.subscribe() as subscriber:

        async def receive_all(name: str, scope: anyio.CancelScope) -> None:
            with scope:
                async for message in subscriber:
                    got.append(message.payload)
            ended.append(name)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for name in ("a", "b", "c"):
                    tg.start_soon(receive_all, name, anyio.CancelScope())
                tg.start_soon(receive_all, "stopped", stopper)
                await anyio.wait_all_tasks_blocked()
                for number in range(100):
                    if number == 50:
                        stopper.cancel()  # while it waits with the others
                    await channel.publish(number)
                    await anyio.wait_all_tasks_blocked()
                await channel.aclose()
    assert sorted(got) == list(range(100))  # each once, none lost to the cancelled task
    assert sorted(ended) == ["a", "b", "c", "stopped"]


async def test_close_wakes_waiting_receivers_and_publishers() -> None:
    channel = PushChannel[int](buffer_size=1)
    idle = channel.subscribe(buffer_size=5)
    outcomes: list[str] = []

    async def receive_all() -> None:
        values = [message.payload async for message in idle]
        outcomes.append(f"ended after {values}")

    async def publish_blocked() -> None:
        try:
            await channel.publish(99)
        except ChannelClosed:
            outcomes.append("publisher closed")

    blocker = channel.subscribe()
    await channel.publish(0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive_all)
            tg.start_soon(publish_blocked)
            await anyio.wait_all_tasks_blocked()
            await channel.aclose()
    assert sorted(outcomes) == ["ended after [0]", "publisher closed"]
    assert (await blocker.receive()).payload == 0
    with pytest.raises(ChannelClosed):
        await blocker.receive()


async def test_publish_after_close_raises_and_subscribe_ends_at_once() -> None:
    channel = PushChannel[int]()
    await channel.aclose()
    await channel.aclose()  # idempotent
    with pytest.raises(ChannelClosed):
        await channel.publish(1)
    with pytest.raises(ChannelClosed):
        channel.publish_nowait(1)
    async with channel.subscribe() as subscriber:
        assert [m async for m in subscriber] == []


async def test_closed_subscription_raises_channel_closed() -> None:
    channel = PushChannel[int]()
    subscriber = channel.subscribe()
    await channel.publish(1)
    await subscriber.aclose()
    with pytest.raises(ChannelClosed):
        await subscriber.receive()
    assert channel.statistics().subscribers == 0
    await channel.publish(2)  # nobody is blocked by the closed subscription


async def test_closing_a_blocking_subscriber_releases_publishers() -> None:
    channel = PushChannel[int](buffer_size=1)
    subscriber = channel.subscribe()
    await channel.publish(0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(channel.publish, 1)
        await anyio.wait_all_tasks_blocked()
        await subscriber.aclose()
    assert channel.statistics().published == 2


async def test_statistics_count_what_happened() -> None:
    channel = PushChannel[int](buffer_size=3, overflow=Overflow.DROP_NEWEST)
    one, two = channel.subscribe(), channel.subscribe()
    for value in range(4):
        await channel.publish(value)
    await one.receive()
    stats = channel.statistics()
    assert (stats.published, stats.delivered, stats.dropped) == (4, 1, 2)
    assert (stats.subscribers, stats.buffered) == (2, 5)
    assert one.statistics().lag == 2
    assert two.statistics().lag == 3
    await one.aclose()  # its 2 unread messages are dropped for it
    stats = channel.statistics()
    assert (stats.delivered, stats.dropped, stats.subscribers, stats.buffered) == (1, 4, 1, 3)
    assert one.statistics().delivered + one.statistics().dropped == 4
    await two.aclose()


async def test_publish_nowait_would_block_under_backpressure() -> None:
    channel = PushChannel[int](buffer_size=1)
    subscriber = channel.subscribe()
    channel.publish_nowait(0)
    with pytest.raises(anyio.WouldBlock):
        channel.publish_nowait(1)
    assert subscriber.receive_nowait().payload == 0
    with pytest.raises(anyio.WouldBlock):
        subscriber.receive_nowait()
    channel.publish_nowait(1)
    await subscriber.aclose()


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="buffer_size must be >= 1"):
        PushChannel[int](buffer_size=0)
    with pytest.raises(TypeError, match="buffer_size must be an int"):
        PushChannel[int](buffer_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="overflow must be an Overflow"):
        PushChannel[int](overflow="block")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sizer must be callable"):
        PushChannel[int](sizer=3)  # type: ignore[arg-type]
    channel = PushChannel[int]()
    with pytest.raises(ValueError, match="buffer_size"):
        channel.subscribe(buffer_size=-1)


async def test_bad_sizer_result_publishes_nothing() -> None:
    channel = PushChannel[object](sizer=lambda payload: -1)
    subscriber = channel.subscribe()
    with pytest.raises(ValueError, match="sizer"):
        await channel.publish(object())
    assert channel.statistics().published == 0
    assert subscriber.statistics().lag == 0
    await subscriber.aclose()


@given(
    policy=policies,
    size=st.integers(1, 4),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 1)), max_size=60),
)
@settings(max_examples=60, deadline=None)
async def test_overflow_accounting_matches_a_model(
    policy: Overflow, size: int, steps: list[tuple[bool, int]]
) -> None:
    """Publish (True) or receive for subscriber i (False, i), against deques per subscriber."""
    channel = PushChannel[int](buffer_size=size, overflow=policy)
    subscribers = [channel.subscribe(), channel.subscribe(buffer_size=size + 1)]
    models: list[deque[int]] = [deque(), deque()]
    dropped = [0, 0]
    cut_off = [False, False]
    published = 0
    for publish, index in steps:
        if publish:
            if policy is Overflow.BLOCK and any(
                len(m) >= s.buffer_size for m, s in zip(models, subscribers, strict=True)
            ):
                with pytest.raises(anyio.WouldBlock):
                    channel.publish_nowait(published)
                continue
            channel.publish_nowait(published)
            for i, (model, subscriber) in enumerate(zip(models, subscribers, strict=True)):
                if cut_off[i]:  # a cut-off subscriber drops everything after, until closed
                    dropped[i] += 1
                    continue
                if len(model) < subscriber.buffer_size:
                    model.append(published)
                elif policy is Overflow.DROP_OLDEST:
                    model.popleft()
                    model.append(published)
                    dropped[i] += 1
                else:
                    dropped[i] += 1
                    cut_off[i] = policy is Overflow.DISCONNECT
            published += 1
        elif models[index]:
            assert subscribers[index].receive_nowait().payload == models[index].popleft()
        elif cut_off[index]:
            with pytest.raises(SlowConsumer):
                subscribers[index].receive_nowait()
        else:
            with pytest.raises(anyio.WouldBlock):
                subscribers[index].receive_nowait()
        for i, subscriber in enumerate(subscribers):
            mine = subscriber.statistics()
            assert mine.lag == len(models[i]) <= subscriber.buffer_size
            assert mine.dropped == dropped[i]
            assert mine.delivered + mine.dropped + mine.lag == published
    stats = channel.statistics()
    assert stats.published == published
    assert stats.dropped == sum(dropped)
    assert stats.buffered == sum(len(m) for m in models)
    assert stats.subscribers == sum(not c for c in cut_off)
    await channel.aclose()
    for subscriber, model in zip(subscribers, models, strict=True):
        rest = []
        try:
            async for message in subscriber:
                rest.append(message.payload)
        except SlowConsumer:
            pass
        assert rest == list(model)
        sub_stats = subscriber.statistics()
        # Every message published while subscribed is delivered or dropped, none twice.
        assert sub_stats.delivered + sub_stats.dropped <= published

"""The channels of tests/outside_channels.py on their own, without adapters: they satisfy the
serving protocols and keep their documented semantics, so adapter tests can rely on them."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from deliverymodes import (
    EARLIEST,
    LATEST,
    Batch,
    Batching,
    ChannelClosed,
    Message,
    Overflow,
    Publisher,
    Release,
    SlowConsumer,
)
from deliverymodes._protocols import (
    ServedLog,
    ServedLongPoll,
    ServedPush,
    ServedSubscription,
)
from tests.outside_channels import OutsideLog, OutsideLongPoll, OutsidePush

# Checked by mypy: the classes satisfy the protocols structurally, signatures included.
_log: ServedLog[str] = OutsideLog[str]()
_long_poll: ServedLongPoll[str] = OutsideLongPoll[str]()
_push: ServedPush[str] = OutsidePush[str]()
_publishers: tuple[Publisher[str], ...] = (OutsideLog(), OutsideLongPoll(), OutsidePush())


def payloads(batch: Batch[Any]) -> list[Any]:
    return [message.payload for message in batch.messages]


async def filled(*items: str, **options: Any) -> OutsideLongPoll[str]:
    channel = OutsideLongPoll[str](**options)
    for item in items:
        await channel.publish(item)
    return channel


# -- protocols -------------------------------------------------------------------------------------


def test_each_class_satisfies_its_protocols_and_only_those() -> None:
    log, long_poll, push = OutsideLog[str](), OutsideLongPoll[str](), OutsidePush[str]()
    for channel in (log, long_poll, push):
        assert isinstance(channel, Publisher)
    assert isinstance(log, ServedLog)
    assert not isinstance(log, ServedLongPoll)
    assert isinstance(long_poll, ServedLongPoll)
    assert isinstance(long_poll, ServedLog)
    assert isinstance(push, ServedPush)
    assert isinstance(push.subscribe(), ServedSubscription)
    assert not isinstance(push, ServedLog)
    assert not isinstance(log, ServedPush)
    assert not isinstance(long_poll, ServedPush)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="epoch"):
        OutsideLog[str](epoch=0)
    with pytest.raises(ValueError, match="epoch"):
        OutsidePush[str](epoch=2**53)
    with pytest.raises(ValueError, match="buffer_size"):
        OutsidePush[str](buffer_size=0)
    assert (OutsideLog[str]().epoch, OutsidePush[str](epoch=3).epoch) == (7, 3)
    assert OutsideLongPoll[str]().batching == Batching()


# -- poll ------------------------------------------------------------------------------------------


async def test_publish_numbers_and_measures_messages() -> None:
    channel = OutsideLog[str]()
    first = await channel.publish("ab")
    second = await channel.publish("été")
    assert (first.offset, first.size, second.offset, second.size) == (0, 2, 1, 5)
    assert first.published_at > 0
    assert (channel.earliest, channel.head) == (0, 2)


async def test_poll_from_earliest_latest_and_an_offset() -> None:
    channel = await filled("a", "b", "c")
    batch = await channel.serve_poll(EARLIEST, max_messages=None, max_bytes=None)
    assert (payloads(batch), batch.cursor, batch.epoch, batch.reason) == (
        ["a", "b", "c"],
        3,
        7,
        None,
    )
    assert (batch.missed, batch.missed_unknown, batch.closed) == (0, False, False)
    latest = await channel.serve_poll(LATEST, max_messages=None, max_bytes=None)
    assert (latest.messages, latest.cursor) == ((), 3)
    middle = await channel.serve_poll(1, epoch=7, max_messages=None, max_bytes=None)
    assert (payloads(middle), middle.cursor) == (["b", "c"], 3)
    stats = channel.statistics()
    assert (stats.published, stats.delivered, stats.polls, stats.empty_polls) == (3, 5, 3, 1)
    assert (stats.retained_messages, stats.retained_bytes) == (3, 3)


async def test_poll_caps() -> None:
    channel = await filled("a", "bb", "ccc", "dddd")
    two = await channel.serve_poll(0, max_messages=2, max_bytes=None)
    assert (payloads(two), two.cursor) == (["a", "bb"], 2)
    three_bytes = await channel.serve_poll(0, max_messages=None, max_bytes=3)
    assert (payloads(three_bytes), three_bytes.cursor) == (["a", "bb"], 2)
    alone = await channel.serve_poll(3, max_messages=None, max_bytes=1)  # larger than the cap
    assert (payloads(alone), alone.cursor) == (["dddd"], 4)
    with pytest.raises(ValueError, match="max_messages"):
        await channel.serve_poll(0, max_messages=0, max_bytes=None)
    with pytest.raises(ValueError, match="max_bytes"):
        await channel.serve_poll(0, max_messages=None, max_bytes=0)
    with pytest.raises(TypeError, match="max_messages"):
        await channel.serve_poll(0, max_messages=True, max_bytes=None)


async def test_a_cursor_beyond_the_head_is_refused_in_this_life_only() -> None:
    channel = await filled("a", "b")
    with pytest.raises(ValueError, match="beyond"):
        await channel.serve_poll(3, max_messages=None, max_bytes=None)
    with pytest.raises(ValueError, match="beyond"):
        await channel.serve_poll(3, epoch=7, max_messages=None, max_bytes=None)
    with pytest.raises(ValueError, match="cursor"):
        await channel.serve_poll(-1, max_messages=None, max_bytes=None)
    with pytest.raises(ValueError, match="epoch"):
        await channel.serve_poll(0, epoch=0, max_messages=None, max_bytes=None)
    other = await channel.serve_poll(9, epoch=6, max_messages=None, max_bytes=None)
    assert (payloads(other), other.cursor, other.missed_unknown, other.epoch) == (
        ["a", "b"],
        2,
        True,
        7,
    )
    symbolic = await channel.serve_poll(LATEST, epoch=6, max_messages=None, max_bytes=None)
    assert (symbolic.cursor, symbolic.missed_unknown) == (2, False)
    assert channel.statistics().missed_unknown == 1


async def test_retention_makes_readers_miss_messages() -> None:
    channel = await filled("a", "b", "c", "d", retain=2)
    assert (channel.earliest, channel.head) == (2, 4)
    batch = await channel.serve_poll(0, max_messages=None, max_bytes=None)
    assert (payloads(batch), batch.missed, batch.cursor) == (["c", "d"], 2, 4)
    earliest = await channel.serve_poll(EARLIEST, max_messages=1, max_bytes=None)
    assert (payloads(earliest), earliest.missed, earliest.cursor) == (["c"], 0, 3)
    across = await channel.serve_poll(1, epoch=3, max_messages=None, max_bytes=None)
    assert (across.missed, across.missed_unknown) == (2, True)  # missed: lost in this life
    assert channel.statistics().missed == 4


async def test_fit_cuts_the_batch_and_a_refusal_counts_nothing() -> None:
    channel = await filled("a", "b", "c")
    seen: list[tuple[Message[Any], ...]] = []

    def keep_one(messages: tuple[Message[Any], ...]) -> int:
        seen.append(messages)
        return 1

    batch = await channel.serve_poll(0, max_messages=None, max_bytes=None, fit=keep_one)
    assert (payloads(batch), batch.cursor, len(seen[0])) == (["a"], 1, 3)
    none = await channel.serve_poll(1, max_messages=None, max_bytes=None, fit=lambda _: 0)
    assert (none.messages, none.cursor) == ((), 1)

    def refuse(messages: tuple[Message[Any], ...]) -> int:
        raise OverflowError("too large")

    before = channel.statistics()
    with pytest.raises(OverflowError):
        await channel.serve_poll(0, max_messages=None, max_bytes=None, fit=refuse)
    assert channel.statistics() == before


async def test_close_marks_the_last_batch_and_ends_publishing() -> None:
    channel = await filled("a", "b")
    await channel.aclose()
    assert channel.closed
    with pytest.raises(ChannelClosed):
        await channel.publish("c")
    first = await channel.serve_poll(0, max_messages=1, max_bytes=None)
    assert (payloads(first), first.closed) == (["a"], False)
    last = await channel.serve_poll(1, max_messages=None, max_bytes=None)
    assert (payloads(last), last.closed) == (["b"], True)
    with anyio.fail_after(5):
        await channel.wait_closed()  # at once


async def test_wait_closed_returns_once_closed() -> None:
    channel = OutsideLog[str]()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(channel.wait_closed)
            await anyio.wait_all_tasks_blocked()
            await channel.publish("a")  # not the end
            await anyio.wait_all_tasks_blocked()
            assert not channel.closed
            await channel.aclose()


# -- long poll -------------------------------------------------------------------------------------


async def test_long_poll_nowait_answers_only_when_it_need_not_wait() -> None:
    channel = await filled("a", "b")
    three = Batching(min_messages=3, max_wait=None)
    with pytest.raises(anyio.WouldBlock):
        channel.serve_long_poll_nowait(0, batching=three)
    assert channel.statistics().polls == 0  # nothing counted
    capped = channel.serve_long_poll_nowait(0, batching=Batching(min_messages=3, max_messages=2))
    assert (payloads(capped), capped.reason) == (["a", "b"], Release.MIN_MESSAGES)
    by_bytes = Batching(min_messages=5, min_bytes=2, max_wait=None)
    assert channel.serve_long_poll_nowait(0, batching=by_bytes).reason is Release.MIN_BYTES
    now = channel.serve_long_poll_nowait(LATEST, batching=Batching(max_wait=0))
    assert (now.messages, now.reason, now.cursor) == ((), Release.MAX_WAIT, 2)
    await channel.aclose()
    closed = channel.serve_long_poll_nowait(2, batching=three)
    assert (closed.reason, closed.closed) == (Release.CLOSED, True)
    assert channel.statistics().polls == 4


async def test_long_poll_released_by_min_messages() -> None:
    channel = OutsideLongPoll[int]()
    results: list[Batch[int] | None] = []
    batching = Batching(min_messages=3, max_wait=None)

    async def poll() -> None:
        results.append(await channel.serve_long_poll(0, batching=batching))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            for value in range(3):
                await anyio.wait_all_tasks_blocked()
                assert results == []
                assert channel.statistics().waiting_polls == 1
                await channel.publish(value)
    batch = results[0]
    assert batch is not None
    assert (payloads(batch), batch.reason, batch.cursor) == ([0, 1, 2], Release.MIN_MESSAGES, 3)
    assert channel.statistics().waiting_polls == 0


async def test_long_poll_released_by_max_wait() -> None:
    channel = await filled("a")
    with anyio.fail_after(5):
        batch = await channel.serve_long_poll(0, batching=Batching(min_messages=2, max_wait=0.05))
    assert batch is not None
    assert (payloads(batch), batch.reason) == (["a"], Release.MAX_WAIT)


async def test_long_poll_released_by_close() -> None:
    channel = OutsideLongPoll[str]()
    results: list[Batch[str] | None] = []

    async def poll() -> None:
        batching = Batching(max_wait=None)
        results.append(await channel.serve_long_poll(LATEST, batching=batching))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            await channel.aclose()
    batch = results[0]
    assert batch is not None
    assert (batch.messages, batch.reason, batch.closed) == ((), Release.CLOSED, True)


async def test_long_poll_gives_up_when_until_returns_first() -> None:
    channel = OutsideLongPoll[str]()
    gone = anyio.Event()
    results: list[Batch[str] | None] = []

    async def poll() -> None:
        batching = Batching(max_wait=None)
        results.append(await channel.serve_long_poll(0, batching=batching, until=gone.wait))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            gone.set()
    assert results == [None]
    stats = channel.statistics()
    assert (stats.polls, stats.waiting_polls) == (0, 0)


async def test_what_until_raises_comes_out_as_it_is() -> None:
    channel = OutsideLongPoll[str]()

    async def broken() -> None:
        raise ConnectionResetError("client gone")

    with anyio.fail_after(5), pytest.raises(ConnectionResetError):
        await channel.serve_long_poll(0, batching=Batching(max_wait=None), until=broken)
    assert channel.statistics().polls == 0


async def test_long_poll_answers_when_released_before_until_returns() -> None:
    channel = OutsideLongPoll[str]()
    results: list[Batch[str] | None] = []

    async def poll() -> None:
        until = anyio.Event().wait  # never returns
        results.append(await channel.serve_long_poll(0, batching=Batching(), until=until))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            await channel.publish("a")
    batch = results[0]
    assert batch is not None
    assert (payloads(batch), batch.reason) == (["a"], Release.MIN_MESSAGES)
    assert channel.statistics().polls == 1


async def test_a_cancelled_long_poll_counts_nothing() -> None:
    channel = OutsideLongPoll[str]()
    with anyio.move_on_after(0.05):
        await channel.serve_long_poll(0, batching=Batching(max_wait=None))
    stats = channel.statistics()
    assert (stats.polls, stats.waiting_polls) == (0, 0)


async def test_a_long_poll_from_another_life_waits_for_this_lifes_first_message() -> None:
    channel = OutsideLongPoll[str]()
    results: list[Batch[str] | None] = []

    async def poll() -> None:
        batching = Batching(max_wait=None)
        results.append(await channel.serve_long_poll(5, epoch=1, batching=batching))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            await channel.publish("new")
    batch = results[0]
    assert batch is not None
    assert (payloads(batch), batch.missed_unknown, batch.cursor) == (["new"], True, 1)


# -- push ------------------------------------------------------------------------------------------


async def test_push_delivers_to_every_subscriber_from_now_on() -> None:
    channel = OutsidePush[str](overflow=Overflow.DROP_NEWEST)
    await channel.publish("before")
    first, second = channel.subscribe(), channel.subscribe()
    assert channel.head == 1
    await channel.publish("a")
    with anyio.fail_after(5):
        for subscription in (first, second):
            message = await subscription.receive()
            assert (message.offset, message.payload) == (1, "a")
    with pytest.raises(anyio.WouldBlock):
        first.receive_nowait()
    stats = channel.statistics()
    assert (stats.published, stats.delivered, stats.subscribers, stats.buffered) == (2, 2, 2, 0)


async def test_drop_oldest_and_drop_newest() -> None:
    channel = OutsidePush[int](2, Overflow.DROP_OLDEST)
    oldest = channel.subscribe()
    newest = channel.subscribe(overflow=Overflow.DROP_NEWEST)
    larger = channel.subscribe(buffer_size=5)
    for value in range(4):
        await channel.publish(value)
    assert [oldest.receive_nowait().payload for _ in range(2)] == [2, 3]
    assert [newest.receive_nowait().payload for _ in range(2)] == [0, 1]
    assert [larger.receive_nowait().payload for _ in range(4)] == [0, 1, 2, 3]
    stats = channel.statistics()
    assert (stats.delivered, stats.dropped, stats.buffered) == (8, 4, 0)


async def test_disconnect_drains_then_raises_slow_consumer() -> None:
    channel = OutsidePush[int](2, Overflow.DISCONNECT)
    slow = channel.subscribe()
    for value in range(3):
        await channel.publish(value)
    assert channel.statistics().subscribers == 0  # cut off: no longer receiving
    await channel.publish(3)
    with anyio.fail_after(5):
        assert [(await slow.receive()).payload for _ in range(2)] == [0, 1]
        with pytest.raises(SlowConsumer):
            await slow.receive()
    with pytest.raises(SlowConsumer):
        slow.receive_nowait()
    stats = channel.statistics()
    assert (stats.delivered, stats.dropped) == (2, 1)


async def test_block_holds_the_publisher_until_there_is_room() -> None:
    channel = OutsidePush[int](1)  # BLOCK by default
    subscription = channel.subscribe()
    await channel.publish(0)
    published: list[int] = []

    async def publish() -> None:
        published.append((await channel.publish(1)).offset)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publish)
            await anyio.wait_all_tasks_blocked()
            assert published == []
            assert subscription.receive_nowait().payload == 0
        assert published == [1]
        assert (await subscription.receive()).payload == 1


async def test_close_ends_subscriptions_after_their_buffers() -> None:
    channel = OutsidePush[str](4, Overflow.DROP_NEWEST)
    subscription = channel.subscribe()
    await channel.publish("a")
    await channel.aclose()
    with pytest.raises(ChannelClosed):
        await channel.publish("b")
    with anyio.fail_after(5):
        assert (await subscription.receive()).payload == "a"
        with pytest.raises(ChannelClosed):
            await subscription.receive()
    with pytest.raises(ChannelClosed):
        channel.subscribe().receive_nowait()


async def test_close_wakes_a_waiting_receiver_and_a_blocked_publisher() -> None:
    channel = OutsidePush[int](1)
    waiting = channel.subscribe()
    channel.subscribe()  # never reads: its buffer stays full
    first = await channel.publish(0)
    assert waiting.receive_nowait() == first
    errors: list[type[Exception]] = []

    async def expect_closed(call: Any) -> None:
        with pytest.raises(ChannelClosed) as caught:
            await call()
        errors.append(caught.type)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(expect_closed, waiting.receive)
            tg.start_soon(expect_closed, lambda: channel.publish(1))
            await anyio.wait_all_tasks_blocked()
            await channel.aclose()
    assert errors == [ChannelClosed, ChannelClosed]


async def test_refuse_last_and_unsubscribing_count_as_dropped() -> None:
    channel = OutsidePush[str](4, Overflow.DROP_NEWEST)
    subscription = channel.subscribe()
    for item in ("a", "b", "c"):
        await channel.publish(item)
    subscription.receive_nowait()
    subscription.refuse_last()
    await subscription.aclose()
    with pytest.raises(ChannelClosed):
        subscription.receive_nowait()
    await subscription.aclose()  # twice: no effect
    stats = channel.statistics()
    assert (stats.delivered, stats.dropped, stats.buffered, stats.subscribers) == (0, 3, 0, 0)

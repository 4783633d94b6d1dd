"""PollChannel and its subscriber: answers at once, cursors, retention and what polling costs."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from deliverymodes import (
    EARLIEST,
    LATEST,
    ChannelClosed,
    LongPollChannel,
    PollChannel,
    Retention,
)


async def published(count: int, retention: Retention | None = None) -> PollChannel[int]:
    channel = PollChannel[int](retention or Retention())
    for value in range(count):
        await channel.publish(value)
    return channel


async def test_poll_answers_at_once_with_what_is_retained() -> None:
    channel = await published(3)
    batch = await channel.poll(0)
    assert [m.payload for m in batch.messages] == [0, 1, 2]
    assert (batch.cursor, batch.missed, batch.closed, batch.reason) == (3, 0, False, None)
    empty = await channel.poll(batch.cursor)
    assert (empty.messages, empty.cursor) == ((), 3)
    stats = channel.statistics()
    assert (stats.polls, stats.empty_polls, stats.delivered, stats.published) == (2, 1, 3, 3)


async def test_poll_caps_messages_and_bytes() -> None:
    channel = PollChannel[bytes]()
    for size in (4, 4, 4, 20):
        await channel.publish(b"x" * size)
    batch = await channel.poll(0, max_messages=2)
    assert [m.offset for m in batch.messages] == [0, 1]
    batch = await channel.poll(0, max_bytes=9)
    assert [m.offset for m in batch.messages] == [0, 1]
    batch = await channel.poll(3, max_bytes=9)
    assert [m.offset for m in batch.messages] == [3]  # one oversize message comes alone
    batch = await channel.poll(0, max_messages=None, max_bytes=None)
    assert len(batch.messages) == 4


async def test_start_positions() -> None:
    channel = await published(5, Retention(max_messages=3))
    earliest = await channel.poll(EARLIEST)
    assert [m.offset for m in earliest.messages] == [2, 3, 4]
    assert earliest.missed == 0
    latest = await channel.poll(LATEST)
    assert (latest.messages, latest.cursor) == ((), 5)
    assert (channel.earliest, channel.head) == (2, 5)


async def test_cursor_fallen_out_of_retention_reports_missed() -> None:
    channel = await published(10, Retention(max_messages=4))
    batch = await channel.poll(1)
    assert batch.missed == 5
    assert [m.offset for m in batch.messages] == [6, 7, 8, 9]
    stats = channel.statistics()
    assert (stats.missed, stats.retained_messages) == (5, 4)


async def test_retention_bytes_never_exceeded() -> None:
    channel = PollChannel[bytes](Retention(max_messages=None, max_bytes=10))
    for size in (3, 3, 3, 3, 12, 2):
        await channel.publish(b"y" * size)
        assert channel.statistics().retained_bytes <= 10
    batch = await channel.poll(0)
    assert batch.missed == 5  # the 12-byte message was evicted at once, seen as missed
    assert [m.size for m in batch.messages] == [2]


async def test_retention_by_age() -> None:
    channel = PollChannel[int](Retention(max_age=0.05))
    await channel.publish(1)
    assert channel.statistics().retained_messages == 1
    await anyio.sleep(0.06)
    batch = await channel.poll(0)
    assert (batch.messages, batch.missed) == ((), 1)
    assert channel.statistics().retained_messages == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"cursor": -1}, ValueError, "cursor must be >= 0"),
        ({"cursor": 4}, ValueError, "cursor 4 is beyond the head"),
        ({"cursor": "0"}, TypeError, "cursor must be an int"),
        ({"cursor": 0, "max_messages": 0}, ValueError, "max_messages must be >= 1"),
        ({"cursor": 0, "max_bytes": -3}, ValueError, "max_bytes must be >= 1"),
    ],
)
async def test_bad_poll_arguments_name_themselves(
    kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    channel = await published(3)
    with pytest.raises(error, match=text):
        await channel.poll(**kwargs)  # type: ignore[arg-type]
    assert channel.statistics().polls == 0


def test_bad_channel_arguments_name_themselves() -> None:
    with pytest.raises(TypeError, match="retention must be a Retention"):
        PollChannel[int](retention=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batching must be a Batching"):
        LongPollChannel[int](batching={"min_messages": 2})  # type: ignore[arg-type]
    channel = PollChannel[int]()
    with pytest.raises(ValueError, match="poll_interval"):
        channel.subscribe(poll_interval=-1)
    with pytest.raises(TypeError, match="poll_interval"):
        channel.subscribe(poll_interval=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start 5 is beyond the head"):
        channel.subscribe(5)
    assert channel.statistics().subscribers == 0


async def test_close_then_poll_returns_retained_then_closed() -> None:
    channel = await published(3)
    await channel.aclose()
    with pytest.raises(ChannelClosed):
        await channel.publish(9)
    first = await channel.poll(0, max_messages=2)
    assert ([m.payload for m in first.messages], first.closed) == ([0, 1], False)
    last = await channel.poll(first.cursor)
    assert ([m.payload for m in last.messages], last.closed) == ([2], True)


async def test_subscriber_keeps_its_own_cursor() -> None:
    channel = await published(2)
    async with channel.subscribe(EARLIEST) as subscriber:
        batch = await subscriber.poll()
        assert [m.payload for m in batch.messages] == [0, 1]
        assert subscriber.cursor == 2
        assert (await subscriber.poll()).messages == ()
        await channel.publish(2)
        assert subscriber.statistics().lag == 1
        assert (await subscriber.receive()).payload == 2
        stats = subscriber.statistics()
        assert (stats.delivered, stats.polls, stats.empty_polls, stats.lag) == (3, 3, 1, 0)


async def test_subscriber_from_latest_sees_only_new_messages() -> None:
    channel = await published(3)
    async with channel.subscribe(poll_interval=0.001) as subscriber:
        await channel.publish(3)
        with anyio.fail_after(5):
            assert (await subscriber.receive()).payload == 3


async def test_subscriber_polls_every_interval_until_a_message_arrives() -> None:
    channel = PollChannel[int]()
    async with channel.subscribe(poll_interval=0.001) as subscriber:
        async with anyio.create_task_group() as tg:
            got: list[int] = []

            async def reader() -> None:
                got.append((await subscriber.receive()).payload)

            tg.start_soon(reader)
            with anyio.fail_after(5):
                # Watch the subscriber's own counter: it is what this test is about.
                while subscriber.statistics().empty_polls < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
            await channel.publish(42)
        assert got == [42]
        stats = subscriber.statistics()
        assert stats.empty_polls >= 3
        assert stats.polls == stats.empty_polls + 1
        assert channel.statistics().empty_polls == stats.empty_polls


async def test_subscriber_iteration_ends_when_channel_closes() -> None:
    channel = await published(3)
    async with channel.subscribe(EARLIEST, max_messages=2) as subscriber:
        await channel.aclose()
        with anyio.fail_after(5):
            assert [m.payload async for m in subscriber] == [0, 1, 2]
        with pytest.raises(ChannelClosed):
            await subscriber.receive()


async def test_cancelled_receive_loses_nothing() -> None:
    channel = PollChannel[int]()
    async with channel.subscribe(poll_interval=0.005) as subscriber:
        with anyio.move_on_after(0.02):
            await subscriber.receive()
        await channel.publish(5)
        with anyio.fail_after(5):
            assert (await subscriber.receive()).payload == 5


async def test_aclose_wakes_a_receiver_of_the_same_subscriber() -> None:
    channel = PollChannel[int]()
    subscriber = channel.subscribe(poll_interval=60)
    outcome: list[str] = []

    async def reader() -> None:
        try:
            await subscriber.receive()
        except ChannelClosed:
            outcome.append("closed")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await subscriber.aclose()
    assert outcome == ["closed"]
    assert channel.statistics().subscribers == 0


async def test_two_tasks_on_one_subscriber_get_no_duplicates() -> None:
    channel = PollChannel[int]()
    subscriber = channel.subscribe(poll_interval=0.001)
    got: list[int] = []

    async def reader() -> None:
        async for message in subscriber:
            got.append(message.payload)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(reader)
            for value in range(200):
                await channel.publish(value)
                if value % 7 == 0:
                    await anyio.lowlevel.checkpoint()
            await channel.aclose()
    assert sorted(got) == list(range(200))
    await subscriber.aclose()

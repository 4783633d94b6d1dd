"""LongPollChannel: the release condition, its reason, waiting, cancellation and close."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverymodes import (
    EARLIEST,
    Batch,
    Batching,
    ChannelClosed,
    LongPollChannel,
    Release,
    Retention,
)
from tests.strategies import optional_caps, sizes


async def test_answers_at_once_when_min_messages_already_pending() -> None:
    channel = LongPollChannel[str]()
    await channel.publish("a")
    with anyio.fail_after(5):
        batch = await channel.poll(0, max_wait=None)
    assert [m.payload for m in batch.messages] == ["a"]
    assert batch.reason is Release.MIN_MESSAGES


async def test_waits_for_min_messages() -> None:
    channel = LongPollChannel[int](batching=Batching(min_messages=3, max_wait=None))
    results: list[Batch[int]] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def poll() -> None:
                results.append(await channel.poll(0))

            tg.start_soon(poll)
            for value in range(3):
                await anyio.wait_all_tasks_blocked()
                assert results == []
                assert channel.statistics().waiting_polls == 1
                await channel.publish(value)
    assert [m.payload for m in results[0].messages] == [0, 1, 2]
    assert results[0].reason is Release.MIN_MESSAGES
    assert channel.statistics().waiting_polls == 0


async def test_min_bytes_releases_before_min_messages() -> None:
    channel = LongPollChannel[bytes]()
    results: list[Batch[bytes]] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def poll() -> None:
                results.append(await channel.poll(0, min_messages=100, min_bytes=10))

            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            await channel.publish(b"12345")
            await anyio.wait_all_tasks_blocked()
            assert results == []
            await channel.publish(b"67890")
    assert results[0].reason is Release.MIN_BYTES
    assert len(results[0].messages) == 2


async def test_many_waiting_polls_each_answer_when_their_own_thresholds_are_met() -> None:
    # Polls from different cursors, with different thresholds, some by bytes: after every
    # publish exactly those whose pending messages or bytes reached their threshold answered.
    channel = LongPollChannel[bytes](Retention(max_messages=None))
    for _ in range(5):
        await channel.publish(b"x")
    settings = [
        (cursor, min_messages, min_bytes)
        for cursor in range(5)
        for min_messages in (6, 9, 14)
        for min_bytes in (None, 12, 30)
    ]
    answered: dict[int, Batch[bytes]] = {}
    reasons: dict[int, Release] = {}
    sizes = [1, 4, 2, 8, 1, 3, 5, 1, 2, 6, 1, 1, 4, 2, 3]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def poll(
                index: int, cursor: int, min_messages: int, min_bytes: int | None
            ) -> None:
                answered[index] = await channel.poll(
                    cursor, min_messages=min_messages, min_bytes=min_bytes, max_wait=None
                )

            for index, (cursor, min_messages, min_bytes) in enumerate(settings):
                tg.start_soon(poll, index, cursor, min_messages, min_bytes)
            await anyio.wait_all_tasks_blocked()
            assert answered == {}
            assert channel.statistics().waiting_polls == len(settings)
            log = [1] * 5
            for size in sizes:
                await channel.publish(b"y" * size)
                log.append(size)
                await anyio.wait_all_tasks_blocked()
                for index, (cursor, min_messages, min_bytes) in enumerate(settings):
                    count, nbytes = len(log) - cursor, sum(log[cursor:])
                    by_count = count >= min_messages
                    by_bytes = min_bytes is not None and nbytes >= min_bytes
                    assert (index in answered) == (by_count or by_bytes), (index, log)
                    if index in answered and index not in reasons:  # answered just now
                        reasons[index] = Release.MIN_MESSAGES if by_count else Release.MIN_BYTES
                        assert answered[index].reason is reasons[index]
                        assert answered[index].messages[0].offset == cursor
                        assert len(answered[index].messages) == count
                assert channel.statistics().waiting_polls == len(settings) - len(answered)
            tg.cancel_scope.cancel()


async def test_max_wait_answers_with_what_there_is() -> None:
    channel = LongPollChannel[int]()
    await channel.publish(1)
    with anyio.fail_after(5):
        batch = await channel.poll(0, min_messages=5, max_wait=0.02)
    assert batch.reason is Release.MAX_WAIT
    assert [m.payload for m in batch.messages] == [1]
    with anyio.fail_after(5):
        empty = await channel.poll(1, max_wait=0.01)
    assert (empty.messages, empty.reason, empty.cursor) == ((), Release.MAX_WAIT, 1)
    stats = channel.statistics()
    assert (stats.polls, stats.empty_polls) == (2, 1)


async def test_zero_max_wait_is_a_plain_poll_with_a_reason() -> None:
    channel = LongPollChannel[int]()
    batch = await channel.poll(0, max_wait=0)
    assert (batch.messages, batch.reason) == ((), Release.MAX_WAIT)


async def test_min_messages_is_capped_by_max_messages() -> None:
    channel = LongPollChannel[int]()
    for value in range(2):
        await channel.publish(value)
    with anyio.fail_after(5):
        batch = await channel.poll(0, min_messages=10, max_messages=2, max_wait=None)
    assert batch.reason is Release.MIN_MESSAGES
    assert len(batch.messages) == 2


async def test_batch_caps_and_single_oversize_message() -> None:
    channel = LongPollChannel[bytes]()
    for size in (50, 1, 1, 1):
        await channel.publish(b"z" * size)
    batch = await channel.poll(0, max_bytes=10)
    assert [m.size for m in batch.messages] == [50]
    batch = await channel.poll(1, max_messages=2)
    assert [m.offset for m in batch.messages] == [1, 2]


async def test_missed_messages_do_not_count_towards_thresholds() -> None:
    channel = LongPollChannel[int](Retention(max_messages=2))
    for value in range(5):
        await channel.publish(value)
    with anyio.fail_after(5):
        batch = await channel.poll(0, min_messages=3, max_wait=0.01)
    assert batch.reason is Release.MAX_WAIT
    assert batch.missed == 3
    assert [m.offset for m in batch.messages] == [3, 4]


async def test_close_wakes_every_waiting_poll_with_a_closed_batch() -> None:
    channel = LongPollChannel[int]()
    results: list[Batch[int]] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def poll() -> None:
                results.append(await channel.poll(0, max_wait=None))

            for _ in range(3):
                tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            assert channel.statistics().waiting_polls == 3
            await channel.aclose()
    assert [(b.closed, b.reason, b.messages) for b in results] == [(True, Release.CLOSED, ())] * 3
    assert channel.statistics().waiting_polls == 0
    with pytest.raises(ChannelClosed):
        await channel.publish(1)


async def test_poll_on_closed_channel_returns_retained_then_closed() -> None:
    channel = LongPollChannel[int]()
    for value in range(3):
        await channel.publish(value)
    await channel.aclose()
    with anyio.fail_after(5):
        first = await channel.poll(0, min_messages=10, max_messages=2, max_wait=None)
        last = await channel.poll(first.cursor, min_messages=10, max_wait=None)
    assert (first.reason, first.closed) == (Release.MIN_MESSAGES, False)
    assert ([m.payload for m in last.messages], last.reason, last.closed) == (
        [2],
        Release.CLOSED,
        True,
    )


async def test_cancelled_long_poll_leaves_no_waiter_and_loses_nothing() -> None:
    channel = LongPollChannel[int]()
    with anyio.move_on_after(0.02) as scope:
        await channel.poll(0, max_wait=None)
    assert scope.cancelled_caught
    assert channel.statistics().waiting_polls == 0
    await channel.publish(1)
    batch = await channel.poll(0, max_wait=None)
    assert [m.payload for m in batch.messages] == [1]
    assert channel.statistics().polls == 1  # the cancelled poll answered nothing


async def test_bad_arguments_name_themselves() -> None:
    channel = LongPollChannel[int]()
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"min_messages": 0}, ValueError, "min_messages"),
        ({"min_bytes": -1}, ValueError, "min_bytes"),
        ({"max_wait": -1}, ValueError, "max_wait"),
        ({"max_messages": 0}, ValueError, "max_messages"),
        ({"max_bytes": 0}, ValueError, "max_bytes"),
    ]
    for kwargs, error, name in cases:
        with pytest.raises(error, match=name):
            await channel.poll(0, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(error, match=name):
            channel.subscribe(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cursor 1 is beyond the head"):
        await channel.poll(1)
    assert channel.statistics().polls == 0


async def test_subscriber_yields_messages_one_by_one() -> None:
    channel = LongPollChannel[int](batching=Batching(max_wait=None))
    async with channel.subscribe(max_messages=3) as subscriber:
        for value in range(7):
            await channel.publish(value)
        with anyio.fail_after(5):
            got = [(await subscriber.receive()).payload for _ in range(7)]
        assert got == list(range(7))
        stats = subscriber.statistics()
        assert (stats.delivered, stats.polls, stats.empty_polls) == (7, 3, 0)


async def test_subscriber_poll_does_one_long_poll() -> None:
    channel = LongPollChannel[int]()
    async with channel.subscribe(EARLIEST, min_messages=2, max_wait=0.01) as subscriber:
        await channel.publish(1)
        with anyio.fail_after(5):
            batch = await subscriber.poll()
        assert (batch.reason, [m.payload for m in batch.messages]) == (Release.MAX_WAIT, [1])
        assert subscriber.cursor == 1


async def test_subscriber_iteration_ends_at_close() -> None:
    channel = LongPollChannel[int](batching=Batching(max_wait=None))
    got: list[int] = []
    async with channel.subscribe() as subscriber:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def reader() -> None:
                    got.extend([message.payload async for message in subscriber])

                tg.start_soon(reader)
                for value in range(5):
                    await channel.publish(value)
                await channel.aclose()
    assert got == [0, 1, 2, 3, 4]


def expected_batch(
    sizes_: list[int], begin: int, max_messages: int | None, max_bytes: int | None
) -> list[int]:
    """The offsets a batch from ``begin`` must hold: as many as the caps allow, at least one."""
    if max_messages is not None:
        sizes_ = sizes_[:max_messages]
    offsets: list[int] = []
    total = 0
    for index, size in enumerate(sizes_):
        total += size
        if max_bytes is not None and total > max_bytes and offsets:
            break
        offsets.append(begin + index)
    return offsets


@given(
    steps=st.lists(st.one_of(sizes, st.tuples(optional_caps, optional_caps)), max_size=60),
    keep=optional_caps,
    min_messages=st.integers(1, 4),
)
@settings(max_examples=40, deadline=None)
async def test_long_polls_read_the_log_like_a_list(
    steps: list[int | tuple[int | None, int | None]], keep: int | None, min_messages: int
) -> None:
    """Publish (an int size) or long-poll with caps (a pair) from a reader's cursor."""
    channel = LongPollChannel[bytes](Retention(max_messages=keep))
    published: list[int] = []
    cursor = 0
    seen: list[int] = []
    missed = 0
    for step in steps:
        if isinstance(step, int):
            await channel.publish(b"p" * step)
            published.append(step)
            continue
        max_messages, max_bytes = step
        first = max(0, len(published) - keep) if keep else 0
        pending = len(published) - max(cursor, first)
        batch = await channel.poll(
            cursor,
            min_messages=min_messages,
            max_wait=0,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        effective_min = min(min_messages, max_messages or min_messages)
        expected_reason = Release.MIN_MESSAGES if pending >= effective_min else Release.MAX_WAIT
        assert batch.reason is expected_reason
        assert batch.missed == max(0, first - cursor)
        offsets = [m.offset for m in batch.messages]
        begin = max(cursor, first)
        assert offsets == expected_batch(published[begin:], begin, max_messages, max_bytes)
        cursor = batch.cursor
        seen.extend(offsets)
        missed += batch.missed
    assert seen == sorted(set(seen))  # in order, no duplicates
    assert len(seen) + missed + (len(published) - cursor) == len(published)
    stats = channel.statistics()
    assert (stats.delivered, stats.missed, stats.published) == (len(seen), missed, len(published))

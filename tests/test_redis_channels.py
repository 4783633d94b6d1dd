"""Redis channels behave as the in-memory ones: the same protocols, consumers and semantics, with
offsets shared by every handle (every process) on one key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from deliverymodes import (
    EARLIEST,
    LATEST,
    Batching,
    Channel,
    ChannelClosed,
    Overflow,
    Publisher,
    Release,
    Retention,
    ServedLog,
    ServedLongPoll,
    ServedPush,
    SlowConsumer,
)
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)
from tests.redis_helpers import new_key, settled, take
from tests.redis_server import private_redis, require_redis_server
from tests.test_protocols import consume

require_redis_server()

MODELS = ["push", "poll", "long poll"]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


def make(model: str, redis: str | RedisClient, key: str, **options: Any) -> Any:
    kinds: dict[str, Any] = {
        "push": RedisPushChannel,
        "poll": RedisPollChannel,
        "long poll": RedisLongPollChannel,
    }
    return kinds[model](redis, key, **options)


@pytest.mark.parametrize("model", MODELS)
async def test_the_protocols_and_an_unchanged_consumer(redis_url: str, model: str) -> None:
    async with make(model, redis_url, new_key()) as channel:
        assert isinstance(channel, Channel)
        assert isinstance(channel, Publisher)
        served = (
            ServedPush if model == "push" else ServedLongPoll if model == "long poll" else ServedLog
        )
        assert isinstance(channel, served)
        async with channel.subscribe() as subscriber:
            for word in ("one", "two", "three"):
                await channel.publish(word)
            with anyio.fail_after(10):
                assert await consume(subscriber, 3) == ["one", "two", "three"]
        statistics = channel.statistics()
        assert (statistics.published, statistics.delivered) == (3, 3)


@pytest.mark.parametrize("model", MODELS)
async def test_two_handles_share_offsets_and_messages(redis_url: str, model: str) -> None:
    key = new_key()
    async with make(model, redis_url, key) as here, make(model, redis_url, key) as there:
        async with there.subscribe() as subscriber:
            published: list[Any] = []
            async with anyio.create_task_group() as group:
                for handle in (here, there) * 10:
                    group.start_soon(_append, published, handle)
            assert sorted(m.offset for m in published) == list(range(20))
            got = await take(subscriber, 20)
        by_offset = {m.offset: m.payload for m in published}
        assert got == [by_offset[offset] for offset in range(20)]


async def _append(published: list[Any], handle: Any) -> None:
    published.append(await handle.publish(f"from {id(handle)}"))


async def test_one_client_serves_many_channels_on_two_connections(redis_url: str) -> None:
    async with RedisClient(redis_url) as client:
        async with make("push", client, new_key()) as a, make("long poll", client, new_key()) as b:
            async with make("poll", client, new_key()) as c:
                for channel in (a, b, c):
                    await channel.publish(1)
                assert client.connections == 2
        assert client.connections == 2  # the client stays open for others


async def test_poll_from_earliest_latest_and_a_cursor(redis_url: str) -> None:
    async with RedisPollChannel[int](redis_url, new_key()) as channel:
        empty = await channel.poll(EARLIEST)
        assert (empty.messages, empty.cursor, empty.reason) == ((), 0, None)
        for number in range(5):
            await channel.publish(number)
        batch = await channel.poll(EARLIEST, max_messages=3)
        assert [m.payload for m in batch.messages] == [0, 1, 2]
        assert (batch.cursor, batch.epoch) == (3, channel.epoch)
        assert [m.payload for m in (await channel.poll(batch.cursor)).messages] == [3, 4]
        assert (await channel.poll(LATEST)).messages == ()
        with pytest.raises(ValueError, match="beyond the head"):
            await channel.poll(6)
        statistics = channel.statistics()
        assert (statistics.polls, statistics.empty_polls, statistics.delivered) == (4, 2, 5)


async def test_max_messages_is_exact_and_evicted_reads_count_as_missed(redis_url: str) -> None:
    key = new_key()
    retention = Retention(max_messages=3)
    async with RedisPollChannel[int](redis_url, key, retention) as channel:
        for number in range(10):
            await channel.publish(number)
        assert await channel.client.execute("XLEN", key) == 3
        batch = await channel.poll(0)
        assert ([m.offset for m in batch.messages], batch.missed) == ([7, 8, 9], 7)
        statistics = channel.statistics()
        assert (statistics.retained_messages, statistics.missed) == (3, 7)


async def test_max_bytes_is_exact(redis_url: str) -> None:
    key = new_key()
    retention = Retention(max_messages=None, max_bytes=10, max_age=None)
    async with RedisPollChannel[str](redis_url, key, retention) as channel:
        for text in ("aaaa", "bbbb", "cccc", "d" * 20, "ee"):
            await channel.publish(text)  # sizes 4, 4, 4, 20, 2
        batch = await channel.poll(EARLIEST)
        assert [m.payload for m in batch.messages] == ["ee"]
        assert channel.statistics().retained_bytes == 2
        assert await channel.client.execute("HGET", key + ":meta", "bytes") == b"2"


async def test_long_poll_thresholds_and_reasons(redis_url: str) -> None:
    key = new_key()
    async with RedisLongPollChannel[int](redis_url, key) as reader:
        async with RedisLongPollChannel[int](redis_url, key) as writer:
            timed_out = await reader.poll(0, min_messages=2, max_wait=0.05)
            assert (timed_out.messages, timed_out.reason) == ((), Release.MAX_WAIT)
            answers: list[Any] = []
            async with anyio.create_task_group() as group:

                async def wait() -> None:
                    answers.append(await reader.poll(0, min_messages=3, max_wait=None))

                group.start_soon(wait)
                await settled(lambda: reader.statistics().waiting_polls > 0)
                for number in range(3):
                    await writer.publish(number)  # from the other handle: through Redis
            batch = answers[0]
            assert ([m.payload for m in batch.messages], batch.reason) == (
                [0, 1, 2],
                Release.MIN_MESSAGES,
            )
        async with anyio.create_task_group() as group:

            async def closed() -> None:
                answers.append(await reader.poll(3, max_wait=None))

            group.start_soon(closed)
            await settled(lambda: reader.statistics().waiting_polls > 0)
            await reader.aclose()
        assert (answers[-1].reason, answers[-1].closed) == (Release.CLOSED, True)


async def test_min_bytes_releases_a_long_poll(redis_url: str) -> None:
    async with RedisLongPollChannel[str](redis_url, new_key()) as channel:
        answers: list[Any] = []
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                with anyio.fail_after(10):
                    answers.append(
                        await channel.poll(0, min_messages=100, min_bytes=10, max_wait=None)
                    )

            group.start_soon(wait)
            await settled(lambda: channel.statistics().waiting_polls > 0)
            await channel.publish("abcde")  # 5 bytes
            await channel.publish("fghijk")  # 6 more
        assert (len(answers[0].messages), answers[0].reason) == (2, Release.MIN_BYTES)


@pytest.mark.parametrize("overflow", [Overflow.DROP_NEWEST, Overflow.DROP_OLDEST])
async def test_push_overflow_policies_count_their_drops(redis_url: str, overflow: Overflow) -> None:
    key = new_key()
    async with RedisPushChannel[int](redis_url, key, buffer_size=2, overflow=overflow) as channel:
        async with RedisPushChannel[int](redis_url, key) as publisher:
            async with channel.subscribe() as subscriber:
                for number in range(5):
                    await publisher.publish(number)
                await settled(lambda: channel.statistics().dropped >= 3)
                kept = await take(subscriber, 2)
                assert kept == ([0, 1] if overflow is Overflow.DROP_NEWEST else [3, 4])
                assert subscriber.statistics().dropped == 3


async def test_push_disconnect_cuts_off_a_slow_subscriber(redis_url: str) -> None:
    key = new_key()
    async with RedisPushChannel[int](redis_url, key, 2, Overflow.DISCONNECT) as channel:
        async with channel.subscribe() as subscriber:
            for number in range(3):
                await channel.publish(number)
            assert await take(subscriber, 2) == [0, 1]
            with anyio.fail_after(10), pytest.raises(SlowConsumer):
                await subscriber.receive()


async def test_push_block_holds_back_publishers_of_this_process(redis_url: str) -> None:
    async with RedisPushChannel[int](redis_url, new_key(), 1, Overflow.BLOCK) as channel:
        async with channel.subscribe() as subscriber:
            await channel.publish(0)
            with anyio.move_on_after(0.2) as waited:
                await channel.publish(1)
            assert waited.cancelled_caught  # full: it waited, and being cancelled, sent nothing
            assert await take(subscriber, 1) == [0]
            await channel.publish(2)
            assert await take(subscriber, 1) == [2]
            assert channel.statistics().published == 2


@pytest.mark.parametrize("model", MODELS)
async def test_closing_a_handle_ends_its_readers_and_refuses_publishes(
    redis_url: str, model: str
) -> None:
    channel = make(model, redis_url, new_key())
    async with channel, channel.subscribe() as subscriber:
        await channel.publish("last")
        await channel.aclose()
        assert await take(subscriber, 1) == ["last"]
        with anyio.fail_after(10), pytest.raises(ChannelClosed):
            await subscriber.receive()
        with pytest.raises(ChannelClosed):
            await channel.publish("more")
        async with channel.subscribe() as late:  # as in memory: it ends at once
            with anyio.fail_after(10), pytest.raises(ChannelClosed):
                await late.receive()


async def test_long_poll_batching_defaults_come_from_the_channel(redis_url: str) -> None:
    batching = Batching(min_messages=2, max_wait=0.05)
    async with RedisLongPollChannel[int](redis_url, new_key(), batching=batching) as channel:
        await channel.publish(1)
        batch = await channel.poll(0)
        assert ([m.payload for m in batch.messages], batch.reason) == ([1], Release.MAX_WAIT)


@pytest.mark.parametrize("model", MODELS)
async def test_publish_many_is_one_batch_with_consecutive_offsets(
    redis_url: str, model: str
) -> None:
    key = new_key()
    async with make(model, redis_url, key) as channel, make(model, redis_url, key) as reader:
        async with reader.subscribe() as subscriber:
            await channel.publish("first")
            messages = await channel.publish_many([f"n{n}" for n in range(50)])
            assert [m.offset for m in messages] == list(range(1, 51))
            assert [m.payload for m in messages] == [f"n{n}" for n in range(50)]
            assert await channel.publish_many([]) == []
            assert await take(subscriber, 51) == ["first", *(f"n{n}" for n in range(50))]
        assert channel.statistics().published == 51

"""Faults around Redis channels: wrong keys, URLs and use, undecodable entries, a dropped Pub/Sub
link, random cancellation and a missing extra. Each is a clear error or a counted loss, never a
hang, a crash or a silent gap."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from deliverymodes import EARLIEST, BytesCodec, ConnectionLost, Reconnect, Retention
from deliverymodes.redis import (
    RedisClient,
    RedisError,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)
from tests.redis_helpers import new_key, settled, take
from tests.redis_server import private_redis, require_redis_server, restartable_redis

require_redis_server()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.mark.parametrize("suffix", ["", ":meta"])
async def test_a_key_of_another_type_is_a_clear_error(redis_url: str, suffix: str) -> None:
    key = new_key()
    async with RedisClient(redis_url) as client:
        await client.execute("SET", key + suffix, "not ours")
        with anyio.fail_after(10), pytest.raises(RedisError, match=repr(key + suffix)):
            async with RedisPollChannel[object](client, key):
                pass
        assert await client.execute("GET", key + suffix) == b"not ours"  # left as it was


async def test_a_channel_that_cannot_open_says_why_once(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The opening raises the error; the Pub/Sub link, resuming the channel meanwhile, does not
    log it too (once the link is up, and while it comes up)."""
    key = new_key()
    caplog.set_level(logging.WARNING, logger="deliverymodes")
    async with RedisClient(redis_url) as client:
        await client.execute("SET", key, "not ours")
        for kind in (RedisPollChannel[object], RedisLongPollChannel[object], RedisPollChannel):
            with anyio.fail_after(10), pytest.raises(RedisError, match="other types"):
                async with kind(client, key):
                    pass
        await anyio.sleep(0.1)  # a resumption still under way would log by now
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_wrong_arguments_name_themselves() -> None:
    with pytest.raises(TypeError, match="redis must be"):
        RedisPollChannel(42, "key")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be a str"):
        RedisPushChannel("redis://localhost", b"key")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must not be empty"):
        RedisLongPollChannel("redis://localhost", "")
    with pytest.raises(ValueError, match="must start with redis://"):
        RedisPollChannel("http://localhost", "key")
    with pytest.raises(TypeError, match="codec must have"):
        RedisPollChannel("redis://localhost", "key", codec=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be > 0"):
        RedisClient("redis://localhost", timeout=0)


@pytest.mark.parametrize("kind", [RedisPushChannel, RedisPollChannel, RedisLongPollChannel])
async def test_a_channel_not_entered_says_how_to_open_it(redis_url: str, kind: Any) -> None:
    channel = kind(redis_url, new_key())
    assert channel.epoch == 0
    with pytest.raises(RuntimeError, match="use `async with channel` first"):
        await channel.publish(1)
    with pytest.raises(RuntimeError, match="use `async with channel` first"):
        channel.subscribe()


async def test_a_publish_cancelled_before_its_round_trip_is_not_made(redis_url: str) -> None:
    key = new_key()
    async with RedisPollChannel[str](redis_url, key) as channel:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(channel.publish, "kept")
                while channel._link._sending is None:  # until "kept" is on its way
                    await anyio.lowlevel.checkpoint()
                with anyio.move_on_after(0):  # waits behind it, and is cancelled there
                    await channel.publish("withdrawn")
            after = await channel.publish("after")
            batch = await channel.poll(EARLIEST)
        assert [m.payload for m in batch.messages] == ["kept", "after"]
        assert after.offset == 1


async def test_an_unreachable_server_fails_at_once_saying_why() -> None:
    with anyio.fail_after(10), pytest.raises(ConnectionLost, match="No such file"):
        async with RedisPollChannel[int]("unix:///nonexistent/redis.sock", "k", timeout=5):
            pass


async def test_entries_that_do_not_decode_are_skipped_and_counted(redis_url: str) -> None:
    key = new_key()
    async with RedisClient(redis_url) as client:
        async with (
            RedisPushChannel[object](client, key) as push,
            RedisLongPollChannel[object](client, key + "-log") as log,
            RedisPushChannel[bytes](client, key, codec=BytesCodec()) as raw_push,
            RedisLongPollChannel[bytes](client, key + "-log", codec=BytesCodec()) as raw_log,
        ):
            async with push.subscribe() as subscriber:
                await push.publish({"n": 0})
                await raw_push.publish(b"\xff not JSON")
                await push.publish({"n": 2})
                assert await take(subscriber, 2) == [{"n": 0}, {"n": 2}]
                assert subscriber.statistics().missed == 1
            await log.publish(0)
            await raw_log.publish(b"{broken")
            await log.publish(2)
            await settled(lambda: log.head == 3)
            batch = await log.poll(0, max_wait=0)
            assert [m.payload for m in batch.messages] == [2]  # the view went on past the gap
            assert batch.missed == 2


async def test_one_undecodable_message_of_a_notification_spares_the_others(
    redis_url: str,
) -> None:
    key = new_key()
    async with (
        RedisClient(redis_url) as client,
        RedisPushChannel[object](client, key) as push,
        RedisPushChannel[bytes](client, key, codec=BytesCodec()) as raw_push,
        push.subscribe() as subscriber,
    ):
        await raw_push.publish_many([b'{"n":0}', b"[1", b'{"n":2}', b"\xff", b"3"])
        assert await take(subscriber, 3) == [{"n": 0}, {"n": 2}, 3]
        assert subscriber.statistics().missed == 2


async def test_with_no_subscriber_here_messages_go_by_and_the_next_one_comes(
    redis_url: str,
) -> None:
    key = new_key()
    async with (
        RedisClient(redis_url) as here,
        RedisClient(redis_url) as there,
        RedisPushChannel[object](here, key) as channel,
        RedisPushChannel[bytes](there, key, codec=BytesCodec()) as publisher,
    ):
        await publisher.publish_many([b"0", b"not JSON", b"2"])  # nobody here to decode them
        await settled(lambda: channel.statistics().published == 3)
        async with channel.subscribe() as subscriber:
            await publisher.publish(b'"three"')
            assert await take(subscriber, 1) == ["three"]
            assert subscriber.statistics().missed == 0
        assert channel.statistics().missed == 0


async def test_a_dropped_pubsub_link_is_recovered_from_the_stream(redis_url: str) -> None:
    key = new_key()
    slow = Reconnect(initial_delay=0.5, max_delay=0.5, jitter=0)
    async with (
        RedisClient(redis_url, reconnect=slow) as here,
        RedisClient(redis_url) as there,
        RedisPushChannel[int](here, key) as channel,
        RedisPushChannel[int](there, key) as publisher,
        channel.subscribe() as subscriber,
    ):
        await publisher.publish(0)
        assert await take(subscriber, 1) == [0]
        await there.execute("CLIENT", "KILL", "TYPE", "pubsub")  # both processes' links drop
        for number in range(1, 21):
            await publisher.publish(number)  # while this one is away
        assert await take(subscriber, 20) == list(range(1, 21))
        statistics = subscriber.statistics()
        assert (statistics.missed, statistics.delivered) == (0, 21)


async def test_what_the_stream_no_longer_holds_is_counted_as_missed(redis_url: str) -> None:
    key = new_key()
    slow = Reconnect(initial_delay=0.5, max_delay=0.5, jitter=0)
    keep = Retention(max_messages=3)
    async with (
        RedisClient(redis_url, reconnect=slow) as here,
        RedisClient(redis_url) as there,
        RedisPushChannel[int](here, key, retention=keep) as channel,
        RedisPushChannel[int](there, key, retention=keep) as publisher,
        channel.subscribe() as subscriber,
    ):
        await there.execute("CLIENT", "KILL", "TYPE", "pubsub")
        for number in range(10):
            await publisher.publish(number)
        assert await take(subscriber, 3) == [7, 8, 9]
        assert subscriber.statistics().missed == 7
        await publisher.publish(10)
        assert await take(subscriber, 1) == [10]
        assert channel.statistics().missed == 7


@pytest.mark.parametrize("seed", [7, 8])
async def test_random_cancellation_of_publishes_loses_and_repeats_nothing(
    redis_url: str, seed: int
) -> None:
    key = new_key()
    rng = random.Random(seed)
    returned: list[Any] = []

    async def publish(channel: RedisPollChannel[int], number: int) -> None:
        with anyio.CancelScope() as scope:
            if rng.random() < 0.3:
                scope.cancel()  # at its first wait: behind a round trip, or in its own
            returned.append(await channel.publish(number))

    async with RedisPollChannel[int](redis_url, key) as channel:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for number in range(300):
                    group.start_soon(publish, channel, number)
                    if rng.random() < 0.2:
                        await anyio.lowlevel.checkpoint()
            entries = await channel.client.execute("XRANGE", key, "-", "+")
            batch = await channel.poll(EARLIEST, max_messages=None)
        in_redis = {int(entry[0][:-2]): json.loads(entry[1][1]) for entry in entries}
        assert list(in_redis) == list(range(len(entries)))  # contiguous, no duplicate
        assert len(set(in_redis.values())) == len(in_redis)
        # What each caller was told is what Redis holds, and what this process's view holds.
        assert all(in_redis[m.offset] == m.payload for m in returned)
        assert {m.offset: m.payload for m in batch.messages} == in_redis


@pytest.mark.parametrize("seed", [3, 4])
async def test_openings_cancelled_at_random_leave_nothing_behind(redis_url: str, seed: int) -> None:
    """A channel opening reads the stream while it subscribes: cancelled at any point, it leaves
    no listener, no task and no third connection behind, and the next channel opens and reads
    every message."""
    key, rng = new_key(), random.Random(seed)
    kinds = [RedisPushChannel[int], RedisPollChannel[int], RedisLongPollChannel[int]]
    async with RedisClient(redis_url) as client:
        async with RedisPollChannel[int](client, key) as writer:
            for start in range(0, 2500, 500):  # long enough to be read in three chunks
                await writer.publish_many(range(start, start + 500))
        with anyio.fail_after(60):
            for _ in range(80):  # opening takes a few milliseconds: cancelled somewhere in it
                with anyio.move_on_after(rng.random() * 0.006):
                    async with rng.choice(kinds)(client, key):
                        await anyio.sleep(1)
            assert client.connections <= 2
            async with RedisLongPollChannel[int](client, key) as reader:
                batch = await reader.poll(0, max_messages=None, max_bytes=None, max_wait=0)
            assert [m.payload for m in batch.messages] == list(range(2500))
            await settled(lambda: not any(client._listeners.values()))


async def test_closing_the_client_inside_its_block_fails_commands_not_the_block(
    redis_url: str,
) -> None:
    async with RedisClient(redis_url) as client, anyio.create_task_group() as group:
        failed: list[BaseException] = []

        async def wait() -> None:
            try:
                await client.execute("BLPOP", new_key(), 0)
            except ConnectionLost as error:
                failed.append(error)

        group.start_soon(wait)
        await settled(lambda: client.connections == 1)
        await anyio.sleep(0.05)  # the BLPOP is on its way
        await client.aclose()
        with anyio.fail_after(10):
            await settled(lambda: len(failed) == 1)
        await anyio.sleep(0.01)  # the block itself goes on
    with pytest.raises(ConnectionLost, match="closed"):
        await client.execute("PING")


async def test_a_notification_that_is_not_ours_is_not_taken_for_a_message(redis_url: str) -> None:
    key = new_key()
    async with RedisClient(redis_url) as client, RedisLongPollChannel[str](client, key) as channel:
        await channel.publish("zero")
        forged = b'%d 1 1\n3 1.0 99\n"x"' % channel.epoch  # claims 99 bytes, carries 3
        await client.execute("PUBLISH", key, forged)
        await client.execute("PUBLISH", key, "garbage")
        async with RedisClient(redis_url) as other, RedisPollChannel[str](other, key) as writer:
            await writer.publish("one")
        await settled(lambda: channel.head == 2)
        batch = await channel.poll(0, max_wait=0)
        assert [m.payload for m in batch.messages] == ["zero", "one"]


async def test_an_epoch_that_is_not_one_is_a_clear_error(redis_url: str) -> None:
    key = new_key()
    async with RedisClient(redis_url) as client:
        await client.execute("HSET", key + ":meta", "epoch", "xyz", "head", 0)
        with anyio.fail_after(10), pytest.raises(RedisError, match="epoch that is not one"):
            async with RedisPollChannel[str](client, key):
                pass


async def test_a_frozen_redis_is_noticed_by_waiting_readers() -> None:
    attempts = Reconnect(initial_delay=0.05, max_delay=0.2, max_attempts=2)
    with restartable_redis(persistent=False) as server, anyio.fail_after(60):
        async with (
            RedisClient(server.url, timeout=1, reconnect=attempts) as client,
            RedisLongPollChannel[int](client, new_key()) as channel,
            channel.subscribe(max_wait=0.2) as subscriber,
        ):
            await channel.publish(0)
            assert await take(subscriber, 1) == [0]
            server.pause()
            try:
                with pytest.raises(ConnectionLost):
                    await subscriber.receive()
            finally:
                server.resume()


def test_without_the_extra_the_import_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['hiredis'] = None\n"
        "try:\n    import deliverymodes.redis\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "deliverymodes[redis]"' in result.stdout

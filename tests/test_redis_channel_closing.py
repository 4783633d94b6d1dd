"""Closing Redis channels and their client ends their readers at once, whatever Redis is doing,
and leaves nothing subscribed; what Redis refuses is refused at once and writes nothing.

Every wait here is far shorter than the client's timeout or reconnection pause, so a close that
waited for either would fail."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from deliverymodes import EARLIEST, ChannelClosed, Reconnect
from deliverymodes.redis import (
    RedisClient,
    RedisError,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .redis_helpers import new_key, settled
from .redis_server import private_redis, require_redis_server, restartable_redis

require_redis_server()

SLOW = Reconnect(initial_delay=60, max_delay=60, jitter=0)  # a pause no test waits out
KINDS = [RedisPushChannel, RedisPollChannel, RedisLongPollChannel]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


async def _read_until_closed(subscriber: Any, ended: list[str], name: str) -> None:
    """Receive until the end; note how it ended."""
    try:
        while True:
            await subscriber.receive()
    except ChannelClosed:
        ended.append(name)


async def test_closing_the_client_ends_the_readers_of_its_channels(redis_url: str) -> None:
    """Readers of every kind, waiting on channels of a client that closes: each ends at once,
    as when its channel closes, and the channels are closed."""
    key = new_key()
    ended: list[str] = []
    async with RedisClient(redis_url, timeout=30) as client, anyio.create_task_group() as tg:
        push = await RedisPushChannel[int](client, key + "push").__aenter__()
        poll = await RedisPollChannel[int](client, key + "poll").__aenter__()
        long = await RedisLongPollChannel[int](client, key + "long").__aenter__()
        await long.publish(1)
        readers = {
            "push": push.subscribe(),
            "poll": poll.subscribe(poll_interval=60),
            "long": long.subscribe(max_wait=60),
        }
        for name, subscriber in readers.items():
            tg.start_soon(_read_until_closed, subscriber, ended, name)
        batches = []

        async def long_poll() -> None:
            batches.append(await long.poll(long.head, max_wait=None))

        tg.start_soon(long_poll)
        await settled(lambda: long.statistics().waiting_polls == 2)
        with anyio.fail_after(5):
            await client.aclose()
            await settled(lambda: len(ended) == 3 and len(batches) == 1)
        assert sorted(ended) == ["long", "poll", "push"]
        assert (batches[0].messages, batches[0].closed) == ((), True)
        assert [push.closed, poll.closed, long.closed] == [True, True, True]
        with pytest.raises(ChannelClosed):
            await long.publish(2)


async def test_readers_pausing_before_a_retry_end_when_their_channel_closes() -> None:
    """Redis is gone and the poll and long-poll readers wait a minute before asking again: the
    channel's close ends them at once."""
    ended: list[str] = []
    with restartable_redis(persistent=False) as server:
        async with RedisClient(server.url, timeout=1, reconnect=SLOW) as client:
            async with anyio.create_task_group() as tg:
                poll = await RedisPollChannel[int](client, "poll").__aenter__()
                long = await RedisLongPollChannel[int](client, "long").__aenter__()
                tg.start_soon(_read_until_closed, poll.subscribe(poll_interval=0.01), ended, "p")
                tg.start_soon(_read_until_closed, long.subscribe(max_wait=0.01), ended, "l")
                server.kill()
                await anyio.sleep(0.5)  # their next reads fail at once: they pause
                with anyio.fail_after(5):
                    await poll.aclose()
                    await long.aclose()
                    await settled(lambda: len(ended) == 2)
    assert sorted(ended) == ["l", "p"]


async def _open_and_note(channel: Any, began: anyio.Event, outcomes: list[bool]) -> None:
    began.set()  # the opening runs on until its first wait: then it is under way
    async with channel:
        outcomes.append(channel.closed)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_channel_closed_while_it_opens_leaves_no_subscription(
    redis_url: str, kind: Any
) -> None:
    """``aclose()`` from another task at each point of the opening of a channel with a long
    stream: the opening ends with the handle closed or open, and nothing stays subscribed."""
    key = new_key()
    async with RedisClient(redis_url) as client:
        async with RedisPollChannel[int](client, key) as writer:
            for start in range(0, 3000, 1000):
                await writer.publish_many(range(start, start + 1000))
        for steps in range(0, 60, 3):
            outcomes: list[bool] = []
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    channel, began = kind(client, key), anyio.Event()
                    tg.start_soon(_open_and_note, channel, began, outcomes)
                    await began.wait()
                    for _ in range(steps):
                        await anyio.lowlevel.checkpoint()
                    await channel.aclose()
            assert len(outcomes) == 1, steps
            with anyio.fail_after(10):
                while (await client.execute("PUBSUB", "NUMSUB", key))[1] != 0:  # noqa: ASYNC110
                    await anyio.sleep(0.01)


@pytest.mark.parametrize("link_up", [False, True])
async def test_a_refused_subscription_fails_the_opening_at_once(
    redis_url: str, link_up: bool
) -> None:
    """A user not allowed the channel's Pub/Sub channel: opening raises RedisError (NOPERM) at
    once, whether or not the client's Pub/Sub link is up yet."""
    user = f"u{uuid.uuid4().hex}"
    async with RedisClient(redis_url) as admin:
        await admin.execute("ACL", "SETUSER", user, "on", ">secret", "~*", "&allowed", "+@all")
        url = redis_url.replace("unix://", f"unix://{user}:secret@")
        try:
            async with RedisClient(url, timeout=30) as client:
                if link_up:
                    async with RedisPushChannel[int](client, "allowed"):
                        pass
                for kind in KINDS:
                    with anyio.fail_after(5), pytest.raises(RedisError, match="NOPERM"):
                        async with kind(client, new_key()):
                            pass
                assert await admin.execute("PUBSUB", "NUMSUB", "allowed") == [b"allowed", 0]
        finally:
            await admin.execute("ACL", "DELUSER", user)


async def test_a_publish_the_user_may_not_announce_writes_nothing(redis_url: str) -> None:
    """Redis lets the user write the stream but not publish the notification: the publish raises
    RedisError and takes no offset, so that it can be made again without a duplicate."""
    user, key = f"u{uuid.uuid4().hex}", new_key()
    async with RedisClient(redis_url) as admin:
        await admin.execute("ACL", "SETUSER", user, "on", ">secret", "~*", f"&{key}", "+@all")
        url = redis_url.replace("unix://", f"unix://{user}:secret@")
        try:
            async with RedisLongPollChannel[str](url, key) as channel:
                await channel.publish("first")
                await admin.execute("ACL", "SETUSER", user, "resetchannels")
                with pytest.raises(RedisError, match="NOPERM"):
                    await channel.publish("refused")
                assert await admin.execute("XLEN", key) == 1
                await admin.execute("ACL", "SETUSER", user, f"&{key}")
                message = await channel.publish("again")
            assert message.offset == 1
        finally:
            await admin.execute("ACL", "DELUSER", user)


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_a_channel_on_a_frozen_redis_is_quick(kind: Any) -> None:
    """Redis stopped (SIGSTOP): closing a channel does not wait for it (the client's timeout is
    30 s), and its readers end."""
    with restartable_redis(persistent=False) as server:
        async with RedisClient(server.url, timeout=30) as client:
            channel = await kind(client, "frozen").__aenter__()
            server.pause()
            try:
                began = anyio.current_time()  # a shielded wait would not be cut by fail_after
                await channel.aclose()
                took = anyio.current_time() - began
            finally:
                server.resume()
            assert channel.closed
            assert took < 5


def _subscribe_from_start(channel: Any) -> Any:
    if isinstance(channel, RedisPushChannel):
        return channel.subscribe()
    if isinstance(channel, RedisLongPollChannel):
        return channel.subscribe(EARLIEST, max_wait=0.05)
    return channel.subscribe(EARLIEST, poll_interval=0.01)


async def _receive_all(subscriber: Any, got: list[int]) -> None:
    try:
        while True:
            got.append((await subscriber.receive()).payload)
    except ChannelClosed:
        pass


async def _publish(channel: Any, payload: int, published: list[int]) -> None:
    with contextlib.suppress(ChannelClosed):
        published.append((await channel.publish(payload)).payload)


@pytest.mark.parametrize("kind", KINDS)
async def test_publishes_on_their_way_reach_the_readers_before_they_end(
    redis_url: str, kind: Any
) -> None:
    """The channel closes while publishes made before are still in their round trip: every
    publish that returned its message was received by this process's reader before it ended,
    and the later ones were refused."""
    for steps in range(0, 12, 2):
        got: list[int] = []
        published: list[int] = []
        with anyio.fail_after(10):
            async with RedisClient(redis_url) as client, anyio.create_task_group() as tg:
                channel = await kind(client, new_key()).__aenter__()
                tg.start_soon(_receive_all, _subscribe_from_start(channel), got)
                for payload in range(20):
                    tg.start_soon(_publish, channel, payload, published)
                for _ in range(steps):
                    await anyio.lowlevel.checkpoint()
                await channel.aclose()
                with pytest.raises(ChannelClosed):
                    await channel.publish(-1)
        assert sorted(got) == sorted(published), steps

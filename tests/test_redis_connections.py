"""Long polls waiting on a Redis channel hold no Redis connection of their own: a process holds
two (commands and Pub/Sub) whatever the number of polls and channels, counted by Redis itself
(``CLIENT LIST``, through another client whose own connection is left out)."""

from __future__ import annotations

import anyio
import anyio.lowlevel

from deliverymodes import LATEST, Batch, Message, Reconnect
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .redis_server import private_redis, require_redis_server, restartable_redis
from .remote_helpers import wait_until

require_redis_server()

POLLS = 1000


async def _connections(counter: RedisClient) -> int:
    """The connections Redis has from clients other than ``counter``."""
    own = await counter.execute("CLIENT", "ID")
    listed: bytes = await counter.execute("CLIENT", "LIST")
    ids = [
        int(field.removeprefix(b"id="))
        for line in listed.splitlines()
        for field in line.split()
        if field.startswith(b"id=")
    ]
    assert own in ids
    return len(ids) - 1


async def _wait_all(
    channel: RedisLongPollChannel[object], results: list[Batch[object]], tg: anyio.abc.TaskGroup
) -> None:
    """Start ``POLLS`` long polls on ``channel`` (half from LATEST, half from the head, with and
    without a max_wait), and return once they are all waiting."""
    head = channel.head

    async def poll(number: int) -> None:
        cursor = LATEST if number % 2 else head
        max_wait = None if number % 4 < 2 else 3600.0
        results.append(await channel.poll(cursor, max_wait=max_wait, min_messages=1))

    waiting = channel.statistics().waiting_polls
    for number in range(POLLS):
        tg.start_soon(poll, number)
    await wait_until(lambda: channel.statistics().waiting_polls == waiting + POLLS)


def _check_released(results: list[Batch[object]], message: Message[object]) -> None:
    assert len(results) == POLLS
    for batch in results:
        assert [(m.offset, m.payload) for m in batch.messages] == [
            (message.offset, message.payload)
        ]
        assert batch.cursor == message.offset + 1
        assert (batch.missed, batch.missed_unknown) == (0, False)


async def test_a_thousand_long_polls_wait_on_two_connections(anyio_backend: str) -> None:
    with private_redis() as url, anyio.fail_after(60):
        async with (
            RedisClient(url) as counter,
            RedisLongPollChannel[object](url, "waits") as channel,
        ):
            await channel.publish("before")
            results: list[Batch[object]] = []
            async with anyio.create_task_group() as tg:
                await _wait_all(channel, results, tg)
                assert results == []
                assert await _connections(counter) == 2
                assert channel.client.connections == 2
                message = await channel.publish({"wake": "up"})
            _check_released(results, message)
            assert message.offset == 1
            assert await _connections(counter) == 2


async def test_three_channels_on_one_client_hold_two_connections(anyio_backend: str) -> None:
    with private_redis() as url, anyio.fail_after(60):
        async with (
            RedisClient(url) as counter,
            RedisClient(url) as client,
            RedisLongPollChannel[object](client, "long") as long,
            RedisPollChannel[object](client, "poll") as poll,
            RedisPushChannel[object](client, "push") as push,
        ):
            results: list[Batch[object]] = []
            pushed: list[Message[object]] = []
            polled: list[Message[object]] = []
            async with anyio.create_task_group() as tg:
                await _wait_all(long, results, tg)
                subscribers = [push.subscribe() for _ in range(10)]

                async def receive(number: int) -> None:
                    async with subscribers[number] as subscriber:
                        pushed.append(await subscriber.receive())

                async def poll_once() -> None:
                    async with poll.subscribe(0, poll_interval=0.01) as subscriber:
                        polled.append(await subscriber.__anext__())

                for number in range(len(subscribers)):
                    tg.start_soon(receive, number)
                tg.start_soon(poll_once)
                await wait_until(lambda: push.statistics().subscribers == len(subscribers))
                assert await _connections(counter) == 2
                assert client.connections == 2
                message = await long.publish("long")
                pushed_message = await push.publish("push")
                polled_message = await poll.publish("poll")
            _check_released(results, message)
            assert [(m.offset, m.payload) for m in pushed] == [(0, "push")] * len(subscribers)
            assert pushed_message.offset == 0
            assert [(m.offset, m.payload) for m in polled] == [(polled_message.offset, "poll")]
            assert await _connections(counter) == 2


async def test_the_waiting_polls_outlive_a_redis_restart_on_two_connections(
    anyio_backend: str,
) -> None:
    """Redis killed and started again (with its data) under the thousand waiting polls: the
    client reconnects with two connections again, not one per poll, and one publish still
    releases them all."""
    fast = Reconnect(initial_delay=0.05, max_delay=0.2)
    with restartable_redis(persistent=True) as server, anyio.fail_after(60):
        async with (
            RedisClient(server.url, timeout=1, reconnect=fast) as client,
            RedisLongPollChannel[object](client, "waits") as channel,
        ):
            await channel.publish("before")
            results: list[Batch[object]] = []
            async with anyio.create_task_group() as tg:
                await _wait_all(channel, results, tg)
                server.kill()
                # The Pub/Sub link notices at once; the command connection when next used.
                await wait_until(lambda: client.connections <= 1)
                server.start()
                # Pub/Sub is back, and the catch-up read after it opened the command connection
                await wait_until(lambda: client.connections == 2)
                assert channel.statistics().waiting_polls == POLLS
                async with RedisClient(server.url) as counter:
                    message = await channel.publish({"wake": "up"})
                    assert await _connections(counter) == 2
            _check_released(results, message)
            assert message.offset == 1


def _calls(stats: bytes, command: str) -> int:
    """The calls of ``command`` in ``INFO commandstats``."""
    for line in stats.decode().splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_plain_polls_made_together_share_their_reads(anyio_backend: str) -> None:
    """A plain poll reads Redis before it answers; polls waiting for the same read share the
    next one, which began after they asked: each sees what was published before it, and the
    process does not read Redis once per poll."""
    polls = 300
    with private_redis() as url, anyio.fail_after(60):
        async with RedisClient(url) as client, RedisClient(url) as other:
            for round_ in range(3):
                key = f"shared-{round_}"
                async with (
                    RedisPollChannel[int](client, key) as channel,
                    RedisPollChannel[int](other, key) as writer,
                ):
                    await client.execute("CONFIG", "RESETSTAT")
                    results: dict[int, list[int]] = {}

                    async def poll(
                        number: int,
                        channel: RedisPollChannel[int] = channel,
                        writer: RedisPollChannel[int] = writer,
                        results: dict[int, list[int]] = results,
                    ) -> None:
                        for _ in range(number % 37):  # publishes and polls interleave with reads
                            await anyio.lowlevel.checkpoint()
                        await writer.publish(number)  # from another process: this view lags
                        batch = await channel.poll(0, max_messages=None)
                        results[number] = [m.payload for m in batch.messages]

                    async with anyio.create_task_group() as tg:
                        for number in range(polls):
                            tg.start_soon(poll, number)
                    reads = _calls(await client.execute("INFO", "commandstats"), "multi")
                assert len(results) == polls
                for number, payloads in results.items():
                    assert number in payloads  # its own publish, made before it polled
                assert reads < polls // 3  # shared: far fewer reads than polls

"""Redis killed (SIGKILL) and started again under waiting readers of every model, in one process.

With persistence (append-only file, fsync always) nothing is lost: every reader goes on where it
was, each message once and in order. Without it Redis comes back empty: the channel begins a new
life (a new epoch), which readers report (``missed_unknown``) rather than reading the offsets of
the old life again. While Redis is down (or frozen), a publish or a poll fails with
``ConnectionLost`` within the client's timeout. ``FLUSHALL`` is a new life too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest

from deliverymodes import Batch, ConnectionLost, Message, Reconnect
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .redis_server import (
    RestartableRedis,
    private_redis,
    require_redis_server,
    restartable_redis,
)
from .remote_helpers import wait_until

require_redis_server()

END = {"end": True}
FAST = Reconnect(initial_delay=0.05, max_delay=0.2)

Received = list[tuple[int, object]]
READERS = ("push", "poll", "long", "long polls")
AnyChannel = RedisPushChannel[object] | RedisPollChannel[object] | RedisLongPollChannel[object]


class Channels:
    """One client, a channel of each model on it, and a reader of each waiting on them: a push
    subscriber, a poll subscriber, a long-poll subscriber and a task making long polls by hand,
    each reading until ``END``."""

    def __init__(self, client: RedisClient, readers: tuple[str, ...]) -> None:
        self.client = client
        self.push = RedisPushChannel[object](client, "push")
        self.poll = RedisPollChannel[object](client, "poll")
        self.long = RedisLongPollChannel[object](client, "long")
        self.received: dict[str, Received] = {name: [] for name in readers}
        self.batches: list[Batch[object]] = []  # the hand-made long polls' answers
        self.subscribers: dict[str, Any] = {}
        self.published: dict[str, Received] = {"push": [], "poll": [], "long": []}

    async def publish(self, *payloads: object) -> None:
        """Publish each payload to each channel, and note what was published."""
        for payload in payloads:
            for name, channel in self._channels():
                message = await channel.publish(payload)
                self.published[name].append((message.offset, payload))

    def _channels(self) -> list[tuple[str, AnyChannel]]:
        return [("push", self.push), ("poll", self.poll), ("long", self.long)]

    def expected(self, reader: str) -> Received:
        return self.published["long" if reader == "long polls" else reader]

    async def until_delivered(self) -> None:
        """Return once every reader has what was published so far, and the long polls wait
        again."""
        polls = sum(name in self.received for name in ("long", "long polls"))
        await wait_until(
            lambda: (
                all(len(got) == len(self.expected(r)) for r, got in self.received.items())
                and self.long.statistics().waiting_polls == polls
            )
        )

    async def until_end(self) -> None:
        """Return once every reader has read ``END``."""
        await wait_until(lambda: all(got and got[-1][1] == END for got in self.received.values()))

    async def read(self, stack: AsyncExitStack, tg: anyio.abc.TaskGroup) -> None:
        subscribers: dict[str, Callable[[], Any]] = {
            "push": self.push.subscribe,
            "poll": lambda: self.poll.subscribe(0, poll_interval=0.02),
            "long": lambda: self.long.subscribe(0, max_wait=30),
        }
        for name, subscribe in subscribers.items():
            if name in self.received:
                subscriber = await stack.enter_async_context(subscribe())
                self.subscribers[name] = subscriber
                tg.start_soon(self._read, subscriber, self.received[name])
        if "long polls" in self.received:
            tg.start_soon(self._long_polls)
        polls = sum(name in self.received for name in ("long", "long polls"))
        await wait_until(lambda: self.long.statistics().waiting_polls == polls)

    async def _read(self, subscriber: AsyncIterator[Message[object]], into: Received) -> None:
        async for message in subscriber:
            into.append((message.offset, message.payload))
            if message.payload == END:
                return

    async def _long_polls(self) -> None:
        cursor, epoch = 0, None
        into = self.received["long polls"]
        while True:
            try:
                batch = await self.long.poll(cursor, epoch=epoch, min_messages=1, max_wait=None)
            except ConnectionLost:
                await anyio.sleep(0.05)  # Redis is down: ask again
                continue
            self.batches.append(batch)
            cursor, epoch = batch.cursor, batch.epoch
            for message in batch.messages:
                into.append((message.offset, message.payload))
                if message.payload == END:
                    return

    def missed(self) -> dict[str, tuple[int, int]]:
        """(missed, missed_unknown) of each reader."""
        counts = {
            name: (subscriber.statistics().missed, subscriber.statistics().missed_unknown)
            for name, subscriber in self.subscribers.items()
        }
        if "long polls" in self.received:
            counts["long polls"] = (
                sum(b.missed for b in self.batches),
                sum(b.missed_unknown for b in self.batches),
            )
        return counts


@asynccontextmanager
async def reading(url: str, readers: tuple[str, ...] = READERS) -> AsyncIterator[Channels]:
    """Channels on one client (timeout 1 s) with their readers waiting. An error the event
    loop reports meanwhile (asyncio) fails the test."""
    async with (
        RedisClient(url, timeout=1, reconnect=FAST) as client,
        AsyncExitStack() as stack,
        anyio.create_task_group() as tg,
    ):
        channels = Channels(client, readers)
        for channel in (channels.push, channels.poll, channels.long):
            await stack.enter_async_context(channel)
        await channels.read(stack, tg)
        yield channels


async def _all_fail_fast(channels: Channels) -> None:
    """While Redis is down or frozen, publishing and polling raise ConnectionLost in time."""
    for channel in (channels.push, channels.poll, channels.long):
        with anyio.fail_after(10), pytest.raises(ConnectionLost):
            await channel.publish("lost")
    with anyio.fail_after(10), pytest.raises(ConnectionLost):
        await channels.poll.poll(0)


async def test_with_persistence_every_reader_goes_on_where_it_was(anyio_backend: str) -> None:
    with restartable_redis(persistent=True) as server, anyio.fail_after(60):
        async with reading(server.url) as channels:
            await channels.publish(*range(3))
            await channels.until_delivered()  # the readers wait for more
            await channels.publish(*range(3, 6))  # maybe not delivered when Redis dies
            server.kill()
            await _all_fail_fast(channels)
            await wait_until(lambda: channels.client.connections == 0)
            with anyio.fail_after(10), pytest.raises(ConnectionLost):
                await channels.long.poll(0, max_wait=0)
            server.start()
            await channels.publish(*range(6, 9), END)
            await channels.until_end()
            for log in (channels.poll, channels.long):
                assert log.statistics().retained_messages == 10
        for name, got in channels.received.items():
            assert got == channels.expected(name), name
            assert [offset for offset, _ in got] == list(range(10)), name
        assert channels.missed() == dict.fromkeys(channels.missed(), (0, 0))


async def test_without_persistence_readers_report_the_new_life(anyio_backend: str) -> None:
    with restartable_redis(persistent=False) as server, anyio.fail_after(60):
        async with reading(server.url, ("push", "long", "long polls")) as channels:
            await channels.publish(*range(5))
            await channels.until_delivered()
            epoch, poll_epoch = channels.long.epoch, channels.poll.epoch
            server.kill()
            await _all_fail_fast(channels)
            server.start()
            await channels.publish("new", END)
            await channels.until_end()
            assert channels.long.epoch != epoch
            assert channels.long.statistics().retained_messages == 2  # this life's only
            batch = await channels.poll.poll(5, epoch=poll_epoch)  # a cursor of the old life
        assert [(m.offset, m.payload) for m in batch.messages] == [(0, "new"), (1, END)]
        assert (batch.missed_unknown, batch.cursor) == (True, 2)
        assert batch.epoch not in (0, poll_epoch)
        old = [(offset, offset) for offset in range(5)]
        for name, got in channels.received.items():
            assert got == [*old, (0, "new"), (1, END)], name
        assert channels.missed() == dict.fromkeys(channels.missed(), (0, 1))
        lost = [b for b in channels.batches if b.missed_unknown]
        assert len(lost) == 1
        assert lost[0].epoch != epoch


async def test_a_frozen_redis_fails_commands_within_the_timeout(anyio_backend: str) -> None:
    with restartable_redis(persistent=False) as server, anyio.fail_after(60):
        async with reading(server.url) as channels:
            await channels.publish(0)
            await channels.until_delivered()
            server.pause()
            try:
                await _all_fail_fast(channels)
            finally:
                server.resume()
            with anyio.fail_after(10):
                while True:  # a publish that timed out may still be run once Redis wakes
                    try:
                        await channels.publish(END)
                        break
                    except ConnectionLost:
                        await anyio.sleep(0.05)
            await channels.until_end()
        for name, got in channels.received.items():
            assert got[0] == (0, 0), name
            assert got[-1][1] == END, name
            offsets = [offset for offset, _ in got]
            assert offsets == list(range(len(got))), name
            assert {payload for _, payload in got[1:-1]} <= {"lost"}, name


async def test_flushall_begins_a_new_life(anyio_backend: str) -> None:
    with private_redis() as url, anyio.fail_after(60):
        readers = ("push", "long", "long polls")
        async with reading(url, readers) as channels, RedisClient(url) as admin:
            await channels.publish(*range(5))
            await channels.until_delivered()
            epochs = channels.push.epoch, channels.long.epoch
            assert await admin.execute("FLUSHALL") == b"OK"
            await channels.publish("new", END)
            await channels.until_end()
            assert channels.push.epoch not in epochs
            assert channels.long.epoch not in epochs
        old = [(offset, offset) for offset in range(5)]
        for name, got in channels.received.items():
            assert got == [*old, (0, "new"), (1, END)], name
        assert channels.missed() == dict.fromkeys(channels.missed(), (0, 1))


def test_the_server_restarts_on_its_socket() -> None:
    with restartable_redis(persistent=True) as server:
        assert isinstance(server, RestartableRedis)
        server.kill()
        server.start()
        assert server.path.exists()


async def test_channels_on_a_url_of_their_own_fail_within_their_timeout(
    anyio_backend: str,
) -> None:
    with restartable_redis(persistent=False) as server, anyio.fail_after(60):
        async with (
            RedisPushChannel[object](server.url, "push", timeout=1) as push,
            RedisPollChannel[object](server.url, "poll", timeout=1) as poll,
            RedisLongPollChannel[object](server.url, "long", timeout=1) as long,
        ):
            for channel in (push, poll, long):
                assert channel.client.timeout == 1
                assert (await channel.publish("before")).offset == 0
            server.pause()
            try:
                for channel in (push, poll, long):
                    with anyio.fail_after(10), pytest.raises(ConnectionLost):
                        await channel.publish("lost")
                with anyio.fail_after(10), pytest.raises(ConnectionLost):
                    await poll.poll(0)
            finally:
                server.resume()
            batch = await poll.poll(0)  # the publish that timed out may have been run since
            assert batch.messages[0].payload == "before"
            assert {m.payload for m in batch.messages[1:]} <= {"lost"}
            assert (await poll.publish("after")).offset == len(batch.messages)

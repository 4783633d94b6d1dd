"""Faults once found in the Redis channels, kept as tests so that they stay fixed.

- A poll or long-poll subscriber polled without the epoch of its cursor: after Redis lost its data
  (a new life) it read the new life's offsets from its old cursor and reported no loss.
- On asyncio, a Redis connection over a Unix socket closed by a failed send just as the socket
  became readable (Redis died) made asyncio report an InvalidStateError.
- On asyncio, closing a client whose Pub/Sub connection (a Unix socket) was receiving at that
  moment made anyio report an InvalidStateError to the loop: its reader waited on the socket
  while another task closed it. The socket is now shut down, and the reader closes it.
- On asyncio, a channel that could not be read (an epoch that is not one) closed the Pub/Sub
  connection it had opened meanwhile just as notifications arrived on it, and anyio reported an
  InvalidStateError to the loop.
- A channel whose opening was cancelled after it had subscribed stayed among the client's
  listeners (tests/test_redis_faults.py cancels openings at random).
- Closing a RedisClient while its Pub/Sub keeper resumed the channels (caught up after Redis came
  back) raised ``RuntimeError: this Redis client is closed`` out of ``aclose``.
- On asyncio, a command over a Unix socket cancelled just as its reply arrived made anyio's
  stream report an InvalidStateError to the loop. Unix sockets on asyncio are now read after
  ``anyio.wait_readable``.
"""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest

from deliverymodes import ConnectionLost, Reconnect
from deliverymodes.redis import (
    RedisClient,
    RedisError,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .redis_server import (
    RestartableRedis,
    loop_errors,
    private_redis,
    require_redis_server,
    restartable_redis,
)
from .remote_helpers import wait_until

require_redis_server()

FAST = Reconnect(initial_delay=0.05, max_delay=0.2)


async def test_a_subscriber_of_an_old_life_reports_the_new_one(anyio_backend: str) -> None:
    with private_redis() as url, anyio.fail_after(30):
        async with (
            RedisClient(url, timeout=1) as client,
            RedisPollChannel[object](client, "poll") as poll,
            RedisLongPollChannel[object](client, "long") as long,
            poll.subscribe(0) as polling,
            long.subscribe(0, max_wait=0) as long_polling,
        ):
            for channel in (poll, long):
                for number in range(5):
                    await channel.publish(number)
            for subscriber in (polling, long_polling):
                assert len((await subscriber.poll()).messages) == 5
            epoch = long.epoch
            assert await client.execute("FLUSHALL") == b"OK"
            for channel in (poll, long):
                for number in range(8):
                    await channel.publish(("new", number))
            await wait_until(lambda: long.epoch != epoch and long.head == 8)
            batches = [await polling.poll(), await long_polling.poll()]
        for batch in batches:
            assert batch.missed_unknown
            assert [m.offset for m in batch.messages] == list(range(8))
        assert polling.statistics().missed_unknown == 1
        assert long_polling.statistics().missed_unknown == 1


async def test_no_event_loop_error_when_redis_dies() -> None:
    with restartable_redis(persistent=False) as server, anyio.fail_after(30):
        async with RedisClient(server.url, timeout=1, reconnect=FAST) as client:
            with loop_errors() as errors:
                for _ in range(3):
                    assert await client.execute("PING") == b"PONG"
                    for _ in range(10):  # the connection's reader waits on the socket again
                        await anyio.lowlevel.checkpoint()
                    server.kill()  # then, in one turn of the loop: the send fails, EOF comes
                    with pytest.raises(ConnectionLost):
                        await client.execute("PING")
                    for _ in range(10):
                        await anyio.lowlevel.checkpoint()
                    server.start()
    assert errors == []


class _Quiet:
    """A listener that takes notifications and does nothing with them."""

    async def notified(self, data: bytes) -> None:
        pass

    async def resumed(self) -> None:
        pass

    def interrupted(self) -> None:
        pass


async def test_no_event_loop_error_when_a_client_closes_while_notifications_arrive() -> None:
    with private_redis() as url, anyio.fail_after(60):
        async with RedisClient(url) as flooder, anyio.create_task_group() as tg:
            done = anyio.Event()

            async def flood() -> None:  # until done: cancelling it could trip the same bug
                while not done.is_set():
                    await flooder.execute("PUBLISH", "flood", "x" * 50)

            tg.start_soon(flood)
            rng = random.Random(5)
            with loop_errors() as errors:
                for _ in range(200):
                    async with RedisClient(url) as client:
                        await client.listen(b"flood", _Quiet())
                        await client.execute("PING")
                        for _ in range(rng.randint(0, 5)):
                            await anyio.lowlevel.checkpoint()
                        await client.aclose()  # while its Pub/Sub reader waits on the socket
            done.set()
    assert errors == []


async def test_no_event_loop_error_when_a_channel_that_cannot_be_read_fails_to_open() -> None:
    """A channel reads the stream while it subscribes; when the read fails, the Pub/Sub
    connection it opened for itself closes while notifications flood in."""
    key = "unreadable"
    with private_redis() as url, anyio.fail_after(60):
        async with RedisClient(url) as flooder, anyio.create_task_group() as tg:
            await flooder.execute("HSET", key + ":meta", "epoch", "xyz", "head", 0)
            done = anyio.Event()

            async def flood() -> None:
                while not done.is_set():
                    await flooder.execute("PUBLISH", key, "x" * 50)

            tg.start_soon(flood)
            with loop_errors() as errors:
                for _ in range(100):
                    with pytest.raises(RedisError, match="epoch that is not one"):
                        async with RedisLongPollChannel[str](url, key):
                            pass
            done.set()
    assert errors == []


class _Freezer:
    """A listener of the client, first in its list: on the resumption it is armed for (after a
    reconnection), it freezes Redis, so that the channels' followers then catch up from a frozen
    server and are still at it when the client closes."""

    def __init__(self, server: RestartableRedis) -> None:
        self.server = server
        self.armed = False
        self.frozen = anyio.Event()

    async def notified(self, data: bytes) -> None:
        pass

    async def resumed(self) -> None:
        if self.armed:
            self.armed = False
            self.server.pause()
            self.frozen.set()

    def interrupted(self) -> None:
        pass


ATTEMPTS = 12  # the race is always lost on asyncio; on trio, about every other time


async def _close_while_resuming() -> Exception | None:
    """Kill Redis under a client with two channels, start it again, and close the client while
    its channels catch up; what ``aclose()`` raised."""
    with restartable_redis(persistent=False) as server, anyio.fail_after(30):
        client = RedisClient(server.url, timeout=5, reconnect=FAST)
        await client.__aenter__()
        try:
            freezer = _Freezer(server)
            await client.listen(b"freezer", freezer)
            await RedisPushChannel[object](client, "push").__aenter__()
            await RedisLongPollChannel[object](client, "long").__aenter__()
            freezer.armed = True
            server.kill()
            # The Pub/Sub link notices at once; the command connection when it is next used.
            await wait_until(lambda: client.connections <= 1)
            server.start()
            await freezer.frozen.wait()
            # The push channel's follower has sent its catch-up read: now close.
            await wait_until(lambda: client.connections == 2)
            try:
                await client.aclose()
            except Exception as error:
                return error
            return None
        finally:
            server.resume()
            await client.__aexit__(None, None, None)


async def test_closing_a_client_while_it_resumes_its_channels(anyio_backend: str) -> None:
    for _ in range(ATTEMPTS):
        error = await _close_while_resuming()
        assert error is None, repr(error)


async def test_no_event_loop_error_when_commands_are_cancelled_as_replies_arrive() -> None:
    """Commands cancelled at random moments of their round trip, the task reading replies among
    them: each reply still reaches its command or is thrown away, and the loop reports
    nothing."""
    rng = random.Random(11)
    with private_redis() as url, anyio.fail_after(60):
        async with RedisClient(url) as client:
            with loop_errors() as errors:
                for _ in range(400):
                    async with anyio.create_task_group() as tg:
                        for _ in range(3):
                            tg.start_soon(client.execute, "PING")
                        with anyio.move_on_after(rng.random() * 0.0003):
                            await client.execute("PING")
                        tg.cancel_scope.cancel()
                assert await client.execute("ECHO", "still in step") == b"still in step"
    assert errors == []

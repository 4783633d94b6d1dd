"""A RedisClient leaves no connection behind: not one it was opening as it closed, nor a Pub/Sub
connection on which Redis refused a subscription. Either would keep its ``async with`` from
ending. Connections are counted by Redis itself (``CLIENT LIST``).

Closing a client under a channel's opening cancels reads of its Unix socket just as the end of
the stream arrives: on asyncio, anyio's own Unix socket stream then made the loop report an
``InvalidStateError``, which fails these tests (the anyio pytest plugin raises what the loop
reports)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from deliverymodes import ConnectionLost, Reconnect
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

from .redis_helpers import settled
from .redis_server import private_redis, require_redis_server

require_redis_server()

FAST = Reconnect(initial_delay=0.02, max_delay=0.05)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


class Counting:
    """A listener that counts its resumptions."""

    def __init__(self) -> None:
        self.resumed_count = 0

    async def notified(self, data: bytes) -> None:
        pass

    async def resumed(self) -> None:
        self.resumed_count += 1

    def interrupted(self) -> None:
        pass


async def _connections(admin: RedisClient, user: str = "default") -> int:
    """The connections Redis has from ``user``, ``admin``'s own left out."""
    own = await admin.execute("CLIENT", "ID")
    listed: bytes = await admin.execute("CLIENT", "LIST", "TYPE", "normal")
    listed += await admin.execute("CLIENT", "LIST", "TYPE", "pubsub")
    lines = [line.split() for line in listed.splitlines()]
    return sum(
        f"user={user}".encode() in fields and f"id={own}".encode() not in fields for fields in lines
    )


async def settled_connections(admin: RedisClient, expected: int, user: str = "default") -> None:
    """Wait (at most 10 s) until Redis has ``expected`` connections from ``user``."""
    with anyio.fail_after(10):
        while await _connections(admin, user) != expected:  # noqa: ASYNC110 - Redis's count
            await anyio.sleep(0.01)


async def _command(client: RedisClient, outcomes: list[str]) -> None:
    try:
        reply = await client.execute("PING", shield=True)
        outcomes.append(reply.decode())
    except ConnectionLost:
        outcomes.append("lost")


async def _subscribe(client: RedisClient, outcomes: list[str]) -> None:
    try:
        await client.listen(b"news", Counting())
        outcomes.append("subscribed")
    except ConnectionLost:
        outcomes.append("lost")


async def _close_after(
    redis_url: str,
    steps: int,
    outcomes: list[str],
    *starts: Callable[[RedisClient, list[str]], Coroutine[Any, Any, None]],
) -> None:
    """A client (timeout 30 s) on which each of ``starts`` is begun in a task of its own, closed
    after ``steps`` checkpoints; the block must end within 10 s, so nothing may wait for the
    timeout."""
    with anyio.fail_after(10):
        async with RedisClient(redis_url, timeout=30) as client, anyio.create_task_group() as tg:
            for start in starts:
                tg.start_soon(start, client, outcomes)
            for _ in range(steps):
                await anyio.lowlevel.checkpoint()
            await client.aclose()


async def test_closing_while_connecting_leaves_no_connection_open(redis_url: str) -> None:
    """Closed at each point of a shielded command's connecting and a subscription's: the
    command and the subscription fail or finish, the subscription without waiting for its
    timeout, and nothing stays open."""
    async with RedisClient(redis_url) as admin:
        for steps in range(40):
            outcomes: list[str] = []
            await _close_after(redis_url, steps, outcomes, _command, _subscribe)
            assert sorted(outcomes) in (
                ["PONG", "lost"],
                ["PONG", "subscribed"],
                ["lost", "lost"],
                ["lost", "subscribed"],
            ), steps
            await settled_connections(admin, 0)


async def _open_channel(
    kind: type[RedisPushChannel[int] | RedisPollChannel[int] | RedisLongPollChannel[int]],
    client: RedisClient,
    outcomes: list[str],
) -> None:
    try:
        async with kind(client, "closing"):
            outcomes.append("opened")
    except ConnectionLost:
        outcomes.append("lost")


@pytest.mark.parametrize("kind", [RedisPushChannel, RedisPollChannel, RedisLongPollChannel])
async def test_a_channel_opening_as_its_client_closes_opens_or_fails_at_once(
    redis_url: str, kind: type[RedisPushChannel[int]]
) -> None:
    """Closed at each point of a channel's opening (reading the stream and subscribing, which
    resumes it): the opening ends at once, opened or with ConnectionLost, and nothing stays
    open."""
    async with RedisClient(redis_url) as admin:
        for steps in range(60):
            outcomes: list[str] = []
            await _close_after(redis_url, steps, outcomes, partial(_open_channel, kind))
            assert outcomes in (["opened"], ["lost"]), steps
            await settled_connections(admin, 0)


async def test_a_refused_subscription_is_not_left_open(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A user whose channel permission is taken away: Redis drops its Pub/Sub connection and
    refuses the subscription on each new one. Each refused connection is closed before the next
    is opened, and once the permission is back the link resumes."""
    caplog.set_level(logging.INFO, logger="deliverymodes")
    user = f"u{uuid.uuid4().hex}"
    async with RedisClient(redis_url) as admin:
        await admin.execute("ACL", "SETUSER", user, "on", ">secret", "~*", "&news", "+@all")
        url = redis_url.replace("unix://", f"unix://{user}:secret@")
        try:
            listener = Counting()
            with anyio.fail_after(30):
                async with RedisClient(url, reconnect=FAST) as client:
                    await client.listen(b"news", listener)
                    resumed = listener.resumed_count
                    await admin.execute("ACL", "SETUSER", user, "resetchannels")

                    def refusals() -> int:
                        return sum("NOPERM" in r.getMessage() for r in caplog.records)

                    await settled(lambda: refusals() >= 10)
                    assert await _connections(admin, user) <= 1
                    await admin.execute("ACL", "SETUSER", user, "&news")
                    await settled(lambda: listener.resumed_count > resumed)
                    assert await _connections(admin, user) == 1
            await settled_connections(admin, 0, user)
        finally:
            await admin.execute("ACL", "DELUSER", user)

"""A channel that opens on a long stream reads it in chunks, asking for the next chunk while the
one before decodes: every retained message arrives once, in order, and nothing is lost silently.

A hole in the stream (entries deleted by something else, or that do not decode) is a gap this
process's view cannot hold: the view begins again after it, so that a poll from before the hole
reports everything before it as missed (more than was lost, never less)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from deliverymodes import Retention
from deliverymodes.redis import RedisClient, RedisLongPollChannel, RedisPollChannel
from tests.redis_helpers import new_key
from tests.redis_server import private_redis, require_redis_server

require_redis_server()

COUNT = 2345  # more than two chunks of 1,000 entries, and a part of one

#: The ways a channel reads its stream: plain commands, or the script (which ``max_age`` needs).
RETENTIONS = {
    "plain": Retention(max_messages=10_000),
    "script": Retention(max_messages=10_000, max_age=3600.0),
}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


async def _write(client: RedisClient, key: str, retention: Retention) -> None:
    async with RedisPollChannel[int](client, key, retention) as writer:
        for start in range(0, COUNT, 500):
            await writer.publish_many(range(start, min(start + 500, COUNT)))


@pytest.mark.parametrize("reading", sorted(RETENTIONS))
@pytest.mark.parametrize(
    "holes",
    [(), (999, 1000), (1999,), (0, 1, 2), (2344,), (998, 999, 1997, 1998, 1999)],
    ids=repr,
)
async def test_a_late_reader_gets_every_retained_message_once(
    redis_url: str, reading: str, holes: tuple[int, ...]
) -> None:
    key, retention = new_key(), RETENTIONS[reading]
    async with RedisClient(redis_url) as client:
        await _write(client, key, retention)
        if holes:
            await client.execute("XDEL", key, *(f"{offset}-1" for offset in holes))
        with anyio.fail_after(20):
            async with RedisLongPollChannel[int](client, key, retention) as late:
                assert late.head == COUNT
                batch = await late.poll(0, max_messages=None, max_bytes=None, max_wait=0)
    first = max(holes, default=-1) + 1  # the view begins after the last hole
    assert [m.offset for m in batch.messages] == list(range(first, COUNT))
    assert [m.payload for m in batch.messages] == list(range(first, COUNT))
    assert batch.missed == first


async def test_entries_that_do_not_decode_at_a_chunk_boundary_are_missed(redis_url: str) -> None:
    key, bad = new_key(), {999, 1000, 1999}
    async with RedisClient(redis_url) as client:
        # The stream and hash as the channel writes them, but for payloads that are not JSON.
        await client.execute("HSET", key + ":meta", "epoch", 7, "head", COUNT, "bytes", 0)
        for offset in range(COUNT):
            payload = b"\xff not json" if offset in bad else b"%d" % offset
            await client.execute(
                "XADD", key, f"{offset}-1", "p", payload, "s", len(payload), "t", "1.5"
            )
        with anyio.fail_after(20):
            async with RedisLongPollChannel[int](client, key, RETENTIONS["plain"]) as late:
                assert late.epoch == 7
                batch = await late.poll(0, max_messages=None, max_bytes=None, max_wait=0)
    assert [m.offset for m in batch.messages] == list(range(2000, COUNT))
    assert [m.payload for m in batch.messages] == list(range(2000, COUNT))
    assert batch.missed == 2000

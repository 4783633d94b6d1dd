"""The private Redis server of the tests, and the client the Redis channels build on (coredis),
on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from tests.redis_server import private_redis, require_redis_server

require_redis_server()
coredis = pytest.importorskip("coredis")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


async def test_the_private_server_answers_through_coredis(redis_url: str) -> None:
    client = coredis.Redis.from_url(redis_url)
    with anyio.fail_after(10):
        async with client:
            assert await client.ping() in (b"PONG", "PONG")
            key = f"stream-{anyio.get_current_task().id}"
            first = await client.xadd(key, {"p": "1"}, identifier="1-1")
            second = await client.xadd(key, {"p": "2"}, identifier="2-1")
            entries = await client.xrange(key)
            assert [entry.identifier for entry in entries] == [first, second]
            await client.delete([key])

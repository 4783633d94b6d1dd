"""The private Redis server of the tests, and the client the Redis channels build on, on both
backends: commands, pipelining from many tasks, error replies, and an unreachable server."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from deliverymodes import ConnectionLost
from deliverymodes.redis import RedisClient, RedisError
from tests.redis_server import private_redis, require_redis_server

require_redis_server()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


async def test_commands_and_replies(redis_url: str) -> None:
    with anyio.fail_after(10):
        async with RedisClient(redis_url) as client:
            assert await client.execute("PING") == b"PONG"
            key = f"stream-{anyio.get_current_task().id}"
            assert await client.execute("XADD", key, "1-1", "p", b"\x00\xff") == b"1-1"
            assert await client.execute("XRANGE", key, "-", "+") == [[b"1-1", [b"p", b"\x00\xff"]]]
            assert await client.execute("XLEN", key) == 1
            assert await client.execute("GET", "nothing-here") is None
            with pytest.raises(RedisError, match="WRONGTYPE"):
                await client.execute("GET", key)
            assert await client.execute("DEL", key) == 1
            assert client.connections == 1


async def test_many_tasks_share_one_connection_and_get_their_own_replies(redis_url: str) -> None:
    got: dict[int, object] = {}

    async def ask(client: RedisClient, number: int) -> None:
        got[number] = await client.execute("ECHO", str(number))

    with anyio.fail_after(10):
        async with RedisClient(redis_url) as client, anyio.create_task_group() as group:
            for number in range(300):
                group.start_soon(ask, client, number)
    assert got == {number: str(number).encode() for number in range(300)}


async def test_a_cancelled_command_does_not_shift_the_replies(redis_url: str) -> None:
    with anyio.fail_after(10):
        async with RedisClient(redis_url) as client:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await client.execute("ECHO", "lost")
            for number in range(5):
                assert await client.execute("ECHO", str(number)) == str(number).encode()


async def test_a_late_reply_breaks_the_connection_and_the_next_command_reconnects(
    redis_url: str,
) -> None:
    async with RedisClient(redis_url, timeout=0.5) as client:
        with anyio.fail_after(10):
            with pytest.raises(ConnectionLost, match=r"no reply .* within 0.5 s"):
                await client.execute("BLPOP", "nothing-here", "3")  # answers in 3 s
            assert client.connections == 0
            assert await client.execute("PING") == b"PONG"
            assert client.connections == 1


async def test_closing_a_client_does_not_wait_for_its_timeout(redis_url: str) -> None:
    with anyio.fail_after(5):  # its watchdog would sleep for seconds
        for _ in range(3):
            async with RedisClient(redis_url, timeout=60) as client:
                assert await client.execute("PING") == b"PONG"


async def test_an_unreachable_server_is_connection_lost_in_time() -> None:
    with anyio.fail_after(10):
        async with RedisClient("redis://127.0.0.1:1", timeout=2) as client:
            with pytest.raises(
                ConnectionLost, match=r"cannot connect to Redis at redis://127\.0\.0\.1:1"
            ):
                await client.execute("PING")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost", "must start with redis://"),
        ("redis://", "names no host"),
        ("unix://", "names no socket path"),
        ("redis://localhost:port", "port that is not a number from 0 to 65535"),
        ("redis://localhost:99999", "port that is not a number from 0 to 65535"),
        ("redis://localhost/first", "database number that is not a number"),
        ("unix:///tmp/redis.sock?db=x", "database number that is not a number"),
    ],
)
def test_a_wrong_url_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisClient(url)


def test_a_url_that_is_not_a_string_names_every_scheme() -> None:
    with pytest.raises(TypeError, match=r"redis://, rediss:// or unix:// URL string, not int"):
        RedisClient(5)  # type: ignore[arg-type]


def test_the_password_is_not_shown() -> None:
    client = RedisClient("redis://user:secret@localhost:6380/2")
    assert "secret" not in client.url
    assert (client.address.port, client.address.db, client.address.username) == (6380, 2, "user")

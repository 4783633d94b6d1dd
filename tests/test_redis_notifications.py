"""The notification a Redis channel's publish script announces: the format docs/redis.md gives,
read back exactly, and anything else refused with ``ValueError`` (then the stream is read)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from deliverymodes import BytesCodec
from deliverymodes._redis._records import notification_span, parse_notification
from deliverymodes.redis import RedisClient, RedisPollChannel
from tests.redis_helpers import new_key, settled
from tests.redis_server import private_redis, require_redis_server

Record = tuple[int, float, bytes]  # size, publish time, payload

records = st.lists(
    st.tuples(st.integers(0, 10**12), st.floats(0, 2e9, allow_nan=False), st.binary()),
    min_size=1,
    max_size=20,
)


def notification(epoch: int, first: int, messages: list[Record]) -> bytes:
    """A notification written from the format in docs/redis.md, as a writer in another
    language would."""
    numbers = " ".join(f"{size} {at!r} {len(payload)}" for size, at, payload in messages)
    header = f"{epoch} {first} {len(messages)}\n{numbers}\n".encode()
    return header + b"".join(payload for _, _, payload in messages)


@given(st.integers(1, 2**53 - 1), st.integers(0, 2**63), records)
def test_a_notification_reads_back_as_written(
    epoch: int, first: int, messages: list[Record]
) -> None:
    data = notification(epoch, first, messages)
    assert notification_span(data) == (epoch, first, len(messages))
    assert parse_notification(data) == (
        epoch,
        first,
        [size for size, _, _ in messages],
        [at for _, at, _ in messages],
        [payload for _, _, payload in messages],
    )


@given(st.binary(max_size=200))
@example(b"")
@example(b"1 0 1\n3 1.0 4\nabc")  # a payload shorter than its length
@example(b"1 0 1\n3 1.0 2\nabc")  # bytes after the payloads
@example(b"1 0 1\n3 1.0 -1\n")
@example(b"1 0 2\n3 1.0 3\nabc")  # fewer numbers than messages
@example(b"0 0 1\n3 1.0 3\nabc")  # epoch 0
@example(b"1 0 0\n\n")
@example(b"1 -1 1\n3 1.0 3\nabc")
@example(b'7 1 3 1.0 3\n"x"')  # one message in the format of earlier versions
def test_anything_else_is_a_value_error(data: bytes) -> None:
    try:
        epoch, first, sizes, times, payloads = parse_notification(data)
    except ValueError:
        return
    assert epoch >= 1
    assert first >= 0
    assert len(sizes) == len(times) == len(payloads) >= 1
    assert sum(map(len, payloads)) <= len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"+1 0 1\n3 1.0 3\nabc",  # a sign
        b"1 0 0_1\n3 1.0 3\nabc",  # an underscore
        b"1 0 1\r\n3 1.0 3\r\nabc",  # CRLF
        b"1 0 1\n-3 1.0 3\nabc",  # a negative size
        b"1 0 1\n3 nan 3\nabc",
        b"1 0 1\n3 inf 3\nabc",
        b"1 0 1\n3 1e999 3\nabc",  # not finite
        b"1 0 1\n3 -1.0 3\nabc",  # before 1970
        b"1 0 1\n3 1_0.5 3\nabc",
        b"9007199254740992 0 1\n3 1.0 3\nabc",  # epoch 2**53: beyond MAX_EPOCH
        "1 0 1\n\uff13 1.0 3\nabc".encode(),  # a full-width digit
        b"1 0 1\n3 1.0 3 \nabc",  # a trailing space
    ],
)
def test_what_is_almost_the_format_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_notification(data)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    require_redis_server()
    with private_redis() as url:
        yield url


class Recorder:
    """A listener on a channel's Pub/Sub channel that keeps what it is told."""

    def __init__(self) -> None:
        self.notifications: list[bytes] = []

    async def notified(self, data: bytes) -> None:
        self.notifications.append(data)

    async def resumed(self) -> None:
        pass

    def interrupted(self) -> None:
        pass


async def test_the_publish_script_announces_the_documented_format(redis_url: str) -> None:
    key = new_key()
    recorder = Recorder()
    payloads = [b"", b"a\nb", "é\n".encode(), b"\x00" * 300, b"7 0 1\n"]
    async with (
        RedisClient(redis_url) as client,
        RedisPollChannel[bytes](client, key, codec=BytesCodec()) as channel,
    ):
        await client.listen(key.encode(), recorder)
        await channel.publish(b"zero")
        published = await channel.publish_many(payloads)
        with anyio.fail_after(10):
            await settled(lambda: len(recorder.notifications) == 2)
        expected = [(m.size, m.published_at, m.payload) for m in published]
        assert recorder.notifications[1] == notification(channel.epoch, 1, expected)
        await client.unlisten(key.encode(), recorder)

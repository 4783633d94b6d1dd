"""The HTTP clients against the ASGI app under a real server: same protocols, resumable."""

from __future__ import annotations

import anyio
import pytest

from deliverymodes import (
    EARLIEST,
    Batching,
    Channel,
    ChannelClosed,
    LongPollChannel,
    PollChannel,
    PushChannel,
    Release,
    RemoteError,
    Subscriber,
)
from deliverymodes.http import HttpApp, HttpChannel, HttpRemote
from tests.http_helpers import running_app


def make_channels() -> dict[str, object]:
    return {
        "push": PushChannel[object](),
        "poll": PollChannel[object](),
        "long": LongPollChannel[object](batching=Batching(max_wait=10)),
    }


async def consume(subscriber: Subscriber[object], count: int) -> list[object]:
    got = []
    async for message in subscriber:
        got.append(message.payload)
        if len(got) == count:
            break
    return got


async def test_publish_poll_and_long_poll() -> None:
    async with running_app(HttpApp(make_channels())) as url, HttpRemote(url) as remote:
        channel = remote.channel("long")
        assert isinstance(channel, Channel)
        first = await channel.publish({"n": 1})
        await channel.publish(b"\x00raw")
        assert first.offset == 0
        batch = await channel.poll(0)
        assert [m.payload for m in batch.messages] == [{"n": 1}, b"\x00raw"]
        assert (batch.cursor, batch.reason) == (2, None)
        with anyio.fail_after(10):
            waited = await channel.poll(2, wait=0.05)
        assert (waited.messages, waited.reason) == ((), Release.MAX_WAIT)
        assert channel.statistics().polls == 2
        with pytest.raises(ValueError, match="beyond the head"):
            await channel.poll(9)
        with pytest.raises(RemoteError, match="404"):
            await remote.channel("missing").poll(0)


async def test_one_consumer_over_every_http_model() -> None:
    channels = make_channels()
    async with running_app(HttpApp(channels)) as url, HttpRemote(url) as remote:

        def long_polls(channel: HttpChannel[object]) -> Subscriber[object]:
            return channel.subscribe(wait=5)

        def polls(channel: HttpChannel[object]) -> Subscriber[object]:
            return channel.poll_subscriber(poll_interval=0.01)

        def events(channel: HttpChannel[object]) -> Subscriber[object]:
            return channel.events()

        for name, make in [
            ("long", long_polls),
            ("poll", polls),
            ("long", events),
            ("push", events),
        ]:
            channel = remote.channel(name)
            async with make(channel) as subscriber:
                assert isinstance(subscriber, Subscriber)
                for word in ("a", "b", "c"):
                    await channel.publish(word)
                with anyio.fail_after(10):
                    assert await consume(subscriber, 3) == ["a", "b", "c"]


async def test_sse_subscriber_resumes_after_the_server_comes_back() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    app = HttpApp(channels, retry=0.05)
    async with running_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        remote = HttpRemote(url)
        subscriber = remote.channel("long").events(EARLIEST)
        for value in range(3):
            await long.publish(value)
        with anyio.fail_after(10):
            assert [(await subscriber.receive()).payload for _ in range(2)] == [0, 1]
    # The server went away; messages go on being published; a server comes back on the port.
    for value in range(3, 6):
        await long.publish(value)
    async with running_app(app, port=port):
        with anyio.fail_after(20):
            rest = [(await subscriber.receive()).payload for _ in range(4)]
        assert rest == [2, 3, 4, 5]  # in order, nothing lost, nothing twice
        assert subscriber.reconnects >= 1
        await long.aclose()
        with anyio.fail_after(10), pytest.raises(ChannelClosed):
            await subscriber.receive()
        await subscriber.aclose()
        await remote.aclose()


async def test_cancelled_sse_receive_loses_nothing() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    async with running_app(HttpApp(channels)) as url, HttpRemote(url) as remote:
        async with remote.channel("long").events() as subscriber:
            with anyio.move_on_after(0.2):
                await subscriber.receive()
            await long.publish("after")
            with anyio.fail_after(10):
                assert (await subscriber.receive()).payload == "after"


async def test_long_poll_subscriber_retries_a_dropped_request() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    app = HttpApp(channels)
    async with running_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        remote = HttpRemote(url)
        subscriber = remote.channel("long").subscribe(0, wait=0.2)
        await long.publish("first")
        with anyio.fail_after(10):
            assert (await subscriber.receive()).payload == "first"
    await long.publish("while away")
    async with running_app(app, port=port):
        with anyio.fail_after(20):
            assert (await subscriber.receive()).payload == "while away"
        await subscriber.aclose()
        await remote.aclose()

"""Remote channels: the same scenarios over an in-memory stream, TCP and a Unix socket."""

from __future__ import annotations

import struct
import tempfile

import anyio
import pytest

from deliverymodes import (
    EARLIEST,
    Batching,
    Channel,
    ChannelClosed,
    ConnectionLost,
    ErrorCode,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Release,
    Remote,
    RemoteError,
    ServerLimits,
    SlowConsumer,
    Subscriber,
    connect_unix,
    wire,
)
from tests.remote_helpers import TRANSPORTS, raw_connection, running_server, wait_until


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def channels() -> dict[str, object]:
    return {
        "push": PushChannel[object](),
        "poll": PollChannel[object](),
        "long": LongPollChannel[object](batching=Batching(max_wait=5)),
    }


async def test_push_publish_and_subscribe(transport: str) -> None:
    served = channels()
    local = served["push"]
    assert isinstance(local, PushChannel)
    async with running_server(served, transport) as connect_to, connect_to() as remote:
        channel = remote.push("push")
        async with channel.subscribe() as subscriber:
            sent = [await channel.publish({"n": n}) for n in range(5)]
            await local.publish({"n": 5})
            with anyio.fail_after(5):
                got = [await subscriber.receive() for _ in range(6)]
        assert [m.offset for m in sent] == [0, 1, 2, 3, 4]
        assert [m.payload for m in got] == [{"n": n} for n in range(6)]
        assert [m.offset for m in got] == list(range(6))
        assert got[0].size == sent[0].size == len('{"n":0}')
        assert got[0].published_at == sent[0].published_at
        assert channel.statistics().published == 5
        assert channel.statistics().delivered == 6


async def test_one_consumer_runs_unchanged_against_remote_models(transport: str) -> None:
    async def consume(subscriber: Subscriber[object], count: int) -> list[object]:
        got = []
        async for message in subscriber:
            got.append(message.payload)
            if len(got) == count:
                break
        return got

    async with running_server(channels(), transport) as connect_to, connect_to() as remote:
        remote_channels: list[Channel[object]] = [
            remote.push("push"),
            remote.poll("poll"),
            remote.long_poll("long"),
        ]
        for channel in remote_channels:
            assert isinstance(channel, Channel)
            subscriber = channel.subscribe()
            async with subscriber:
                assert isinstance(subscriber, Subscriber)
                for word in ("a", "b", "c"):
                    await channel.publish(word)
                with anyio.fail_after(5):
                    assert await consume(subscriber, 3) == ["a", "b", "c"]


async def test_poll_and_long_poll(transport: str) -> None:
    served = channels()
    async with running_server(served, transport) as connect_to, connect_to() as remote:
        poll = remote.poll("poll")
        for value in range(5):
            await poll.publish(value)
        batch = await poll.poll(0, max_messages=3)
        assert ([m.payload for m in batch.messages], batch.cursor, batch.reason) == (
            [0, 1, 2],
            3,
            None,
        )
        empty = await poll.poll(5)
        assert (empty.messages, empty.cursor) == ((), 5)
        assert poll.statistics().empty_polls == 1
        long = remote.long_poll("long")
        async with anyio.create_task_group() as tg:
            results = []

            async def wait_for_two() -> None:
                results.append(await long.poll(0, min_messages=2, max_wait=None))

            tg.start_soon(wait_for_two)
            await long.publish("x")
            await long.publish("y")
        assert [m.payload for m in results[0].messages] == ["x", "y"]
        assert results[0].reason is Release.MIN_MESSAGES
        with anyio.fail_after(5):
            timed_out = await long.poll(2, max_wait=0.02)
        assert (timed_out.messages, timed_out.reason) == ((), Release.MAX_WAIT)


async def test_closing_the_served_channel_ends_remote_readers(transport: str) -> None:
    served = channels()
    async with running_server(served, transport) as connect_to, connect_to() as remote:
        push, long = remote.push("push"), remote.long_poll("long")
        async with push.subscribe() as pushed, long.subscribe(EARLIEST) as polled:
            await push.publish(1)
            await long.publish(2)
            waiting: list[object] = []
            async with anyio.create_task_group() as tg:

                async def wait() -> None:
                    waiting.append(await long.poll(1, max_wait=None))

                tg.start_soon(wait)
                await anyio.sleep(0.05)
                for channel in served.values():
                    assert isinstance(channel, (PushChannel, LongPollChannel, PollChannel))
                    await channel.aclose()
            with anyio.fail_after(5):
                assert [m.payload async for m in pushed] == [1]
                assert [m.payload async for m in polled] == [2]
        (batch,) = waiting
        assert getattr(batch, "closed", None) is True
        assert getattr(batch, "reason", None) is Release.CLOSED
        with pytest.raises(ChannelClosed):
            await push.publish(3)


async def test_refusals_are_translated(transport: str) -> None:
    async with running_server(channels(), transport) as connect_to, connect_to() as remote:
        with pytest.raises(RemoteError) as caught:
            await remote.poll("missing").poll(0)
        assert caught.value.code is ErrorCode.UNKNOWN_CHANNEL
        with pytest.raises(ValueError, match="beyond the head"):
            await remote.poll("poll").poll(7)
        with pytest.raises(RemoteError) as caught:
            await remote.poll("push").poll(0)
        assert caught.value.code is ErrorCode.UNSUPPORTED
        with pytest.raises(RemoteError) as caught:
            async with remote.push("poll").subscribe():
                pass
        assert caught.value.code is ErrorCode.UNSUPPORTED
        with pytest.raises(ValueError, match="max_messages"):
            await remote.poll("poll").poll(0, max_messages=0)
        with pytest.raises(ValueError, match="min_messages"):
            await remote.long_poll("long").poll(0, min_messages=0)
        # The connection is still good after every refusal.
        assert (await remote.poll("poll").publish("ok")).offset == 0


async def test_cancelled_remote_long_poll_loses_nothing(transport: str) -> None:
    async with running_server(channels(), transport) as connect_to, connect_to() as remote:
        long = remote.long_poll("long")
        with anyio.move_on_after(0.05):
            await long.poll(0, max_wait=None)
        await long.publish("kept")
        with anyio.fail_after(5):
            batch = await long.poll(0, max_wait=None)
        assert [m.payload for m in batch.messages] == ["kept"]


async def test_disconnects_leak_no_subscription_or_waiting_poll(transport: str) -> None:
    served = channels()
    push, long = served["push"], served["long"]
    assert isinstance(push, PushChannel)
    assert isinstance(long, LongPollChannel)
    async with (
        running_server(served, transport) as connect_to,
        connect_to(reconnect=None) as remote,
    ):
        subscriber = remote.push("push").subscribe()
        await subscriber.wait_subscribed()

        async def long_poll() -> None:
            with pytest.raises(ConnectionLost):
                await remote.long_poll("long").poll(0)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(long_poll)
                await wait_until(lambda: long.statistics().waiting_polls == 1)
                assert push.statistics().subscribers == 1
                await push.publish("in flight")
                assert remote._link is not None
                await remote._link.stream.aclose()  # the client vanishes mid poll and mid push
            await wait_until(
                lambda: long.statistics().waiting_polls == 0 and push.statistics().subscribers == 0
            )
        assert push.statistics().published == 1


async def test_slow_remote_subscriber_does_not_hold_the_publisher(transport: str) -> None:
    served = {"push": PushChannel[int](overflow=Overflow.DROP_OLDEST)}
    local = served["push"]
    async with running_server(served, transport) as connect_to, connect_to() as remote:
        async with remote.push("push").subscribe(buffer_size=3, window=2) as subscriber:
            with anyio.fail_after(5):
                for value in range(50):
                    await local.publish(value)  # never waits for the subscriber
            received: list[int] = []
            with anyio.fail_after(5):
                while not received or received[-1] != 49:
                    received.append((await subscriber.receive()).offset)
        assert received == sorted(set(received))
        assert len(received) + local.statistics().dropped == 50
        assert local.statistics().dropped > 0


async def test_a_slow_client_does_not_hold_back_a_fast_one(transport: str) -> None:
    served = {"push": PushChannel[int](buffer_size=4, overflow=Overflow.DROP_OLDEST)}
    local = served["push"]
    async with (
        running_server(served, transport) as connect_to,
        connect_to() as slow_remote,
        connect_to() as fast_remote,
        slow_remote.push("push").subscribe(window=2) as slow,  # never read until the end
        fast_remote.push("push").subscribe(window=8) as fast,
    ):
        with anyio.fail_after(10):
            for value in range(200):
                await local.publish(value)
                assert (await fast.receive()).payload == value
            assert fast.statistics().delivered == 200
            assert (await slow.receive()).offset < 10  # it has only what it was given early
        assert local.statistics().dropped > 100  # all lost by the slow one, to its policy


async def test_remote_disconnect_policy_raises_slow_consumer(transport: str) -> None:
    served = {"push": PushChannel[int](overflow=Overflow.DISCONNECT, buffer_size=2)}
    local = served["push"]
    received: list[int] = []

    async def read_all(subscriber: Subscriber[int]) -> None:
        async for message in subscriber:
            received.append(message.payload)

    async with (
        running_server(served, transport) as connect_to,
        connect_to() as remote,
        remote.push("push").subscribe(window=1) as subscriber,
    ):
        with anyio.fail_after(5):
            for value in range(20):
                await local.publish(value)
            with pytest.raises(SlowConsumer):
                await read_all(subscriber)
    assert received == sorted(received)
    assert len(received) <= 3


async def test_limits_are_enforced(transport: str) -> None:
    limits = ServerLimits(max_subscriptions=2, max_long_poll_wait=0.05)
    async with running_server(channels(), transport, limits) as connect_to, connect_to() as remote:
        push = remote.push("push")
        async with push.subscribe(), push.subscribe():
            with pytest.raises(RemoteError) as caught:
                async with push.subscribe():
                    pass
            assert caught.value.code is ErrorCode.TOO_MANY_SUBSCRIPTIONS
        with anyio.fail_after(5):  # asks to wait forever; the server clamps it
            batch = await remote.long_poll("long").poll(0, max_wait=None)
        assert batch.reason is Release.MAX_WAIT


def frame(event: wire.Event) -> bytes:
    return wire.encode(event)


async def read_events(stream: anyio.abc.ByteStream, count: int) -> list[wire.Event]:
    decoder = wire.FrameDecoder(1 << 20)
    found: list[wire.Event] = []
    with anyio.fail_after(5):
        while len(found) < count:
            decoder.receive_data(await stream.receive())
            while (event := decoder.next_event()) is not None:
                if not isinstance(event, wire.Keepalive):
                    found.append(event)
    return found


HELLO = frame(wire.Hello(wire.PROTOCOL_VERSION, 1 << 20))

BAD_FRAMES = {
    "oversize": (struct.pack(">I", 50_000_000), ErrorCode.FRAME_TOO_LARGE),
    "unknown kind": (struct.pack(">IB", 1, 0x6E), ErrorCode.UNKNOWN_FRAME_KIND),
    "truncated body": (struct.pack(">IBH", 3, wire.Kind.HELLO, 1), ErrorCode.MALFORMED_FRAME),
    "wrong direction": (frame(wire.Push(1, ())), ErrorCode.PROTOCOL_VIOLATION),
}


@pytest.mark.parametrize("bad", BAD_FRAMES)
async def test_a_framing_error_closes_only_that_connection(transport: str, bad: str) -> None:
    data, code = BAD_FRAMES[bad]
    served = channels()
    async with running_server(served, transport) as connect_to, connect_to() as good:
        await good.poll("poll").publish("before")
        async with raw_connection(connect_to) as stream:
            await stream.send(HELLO + frame(wire.Publish(1, "poll", b'"valid"')) + data)
            welcome, published, error = await read_events(stream, 3)
            assert isinstance(welcome, wire.Welcome)
            assert isinstance(published, wire.Published)
            assert isinstance(error, wire.Error)
            assert (error.request, error.code) == (0, code)
            assert error.message
            with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await stream.receive()
        batch = await good.poll("poll").poll(0)
        assert [m.payload for m in batch.messages] == ["before", "valid"]


async def test_bad_requests_get_an_error_and_the_connection_goes_on(transport: str) -> None:
    async with running_server(channels(), transport) as connect_to:
        async with raw_connection(connect_to) as stream:
            requests: list[wire.Event] = [
                wire.Publish(1, "poll", b"{not json"),
                wire.Poll(2, "poll", -5),
                wire.LongPoll(3, "long", 0, 0),
                wire.LongPoll(4, "long", 0, -1, -7),
                wire.Subscribe(5, 1, "push", 0, 9, 10),
                wire.Unsubscribe(77),  # unknown: ignored (it may just have ended)
                wire.Publish(6, "nowhere", b"1"),
                wire.Poll(7, "poll", 0),
            ]
            await stream.send(HELLO + b"".join(frame(r) for r in requests))
            welcome, *answers = await read_events(stream, len(requests))
            assert isinstance(welcome, wire.Welcome)
            codes = [(a.request, a.code) for a in answers if isinstance(a, wire.Error)]
            assert codes == [
                (1, ErrorCode.BAD_PAYLOAD),
                (2, ErrorCode.BAD_ARGUMENT),
                (3, ErrorCode.BAD_ARGUMENT),
                (4, ErrorCode.BAD_ARGUMENT),
                (5, ErrorCode.BAD_ARGUMENT),
                (6, ErrorCode.UNKNOWN_CHANNEL),
            ]
            assert isinstance(answers[-1], wire.Batch)  # still answering


async def test_idle_connections_get_keepalives(transport: str) -> None:
    limits = ServerLimits(keepalive_interval=0.01)
    async with (
        running_server(channels(), transport, limits) as connect_to,
        raw_connection(connect_to) as stream,
    ):
        await stream.send(HELLO)
        decoder = wire.FrameDecoder(1 << 20)
        seen: list[wire.Event] = []
        with anyio.fail_after(5):
            while sum(isinstance(e, wire.Keepalive) for e in seen) < 2:
                decoder.receive_data(await stream.receive())
                while (event := decoder.next_event()) is not None:
                    seen.append(event)
        assert isinstance(seen[0], wire.Welcome)


async def test_remote_is_used_inside_async_with() -> None:
    async def never_opened() -> anyio.abc.ByteStream:
        raise AssertionError("not opened outside async with")

    remote = Remote(never_opened)
    with pytest.raises(RuntimeError, match="async with"):
        await remote.poll("x").poll(0)


async def test_connecting_to_nothing_raises_connection_lost() -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        with pytest.raises(ConnectionLost, match="cannot connect"):
            async with connect_unix(f"{folder}/nobody.sock"):
                pass


async def test_a_given_up_subscription_leaves_nothing_on_the_server(transport: str) -> None:
    served = {"push": PushChannel[int](buffer_size=1)}  # BLOCK: a leftover would stall publish
    local = served["push"]
    async with running_server(served, transport) as connect_to, connect_to() as remote:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await remote.push("push").subscribe().wait_subscribed()
        with anyio.fail_after(5):
            while local.statistics().subscribers:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.005)
            for value in range(5):
                await local.publish(value)  # would wait forever behind a leftover subscriber
        assert local.statistics().subscribers == 0
        assert local.statistics().published == 5


def test_bad_codec_is_refused() -> None:
    with pytest.raises(TypeError, match="codec"):
        connect_unix("/nowhere", codec=object())  # type: ignore[arg-type]


async def test_a_connection_can_be_awaited_open_and_closed_by_hand(transport: str) -> None:
    async with running_server(channels(), transport) as connect_to:
        remote = await connect_to()
        try:
            message = await remote.poll("poll").publish("by hand")
            assert message.offset == 0
            async with remote:  # entering an open connection is harmless
                assert (await remote.poll("poll").poll(0)).messages[0].payload == "by hand"
        finally:
            await remote.aclose()
        with pytest.raises(ConnectionLost):
            await remote.poll("poll").poll(0)

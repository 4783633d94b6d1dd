"""Random cancellation of remote calls over real TCP: whatever the moment a call is cancelled,
readers see every message once, in order, and the server keeps nothing for the cancelled calls."""

from __future__ import annotations

import random

import anyio
import pytest

from deliverymodes import (
    Batching,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Subscriber,
    connect_tcp,
)
from tests.remote_helpers import tcp_server, wait_until

MESSAGES = 300


async def _receive_with_random_cancels(
    subscriber: Subscriber[int], count: int, rng: random.Random
) -> list[int]:
    got: list[int] = []
    while len(got) < count:
        with anyio.move_on_after(rng.choice([0, 0.0001, 0.001, 0.003, 1])):
            got.append((await subscriber.receive()).payload)
    return got


@pytest.mark.parametrize("model", ["push", "poll", "long"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_cancelled_receives_lose_and_repeat_nothing(model: str, seed: int) -> None:
    rng = random.Random(seed)
    channels: dict[str, object] = {
        "push": PushChannel[int](buffer_size=8),  # BLOCK: nothing dropped
        "poll": PollChannel[int](),
        "long": LongPollChannel[int](batching=Batching(max_wait=None)),
    }
    local = channels[model]
    assert isinstance(local, (PushChannel, PollChannel, LongPollChannel))
    async with tcp_server(channels) as port, connect_tcp("127.0.0.1", port) as remote:
        handle = {"push": remote.push, "poll": remote.poll, "long": remote.long_poll}[model](model)
        subscriber: Subscriber[int]
        if model == "poll":
            subscriber = remote.poll(model).subscribe(0, poll_interval=0.001)
        elif model == "long":
            subscriber = remote.long_poll(model).subscribe(0)
        else:
            subscriber = remote.push(model).subscribe(window=4)
        async with subscriber:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:

                    async def publish() -> None:
                        for n in range(MESSAGES):
                            await local.publish(n)
                            if n % 7 == 0:
                                await anyio.sleep(rng.choice([0, 0.001]))

                    tg.start_soon(publish)
                    got = await _receive_with_random_cancels(subscriber, MESSAGES, rng)
        assert got == list(range(MESSAGES))
        await handle.aclose()
        with anyio.fail_after(5):  # nothing is left waiting on the server
            await wait_until(lambda: local.statistics().waiting_polls == 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_cancelled_publishes_are_all_or_nothing(seed: int) -> None:
    rng = random.Random(seed)
    channel = PushChannel[int](buffer_size=2, overflow=Overflow.BLOCK)
    async with (
        tcp_server({"c": channel}) as port,
        connect_tcp("127.0.0.1", port) as remote,
        channel.subscribe() as reader,
    ):
        returned: list[int] = []  # offsets of publishes that returned
        received: list[tuple[int, int]] = []

        async def read_slowly() -> None:
            async for message in reader:
                received.append((message.offset, message.payload))
                await anyio.sleep(rng.choice([0, 0.001, 0.002]))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_slowly)
                publisher = remote.push("c")
                for n in range(200):
                    with anyio.move_on_after(rng.choice([0.0005, 0.001, 0.005, 1])):
                        returned.append((await publisher.publish(n)).offset)
                await wait_until(lambda: channel.statistics().buffered == 0)
                await channel.aclose()
        offsets = [offset for offset, _ in received]
        assert offsets == list(range(len(received)))  # in order, no gap, no duplicate
        assert len(received) == channel.statistics().published
        assert set(returned) <= set(offsets)
        payloads = [payload for _, payload in received]
        assert payloads == sorted(set(payloads))  # each publish at most once, in order


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_local_push_subscribers_cancelled_at_random_lose_and_repeat_nothing(
    seed: int,
) -> None:
    """A local push subscriber's wait (an asyncio future, or a trio event) cancelled at any
    moment: the next receive still gets every message once, in order, whether it receives with
    ``receive()`` or ``async for``."""
    rng = random.Random(seed)
    channel = PushChannel[int](buffer_size=4, overflow=Overflow.BLOCK)
    async with channel.subscribe() as by_receive, channel.subscribe() as by_iteration:

        async def iterate() -> list[int]:
            got: list[int] = []
            while len(got) < MESSAGES:
                with anyio.move_on_after(rng.choice([0, 0.0001, 0.001, 1])):
                    got.append((await anext(by_iteration)).payload)
            return got

        results: dict[str, list[int]] = {}

        async def collect(name: str, take: object) -> None:
            assert callable(take)
            results[name] = await take()

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    collect,
                    "receive",
                    lambda: _receive_with_random_cancels(by_receive, MESSAGES, rng),
                )
                tg.start_soon(collect, "iterate", iterate)
                for n in range(MESSAGES):
                    await channel.publish(n)
                    if n % 5 == 0:
                        await anyio.sleep(rng.choice([0, 0.0005]))
    assert results == {"receive": list(range(MESSAGES)), "iterate": list(range(MESSAGES))}

"""A live price ticker: a fast publisher, a fast and a slow consumer, and what each setting does.

Push: the fast consumer keeps up; the slow one either holds the publisher back (BLOCK), sees the
latest prices only (DROP_OLDEST), sees the first ones only (DROP_NEWEST), or is cut off
(DISCONNECT). Long poll: thresholds decide how many ticks each request carries.

Run: python examples/price_ticker.py
"""

from __future__ import annotations

import random
import time

import anyio

from deliverymodes import (
    LongPollChannel,
    Overflow,
    PushChannel,
    PushSubscriber,
    SlowConsumer,
    Subscriber,
)

TICKS = 1000
SLOW_DELAY = 0.0005  # seconds the slow consumer spends on each tick


def prices(count: int) -> list[dict[str, float | str]]:
    rng = random.Random(7)
    price = 100.0
    ticks = []
    for _ in range(count):
        price = round(price * (1 + rng.gauss(0, 0.001)), 2)
        ticks.append({"symbol": "BTC-USD", "price": price})
    return ticks


async def read(subscriber: Subscriber[dict[str, float | str]], slow: bool) -> str:
    received = 0
    last: float | str = "-"
    try:
        async for message in subscriber:
            received += 1
            last = message.payload["price"]
            if slow:
                await anyio.sleep(SLOW_DELAY)
    except SlowConsumer:
        return f"cut off after {received} ticks (last price {last})"
    return f"{received} ticks, last price {last}"


async def push_run(slow_policy: Overflow) -> None:
    channel = PushChannel[dict[str, float | str]](buffer_size=50)
    fast: PushSubscriber[dict[str, float | str]] = channel.subscribe(overflow=Overflow.BLOCK)
    slow = channel.subscribe(overflow=slow_policy)
    results: dict[str, str] = {}

    async def run_reader(name: str, subscriber: PushSubscriber[dict[str, float | str]]) -> None:
        results[name] = await read(subscriber, slow=name == "slow")

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_reader, "fast", fast)
        tg.start_soon(run_reader, "slow", slow)
        async with channel:
            for tick in prices(TICKS):
                await channel.publish(tick)
    elapsed = time.perf_counter() - start
    stats = channel.statistics()
    print(f"push, slow consumer {slow_policy.name:<11} {elapsed:5.2f} s, dropped {stats.dropped}")
    for name, subscriber in (("fast", fast), ("slow", slow)):
        # Every tick is accounted for: delivered or dropped (a cut-off subscriber drops
        # everything published after it was cut off, until it is closed).
        counts = subscriber.statistics()
        print(
            f"    {name}: {results[name]}; delivered {counts.delivered} + dropped "
            f"{counts.dropped} = {counts.delivered + counts.dropped} of {stats.published}"
        )
        await subscriber.aclose()


async def long_poll_run(min_messages: int, max_wait: float) -> None:
    channel = LongPollChannel[dict[str, float | str]]()
    requests: list[int] = []

    async def reader() -> None:
        cursor = 0
        received = 0
        while received < TICKS:
            batch = await channel.poll(cursor, min_messages=min_messages, max_wait=max_wait)
            requests.append(len(batch.messages))
            received += len(batch.messages)
            cursor = batch.cursor
            await anyio.sleep(SLOW_DELAY)  # the consumer's own work per request

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        for index, tick in enumerate(prices(TICKS)):
            await channel.publish(tick)
            if index % 20 == 0:
                await anyio.sleep(0.001)  # ticks arrive in small bursts
    average = sum(requests) / len(requests)
    print(
        f"long poll, min_messages={min_messages:<3} max_wait={max_wait * 1000:.0f} ms: "
        f"{len(requests)} requests for {TICKS} ticks, {average:.1f} ticks per request"
    )


async def main() -> None:
    print(f"{TICKS} price ticks, published as fast as the channel allows\n")
    for policy in Overflow:
        await push_run(policy)
    print()
    for min_messages, max_wait in ((1, 0.05), (50, 0.05), (200, 0.01)):
        await long_poll_run(min_messages, max_wait)


if __name__ == "__main__":
    anyio.run(main)

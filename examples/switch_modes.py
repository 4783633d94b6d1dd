"""One consumer, three delivery models: what each one costs for the same stream of events.

The consumer below knows only the ``Subscriber`` protocol. Switching the model is the one line
that builds the channel; the statistics show the price of each: push hands over every message
as it comes, poll asks again and again (mostly for nothing), long poll asks far less often.

Run: python examples/switch_modes.py
"""

from __future__ import annotations

import anyio

from deliverymodes import (
    Batching,
    Channel,
    LongPollChannel,
    PollChannel,
    PushChannel,
    Subscriber,
)

BURSTS = 20  # the publisher sends this many bursts …
BURST_SIZE = 10  # … of this many events …
PAUSE = 0.02  # … with this many seconds of quiet between them

MODELS = ("push", "poll", "long poll")


async def consume(subscriber: Subscriber[str], expected: int) -> int:
    """Application code: read events until all arrived. The same for every model."""
    received = 0
    async for _message in subscriber:
        received += 1
        if received == expected:
            break
    return received


async def produce(channel: Channel[str]) -> None:
    for burst in range(BURSTS):
        for index in range(BURST_SIZE):
            await channel.publish(f"event {burst}.{index}")
        await anyio.sleep(PAUSE)


async def run(model: str) -> dict[str, object]:
    # Switching the model is this choice of channel; the consumer does not change.
    if model == "push":
        channel: Channel[str] = PushChannel[str]()
        subscriber: Subscriber[str] = channel.subscribe()
    elif model == "poll":
        poll_channel = PollChannel[str]()
        channel, subscriber = poll_channel, poll_channel.subscribe(poll_interval=0.002)
    else:
        long_channel = LongPollChannel[str](batching=Batching(max_wait=0.1))
        channel, subscriber = long_channel, long_channel.subscribe()
    expected = BURSTS * BURST_SIZE
    async with channel, subscriber:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(produce, channel)
                received = await consume(subscriber, expected)
        stats, mine = channel.statistics(), subscriber.statistics()
    return {
        "model": model,
        "published": stats.published,
        "received": received,
        "requests": mine.polls,
        "empty": mine.empty_polls,
        "dropped": stats.dropped,
        "requests/msg": mine.polls / received,
    }


async def main() -> None:
    rows = [await run(model) for model in MODELS]
    print(f"{BURSTS} bursts of {BURST_SIZE} events, {PAUSE * 1000:.0f} ms apart, one consumer\n")
    header = ["model", "published", "received", "requests", "empty", "dropped", "requests/msg"]
    print("  ".join(f"{name:>12}" for name in header))
    for row in rows:
        cells = [
            f"{row[name]:>12.2f}" if name == "requests/msg" else f"{row[name]!s:>12}"
            for name in header
        ]
        print("  ".join(cells))
    print("\npush: no requests at all; poll: many requests, most of them empty;")
    print("long poll: about one request per burst, and none of them wasted.")


if __name__ == "__main__":
    anyio.run(main)

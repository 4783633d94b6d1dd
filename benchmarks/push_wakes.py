"""CPU per delivery when every push subscriber is woken for every message.

Run: ``python benchmarks/push_wakes.py`` (trio from the ``test`` or ``bench`` extra for the trio
rows). 50 subscribers each count ``--messages`` messages with ``async for``; the publisher
publishes one message at a time and yields after each, so that every subscriber waits, and is
woken, for every message: the worst case for a push channel, where the cost of a wake-up is all
there is. Each figure is CPU microseconds per delivery (``time.process_time`` over messages
times subscribers), the median of ``--runs`` runs, against a baseline measured in the same run:

- asyncio: one ``asyncio.Queue`` per subscriber, as broadcaster fans out;
- trio: one anyio memory object stream (buffer of every message) per subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel

from deliverymodes import Overflow, PushChannel, PushSubscriber

SUBSCRIBERS = 50

#: A subscriber's loop, started as a task.
Consumer = Callable[[], Coroutine[Any, Any, None]]


async def woken_deliveries(
    consumers: list[Consumer],
    publish: Callable[[int], object],
    messages: int,
) -> float:
    """CPU µs per delivery while ``consumers`` each take ``messages`` messages that ``publish``
    offers one at a time, yielding after each."""
    start = time.process_time()
    async with anyio.create_task_group() as tg:
        for consume in consumers:
            tg.start_soon(consume)
        await anyio.lowlevel.checkpoint()
        for number in range(messages):
            publish(number)
            await anyio.lowlevel.checkpoint()
    return (time.process_time() - start) / (messages * len(consumers)) * 1e6


async def push_channel(messages: int) -> float:
    channel = PushChannel[int](buffer_size=messages, overflow=Overflow.DROP_NEWEST)

    def consumer(subscriber: PushSubscriber[int]) -> Consumer:
        async def count() -> None:
            received = 0
            async for _ in subscriber:
                received += 1
                if received == messages:
                    return

        return count

    consumers = [consumer(channel.subscribe()) for _ in range(SUBSCRIBERS)]
    return await woken_deliveries(consumers, channel.publish_nowait, messages)


async def asyncio_queues(messages: int) -> float:
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(SUBSCRIBERS)]

    def consumer(queue: asyncio.Queue[int]) -> Consumer:
        async def count() -> None:
            for _ in range(messages):
                await queue.get()

        return count

    def publish(number: int) -> None:
        for queue in queues:
            queue.put_nowait(number)

    return await woken_deliveries([consumer(q) for q in queues], publish, messages)


async def memory_streams(messages: int) -> float:
    streams = [anyio.create_memory_object_stream[int](messages) for _ in range(SUBSCRIBERS)]

    def consumer(
        receive: anyio.abc.ObjectReceiveStream[int],
    ) -> Consumer:
        async def count() -> None:
            for _ in range(messages):
                await receive.receive()

        return count

    def publish(number: int) -> None:
        for send, _ in streams:
            send.send_nowait(number)

    return await woken_deliveries([consumer(r) for _, r in streams], publish, messages)


def median(
    make: Callable[[int], Awaitable[float]], messages: int, backend: str, runs: int
) -> float:
    return statistics.median(anyio.run(make, messages, backend=backend) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [("asyncio", "asyncio.Queue per subscriber", asyncio_queues)]
    try:
        import trio  # noqa: F401
    except ImportError:
        print("trio is not installed: asyncio only")
    else:
        rows.append(("trio", "memory object stream per subscriber", memory_streams))
    print(f"CPU µs per woken delivery, {SUBSCRIBERS} subscribers, median of {args.runs} runs")
    for backend, baseline_name, baseline in rows:
        base = median(baseline, args.messages, backend, args.runs)
        ours = median(push_channel, args.messages, backend, args.runs)
        print(
            f"{backend:8} {baseline_name:38} {base:5.2f}   PushChannel {ours:5.2f}"
            f"   ratio (baseline / PushChannel) {base / ours:4.2f}x"
        )


if __name__ == "__main__":
    main()

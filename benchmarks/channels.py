"""Throughput of the in-memory channels against raw anyio streams and broadcaster.

Run: ``python benchmarks/channels.py`` (needs the ``bench`` extra for trio and broadcaster).
Every figure is messages (or deliveries) per second for 64-byte payloads; each ratio compares it
with a baseline measured in the same run, on the same backend. ``--measure-lag`` makes the
channels measure delivery lag (``measure_lag=True``); ``--compare-lag`` runs each channel figure
alternately without and with it, ``--runs`` times each, and prints the medians side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import anyio

from deliverymodes import LongPollChannel, Overflow, PushChannel

PAYLOAD = b"x" * 64
BUFFER = 1000


async def raw_stream(count: int) -> float:
    """Baseline: one producer, one consumer, ``await send`` / ``await receive``."""
    send, receive = anyio.create_memory_object_stream[bytes](BUFFER)

    async def consume() -> None:
        async with receive:
            for _ in range(count):
                await receive.receive()

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            for _ in range(count):
                await send.send(PAYLOAD)
    return count / (time.perf_counter() - start)


async def broadcaster_fanout(count: int, subscribers: int) -> float:
    """Baseline: broadcaster's memory backend (asyncio only, unbounded queues)."""
    from broadcaster import Broadcast

    done = anyio.Event()
    ready = 0
    finished = 0

    async with Broadcast("memory://") as broadcast:

        async def consume(started: anyio.Event) -> None:
            nonlocal finished, ready
            async with broadcast.subscribe(channel="bench") as subscriber:
                ready += 1
                if ready == subscribers:
                    started.set()
                seen = 0
                async for _event in subscriber:
                    seen += 1
                    if seen == count:
                        break
            finished += 1
            if finished == subscribers:
                done.set()

        started = anyio.Event()
        async with anyio.create_task_group() as tg:
            for _ in range(subscribers):
                tg.start_soon(consume, started)
            await started.wait()
            start = time.perf_counter()
            for _ in range(count):
                await broadcast.publish(channel="bench", message=PAYLOAD)
            await done.wait()
            elapsed = time.perf_counter() - start
    return count * subscribers / elapsed


async def push_fanout(count: int, subscribers: int, measure_lag: bool = False) -> float:
    """PushChannel (BLOCK, buffer 1000) to ``subscribers`` subscribers, every message to each."""
    channel = PushChannel[bytes](
        buffer_size=BUFFER, overflow=Overflow.BLOCK, measure_lag=measure_lag
    )
    subs = [channel.subscribe() for _ in range(subscribers)]

    async def consume(index: int) -> None:
        async with subs[index] as subscriber:
            async for _message in subscriber:
                pass

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(subscribers):
            tg.start_soon(consume, index)
        async with channel:
            for _ in range(count):
                await channel.publish(PAYLOAD)
    elapsed = time.perf_counter() - start
    stats = channel.statistics()
    assert stats.delivered == count * subscribers, stats
    return count * subscribers / elapsed


async def longpoll_batches(count: int, batch: int, measure_lag: bool = False) -> float:
    """LongPollChannel: one producer; one consumer long-polls batches of ``batch`` messages."""
    channel = LongPollChannel[bytes](measure_lag=measure_lag)
    received = 0

    async def consume() -> None:
        nonlocal received
        cursor = 0
        while received < count:
            result = await channel.poll(cursor, max_messages=batch, max_wait=None)
            received += len(result.messages) + result.missed
            cursor = result.cursor

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        for _ in range(count):
            await channel.publish(PAYLOAD)
    elapsed = time.perf_counter() - start
    stats = channel.statistics()
    assert stats.missed == 0, stats
    return count / elapsed


def have_broadcaster() -> bool:
    try:
        import broadcaster  # noqa: F401
    except ImportError:
        print("broadcaster is not installed (pip install -e '.[bench]'): skipping its baseline")
        return False
    return True


def best(runs: int, make: Callable[[], Awaitable[float]], backend: str) -> float:
    async def measure() -> float:
        return await make()

    return max(anyio.run(measure, backend=backend) for _ in range(runs))


def compare_lag(runs: int, n: int, backends: list[str]) -> None:
    """Each channel figure with ``measure_lag`` off and on, in ``runs`` pairs of runs (which
    goes first alternates): the median rates, and the median change within a pair of the rate
    and of the CPU time the run took. The two runs of a pair are moments apart, so a busy host
    skews both alike; CPU time leaves out the time other processes held the CPU."""
    cases: list[tuple[str, Callable[[bool], Awaitable[float]]]] = [
        ("PushChannel, 1 sub", lambda lag: push_fanout(n, 1, lag)),
        ("PushChannel, 100 subs", lambda lag: push_fanout(n // 20, 100, lag)),
        ("PushChannel, 1000 subs", lambda lag: push_fanout(n // 200, 1000, lag)),
        ("LongPollChannel, batches of 100", lambda lag: longpoll_batches(n, 100, lag)),
    ]
    header = ("backend", "measurement", "lag off", "lag on", "rate", "CPU time")
    print("{:8} {:34} {:>12} {:>12} {:>8} {:>8}".format(*header))
    for backend in backends:
        for name, make in cases:
            runs_of: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for run in range(runs):
                first = bool(run % 2)
                for lag in (first, not first):
                    cpu = time.process_time()
                    rate = best(1, partial(make, lag), backend)
                    runs_of[lag].append((rate, time.process_time() - cpu))
            pairs = list(zip(runs_of[False], runs_of[True], strict=True))
            off = statistics.median(rate for rate, _cpu in runs_of[False])
            on = statistics.median(rate for rate, _cpu in runs_of[True])
            rate_change = statistics.median(b[0] / a[0] - 1 for a, b in pairs)
            cpu_change = statistics.median(b[1] / a[1] - 1 for a, b in pairs)
            print(
                f"{backend:8} {name:34} {off:12,.0f} {on:12,.0f} {rate_change:+8.1%} "
                f"{cpu_change:+8.1%}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per 1:1 run")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs per figure")
    parser.add_argument("--measure-lag", action="store_true", help="channels measure delivery lag")
    parser.add_argument(
        "--compare-lag", action="store_true", help="medians without and with --measure-lag"
    )
    args = parser.parse_args(argv)
    lag = args.measure_lag
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    n = args.messages
    if args.compare_lag:
        compare_lag(args.runs, n, backends)
        return 0
    rows: list[tuple[str, str, float, str, float]] = []
    for backend in backends:
        raw = best(args.runs, lambda: raw_stream(n), backend)
        rows.append((backend, "raw anyio stream (baseline)", raw, "raw stream", 1.0))
        fan_base = None
        if backend == "asyncio" and have_broadcaster():
            fan_base = best(args.runs, lambda: broadcaster_fanout(n // 20, 100), backend)
            rows.append((backend, "broadcaster, 100 subs (baseline)", fan_base, "broadcaster", 1.0))
        one = best(args.runs, lambda: push_fanout(n, 1, lag), backend)
        rows.append((backend, "PushChannel, 1 sub", one, "raw stream", one / raw))
        hundred = best(args.runs, lambda: push_fanout(n // 20, 100, lag), backend)
        if fan_base is not None:
            rows.append(
                (backend, "PushChannel, 100 subs", hundred, "broadcaster", hundred / fan_base)
            )
        else:
            rows.append((backend, "PushChannel, 100 subs", hundred, "raw stream", hundred / raw))
        thousand = best(args.runs, lambda: push_fanout(n // 200, 1000, lag), backend)
        rows.append((backend, "PushChannel, 1000 subs", thousand, "raw stream", thousand / raw))
        batches = best(args.runs, lambda: longpoll_batches(n, 100, lag), backend)
        rows.append(
            (backend, "LongPollChannel, batches of 100", batches, "raw stream", batches / raw)
        )
    print(f"{'backend':8} {'measurement':34} {'msg/s':>12} {'ratio':>8}  baseline")
    for backend, name, rate, against, ratio in rows:
        print(f"{backend:8} {name:34} {rate:12,.0f} {ratio:7.2f}x  {against}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Remote push, poll and long poll over loopback TCP, against raw anyio TCP baselines.

Run: ``python benchmarks/tcp.py``. One process, one event loop: server, publisher and client run
side by side, as do the baselines. Every figure is messages per second for 64-byte payloads (the
``BytesCodec``); ratios compare with the raw baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
from anyio.abc import SocketStream

from deliverymodes import (
    BytesCodec,
    LongPollChannel,
    PollChannel,
    PushChannel,
    Retention,
    connect_tcp,
    serve_tcp,
)

PAYLOAD = b"x" * 64
FRAME = struct.pack(">I", len(PAYLOAD)) + PAYLOAD
COALESCE = 1000  # frames per write in the coalesced baseline


async def count_frames(stream: SocketStream, count: int) -> None:
    """Read length-prefixed frames until ``count`` arrived, parsing each from whole reads."""
    buffer = b""
    seen = 0
    while seen < count:
        buffer += await stream.receive()
        position = 0
        while len(buffer) - position >= 4:
            (length,) = struct.unpack_from(">I", buffer, position)
            if len(buffer) - position - 4 < length:
                break
            position += 4 + length
            seen += 1
        buffer = buffer[position:]


async def raw_tcp(count: int, per_write: int) -> float:
    """Baseline: a server writes ``count`` frames, ``per_write`` frames per send."""
    done = anyio.Event()
    elapsed = 0.0

    async def handle(stream: SocketStream) -> None:
        nonlocal elapsed
        start = time.perf_counter()
        chunk = FRAME * per_write
        async with stream:
            for _ in range(count // per_write):
                await stream.send(chunk)
            await done.wait()
        elapsed = time.perf_counter() - start

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        async with await anyio.connect_tcp("127.0.0.1", port) as client:
            await count_frames(client, count)
            done.set()
        await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    await listener.aclose()
    return count / elapsed


async def remote_push(count: int, live: bool) -> float:
    """Remote push of ``count`` messages: published while it runs (live) or beforehand."""
    channel = PushChannel[bytes](buffer_size=count)
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"bench": channel}, codec=BytesCodec()))
        async with connect_tcp("127.0.0.1", port, codec=BytesCodec()) as remote:
            async with remote.push("bench").subscribe() as subscriber:

                async def publish() -> None:
                    for _ in range(count):
                        await channel.publish(PAYLOAD)

                if live:
                    start = time.perf_counter()
                    tg.start_soon(publish)
                else:
                    for _ in range(count):  # no yield: everything waits in the server's buffer
                        channel.publish_nowait(PAYLOAD)
                    start = time.perf_counter()
                for _ in range(count):
                    await subscriber.receive()
                elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return count / elapsed


async def remote_polling(count: int, long: bool, live: bool) -> tuple[float, float, int]:
    """Messages/s, requests per delivered message and missed, reading batches of up to 100."""
    retention = Retention(max_messages=count)
    channel: PollChannel[bytes] | LongPollChannel[bytes] = (
        LongPollChannel(retention) if long else PollChannel(retention)
    )
    requests = received = missed = 0
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"bench": channel}, codec=BytesCodec()))
        async with connect_tcp("127.0.0.1", port, codec=BytesCodec()) as remote:

            async def publish() -> None:
                for _ in range(count):
                    await channel.publish(PAYLOAD)

            if live:
                start = time.perf_counter()
                tg.start_soon(publish)
            else:
                for _ in range(count):
                    channel.publish_nowait(PAYLOAD)
                start = time.perf_counter()
            cursor = 0
            handle = remote.long_poll("bench") if long else remote.poll("bench")
            while received + missed < count:
                if long:
                    batch = await handle.poll(
                        cursor, min_messages=100, max_messages=100, max_wait=0.05
                    )
                else:
                    batch = await handle.poll(cursor, max_messages=100)
                requests += 1
                received += len(batch.messages)
                missed += batch.missed
                cursor = batch.cursor
            elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return received / elapsed, requests / max(received, 1), missed


def best(runs: int, make: Callable[[], Awaitable[float]], backend: str) -> float:
    async def measure() -> float:
        return await make()

    return max(anyio.run(measure, backend=backend) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs per figure")
    args = parser.parse_args(argv)
    n, backend = args.messages - args.messages % COALESCE, args.backend

    one = best(args.runs, lambda: raw_tcp(n // 10, 1), backend)
    coalesced = best(args.runs, lambda: raw_tcp(n, COALESCE), backend)
    rows: list[tuple[str, float, float | None]] = [
        ("raw TCP, one write per frame", one, None),
        (f"raw TCP, {COALESCE} frames per write", coalesced, None),
    ]
    missed = 0
    for live in (False, True):
        when = "published during the run" if live else "already published"
        push = best(args.runs, lambda: remote_push(n, live), backend)  # noqa: B023
        rows.append((f"remote push, {when}", push, None))
        for long in (False, True):
            runs = [
                anyio.run(remote_polling, n, long, live, backend=backend) for _ in range(args.runs)
            ]
            rate, per_message, lost = max(runs)
            missed += lost
            name = "long poll, batches of 100" if long else "poll, batches of up to 100"
            rows.append((f"remote {name}, {when}", rate, per_message))

    print(f"backend {backend}, {n} messages of {len(PAYLOAD)} bytes over loopback TCP\n")
    print(
        f"{'measurement':58} {'msg/s':>10} {'vs 1/write':>10} {'vs coalesced':>12} {'req/msg':>8}"
    )
    for name, rate, per_message in rows:
        requests = "" if per_message is None else f"{per_message:8.3f}"
        print(f"{name:58} {rate:10,.0f} {rate / one:9.2f}x {rate / coalesced:11.3f}x {requests}")
    print(f"\nmessages missed by retention in all runs: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

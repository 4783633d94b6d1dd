"""One worker process of the push fan-out figure of ``benchmarks/redis.py``; not run by hand.

It opens ``--subscribers`` subscribers to one Redis-backed push channel (broadcaster's ``redis://``
backend, or the library's ``RedisPushChannel``), prints ``ready``, and lets each subscriber count
what it receives with ``async for``, as an application's loop would (no timeout per message),
until it has all ``--messages``; a watchdog ends the run after ``--idle`` seconds without a
message once they have started, or ``--timeout`` seconds without any. It then prints one JSON
line: the messages received over all subscribers, those the library dropped, the
``time.monotonic()`` of the last one received (the same clock in every process on Linux) and the
CPU seconds it used since it was ready. It keeps its connections open until a line (or end of
file) on stdin, so that the parent can count them, then exits.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a script named redis.py; keep it from shadowing the redis package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import json
import time
from collections.abc import AsyncIterable
from contextlib import AsyncExitStack
from typing import Any

import anyio

from deliverymodes import Overflow


class Tally:
    """Messages received by all subscribers of this process, and when the last one came."""

    def __init__(self) -> None:
        self.received = 0
        self.last_at = 0.0
        self.cpu_at_ready = 0.0


async def count_messages(
    messages: AsyncIterable[object], args: argparse.Namespace, tally: Tally
) -> None:
    """Receive until ``args.messages`` messages came, as an application's subscriber loop
    would (``async for``, no timeout per message: :func:`watch` ends a run that stalls)."""
    wanted = args.messages
    if wanted <= 0:
        return
    received = 0
    async for _ in messages:
        tally.received += 1
        tally.last_at = time.monotonic()
        received += 1
        if received == wanted:
            return


async def watch(tally: Tally, args: argparse.Namespace, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` once nothing came for ``args.timeout`` seconds before the first
    message, or ``args.idle`` seconds since the last one (lost messages end the run)."""
    started = time.monotonic()
    while True:
        await anyio.sleep(0.05)
        now = time.monotonic()
        if tally.last_at == 0.0 and now - started > args.timeout:
            break
        if tally.last_at and now - tally.last_at > args.idle:
            break
    scope.cancel()


async def count_all(
    subscribers: list[AsyncIterable[object]], args: argparse.Namespace, tally: Tally
) -> None:
    """Every subscriber counting at once, under :func:`watch`."""
    async with anyio.create_task_group() as outer:
        outer.start_soon(watch, tally, args, outer.cancel_scope)
        async with anyio.create_task_group() as counting:
            for subscriber in subscribers:
                counting.start_soon(count_messages, subscriber, args, tally)
        outer.cancel_scope.cancel()  # all counted: stop watching


async def wait_for_parent(timeout: float) -> None:
    """Until the parent writes a line or closes stdin (it counts our connections meanwhile)."""
    with anyio.move_on_after(timeout):
        await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)


def say(line: str) -> None:
    print(line, flush=True)


async def run_broadcaster(args: argparse.Namespace, tally: Tally) -> int:
    """broadcaster 0.3.1, ``redis://``: one Broadcast per process, its subscribers on it."""
    from broadcaster import Broadcast

    async with Broadcast(args.url) as broadcast, AsyncExitStack() as stack:
        subscribers = [
            await stack.enter_async_context(broadcast.subscribe(channel=args.key))
            for _ in range(args.subscribers)
        ]
        tally.cpu_at_ready = time.process_time()
        say("ready")
        await count_all(subscribers, args, tally)
        report(tally, dropped=0)
        await wait_for_parent(args.timeout)
    return 0


async def run_library(args: argparse.Namespace, tally: Tally) -> int:
    """``RedisPushChannel`` with a buffer of every message (DROP_NEWEST: drops are counted)."""
    from deliverymodes.redis import RedisClient, RedisPushChannel

    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(RedisClient(args.url))
        channel: Any = await stack.enter_async_context(
            RedisPushChannel(
                client, args.key, buffer_size=args.messages, overflow=Overflow.DROP_NEWEST
            )
        )
        subscribers = [
            await stack.enter_async_context(channel.subscribe()) for _ in range(args.subscribers)
        ]
        tally.cpu_at_ready = time.process_time()
        say("ready")
        await count_all(subscribers, args, tally)
        dropped = sum(subscriber.statistics().dropped for subscriber in subscribers)
        report(tally, dropped=dropped)
        await wait_for_parent(args.timeout)
    return 0


def report(tally: Tally, dropped: int) -> None:
    cpu = time.process_time() - tally.cpu_at_ready
    fields = {"received": tally.received, "dropped": dropped, "last_at": tally.last_at, "cpu": cpu}
    say(json.dumps(fields))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", choices=["broadcaster", "library"], required=True)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--messages", type=int, required=True, help="expected per subscriber")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before the first")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds between two, at most")
    args = parser.parse_args(argv)
    if args.side == "broadcaster" and args.backend != "asyncio":
        parser.error("broadcaster runs on asyncio only")
    run = run_broadcaster if args.side == "broadcaster" else run_library
    return anyio.run(run, args, Tally(), backend=args.backend)


if __name__ == "__main__":
    sys.exit(main())

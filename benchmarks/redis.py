"""The Redis channels of ``deliverymodes.redis`` against redis-py and broadcaster, side by side.

Run: ``python benchmarks/redis.py`` (needs Debian's ``redis-server``, and the ``bench`` and
``redis`` extras: redis-py, broadcaster, trio). The script starts a private ``redis-server`` on a
free loopback TCP port (no persistence) and stops it at the end; every figure is the median of
``--runs`` runs, and each ratio compares the library with a baseline measured in the same run
(runs alternate: baseline, library on asyncio, library on trio). The baselines use redis-py's
asyncio client (and broadcaster, built on it), so they always run on asyncio; the library runs on
each ``--backend``. Payloads are a 100-character string (the library encodes it as JSON: 102
bytes; redis-py sends the 100 bytes as they are).

1. Publish one at a time: ``await channel.publish(payload)`` in a loop, on a ``RedisPollChannel``
   and on a ``RedisPushChannel``, against redis-py's ``await r.xadd(stream, {"p": payload})`` in
   a loop. One round trip per message on both sides; the library's publish also assigns the
   offset (a Lua script) and, for push, notifies subscribers. For reference, a third row sends
   the baseline's plain XADD with the library's own client (``RedisClient.execute``): what the
   client costs without the channel's script.
2. Concurrent publishes: 100 tasks publish ``--messages``/100 messages each, concurrently, on one
   ``RedisPollChannel`` (the client auto-pipelines what they send at the same time). Compared with
   the library's own one-at-a-time rate on the same backend, with redis-py one at a time, and with
   redis-py driven the same way (100 tasks on one client, whose pool opens up to 100 connections).
3. Long poll, batches of 100, end to end as a reader sees it: a publisher task writes
   ``--messages`` messages, 100 per round trip on both sides (redis-py: a pipeline of 100 XADDs;
   the library: ``publish_many`` of 100, one script run), while the
   reader reads them from the start of the stream in batches of up to 100 (redis-py: ``XREAD
   COUNT 100 BLOCK 1000 STREAMS s <last id>``, answered as soon as one message is there; the
   library: ``RedisLongPollChannel.poll(cursor, min_messages=100, max_messages=100)``). The clock
   runs from the first publish to the last message read; each reader has a client (connection)
   of its own, as it would in another process. A second row reads the same number of messages
   already published before the clock starts: the clock runs from opening the reader (redis-py:
   its connection; the library: a new client and channel, whose opening reads the stream into
   the channel's view in this process) to the last message read, as a late reader sees it.
4. Push fan-out to 100 subscribers in two worker processes (50 each, ``redis_fanout_worker.py``):
   the parent publishes ``--fanout-messages`` messages one at a time, and the clock runs until
   the last subscriber received the last one (worker clocks are the same ``time.monotonic()``).
   The baseline is broadcaster 0.3.1's ``redis://`` backend (one ``Broadcast`` per process, Redis
   Pub/Sub, unbounded queues); the library is one ``RedisPushChannel`` per process with a buffer
   of every message (``Overflow.DROP_NEWEST``, so a drop would be counted, not waited for). Each
   subscriber counts what it receives with ``async for``, as an application's loop would. The
   figure is deliveries per second; messages lost (never received) and dropped are reported, and
   the CPU seconds the publisher and the two workers used (the machine may have few cores).
5. Redis connections each process holds during the fan-out: ``CLIENT LIST`` on the server while
   everything is connected, each connection attributed to a process by its local TCP port (read
   from ``/proc``, Linux only), without the script's own administrative connection.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds this script, named redis.py; keep it from shadowing the redis package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import redis
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from deliverymodes import Retention

PAYLOAD = "x" * 100
BATCH = 100  # messages per long-poll batch, and per pipelined round trip of its publisher
TASKS = 100  # concurrent publishing tasks
WORKERS = 2  # processes of the fan-out figure
SUBSCRIBERS = 50  # subscribers in each of them
WORKER = Path(__file__).with_name("redis_fanout_worker.py")
START_TIMEOUT = 30.0  # seconds for redis-server or a worker to be ready
RUN_TIMEOUT = 60.0  # seconds for any one measurement
SIDES = ("baseline", "asyncio", "trio")


# -- The private redis-server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis() -> Iterator[int]:
    """Run a ``redis-server`` of our own on a free loopback port; yields the port."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        log = Path(folder) / "redis.log"
        command = [
            server,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", folder,
            "--logfile", str(log),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers_ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{said}")
                time.sleep(0.02)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fresh_key(figure: str) -> str:
    return f"bench:{figure}:{uuid.uuid4().hex[:8]}"


# -- Figure 1 and 2: publishing -------------------------------------------------------------------


async def redis_py_publish(url: str, count: int) -> float:
    """Baseline: ``await r.xadd(stream, {"p": payload})``, one at a time."""
    from redis.asyncio import Redis

    key = fresh_key("xadd")
    async with Redis.from_url(url) as client:
        await client.xadd(key, {"p": PAYLOAD})  # connected, and the stream exists
        start = time.perf_counter()
        for _ in range(count):
            await client.xadd(key, {"p": PAYLOAD})
        return count / (time.perf_counter() - start)


async def redis_py_concurrent(url: str, count: int) -> float:
    """Baseline: ``TASKS`` tasks on one redis-py client (its pool: a connection per task)."""
    from redis.asyncio import Redis

    key = fresh_key("xadd-tasks")
    async with Redis.from_url(url) as client:

        async def publish(messages: int) -> None:
            for _ in range(messages):
                await client.xadd(key, {"p": PAYLOAD})

        async with anyio.create_task_group() as tg:  # warm-up: the pool opens its connections
            for _ in range(TASKS):
                tg.start_soon(publish, 1)
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(TASKS):
                tg.start_soon(publish, count // TASKS)
        return count // TASKS * TASKS / (time.perf_counter() - start)


@asynccontextmanager
async def open_channel(kind: str, url: str, key: str) -> AsyncIterator[Any]:
    """A library channel of ``kind`` (``poll``, ``push`` or ``longpoll``), entered, on a
    ``RedisClient`` of its own (as an application sharing one client between channels would)."""
    from deliverymodes.redis import (
        RedisClient,
        RedisLongPollChannel,
        RedisPollChannel,
        RedisPushChannel,
    )

    async with RedisClient(url) as client:
        if kind == "poll":
            channel: Any = RedisPollChannel(client, key)
        elif kind == "push":
            channel = RedisPushChannel(client, key)
        else:  # keeps everything the long-poll figure publishes (it checks that none was missed)
            channel = RedisLongPollChannel(client, key, retention=Retention(max_messages=1_000_000))
        async with channel:
            yield channel


async def library_publish(url: str, kind: str, count: int) -> float:
    """``await channel.publish(payload)``, one at a time."""
    async with open_channel(kind, url, fresh_key(f"publish-{kind}")) as channel:
        await channel.publish(PAYLOAD)  # connected, and the script loaded
        start = time.perf_counter()
        for _ in range(count):
            await channel.publish(PAYLOAD)
        return count / (time.perf_counter() - start)


async def library_client_xadd(url: str, count: int) -> float:
    """For reference: the library's own client sending the baseline's plain XADD, one at a
    time (what the client costs, without the channel's Lua script)."""
    from deliverymodes.redis import RedisClient

    key = fresh_key("client-xadd")
    async with RedisClient(url) as client:
        await client.execute("XADD", key, "*", "p", PAYLOAD)
        start = time.perf_counter()
        for _ in range(count):
            await client.execute("XADD", key, "*", "p", PAYLOAD)
        return count / (time.perf_counter() - start)


async def publish_concurrently(channel: Any, count: int) -> None:
    """``TASKS`` tasks publishing ``count // TASKS`` messages each on ``channel``."""

    async def publish(messages: int) -> None:
        for _ in range(messages):
            await channel.publish(PAYLOAD)

    async with anyio.create_task_group() as tg:
        for _ in range(TASKS):
            tg.start_soon(publish, count // TASKS)


async def library_concurrent(url: str, count: int) -> float:
    """``TASKS`` tasks publishing at once on one ``RedisPollChannel``."""
    async with open_channel("poll", url, fresh_key("publish-tasks")) as channel:
        await channel.publish(PAYLOAD)
        start = time.perf_counter()
        await publish_concurrently(channel, count)
        return count // TASKS * TASKS / (time.perf_counter() - start)


# -- Figure 3: long poll ---------------------------------------------------------------------------


async def redis_py_long_poll(url: str, count: int, live: bool) -> float:
    """Baseline: a pipelining publisher and an ``XREAD COUNT 100 BLOCK 1000`` reader."""
    from redis.asyncio import Redis

    key = fresh_key("xread")
    async with Redis.from_url(url) as writer, Redis.from_url(url) as reader:
        await writer.ping()
        if live:
            await reader.ping()  # otherwise it connects on the clock, as the library's reader

        async def publish() -> None:
            for _ in range(count // BATCH):
                async with writer.pipeline(transaction=False) as pipe:
                    for _ in range(BATCH):
                        pipe.xadd(key, {"p": PAYLOAD})
                    await pipe.execute()

        async with anyio.create_task_group() as tg:
            if live:
                start = time.perf_counter()
                tg.start_soon(publish)
            else:
                await publish()
                start = time.perf_counter()
            last: bytes | str = "0-0"
            received = 0
            with anyio.fail_after(RUN_TIMEOUT):
                while received < count // BATCH * BATCH:
                    for _stream, entries in await reader.xread({key: last}, BATCH, 1000) or []:
                        received += len(entries)
                        last = entries[-1][0]
            elapsed = time.perf_counter() - start
    return received / elapsed


async def long_poll_reader(channel: Any, count: int) -> int:
    """Long-poll batches of ``BATCH`` from offset 0 until ``count`` messages came; returns them."""
    cursor = received = missed = 0
    with anyio.fail_after(RUN_TIMEOUT):
        while received + missed < count:
            batch = await channel.poll(cursor, min_messages=BATCH, max_messages=BATCH, max_wait=1.0)
            received += len(batch.messages)
            missed += batch.missed
            cursor = batch.cursor
    if missed:
        raise RuntimeError(f"the long-poll reader missed {missed} messages")
    return received


async def publish_in_batches(channel: Any, count: int) -> None:
    """``count`` messages, ``BATCH`` per ``publish_many`` (one round trip each), as the
    baseline's publisher pipelines its XADDs."""
    for _ in range(count // BATCH):
        await channel.publish_many([PAYLOAD] * BATCH)


async def library_long_poll(url: str, count: int, live: bool) -> float:
    """A publisher of batches of 100 (``publish_many``); a reader long-polling batches of 100
    on a channel object and a client of its own, as in another process. For the
    already-published row the reader opens once the publisher is done, on the clock: opening
    reads the stream into the channel's view in this process, from which its polls are then
    answered."""
    key, count = fresh_key("longpoll"), count // TASKS * TASKS
    async with AsyncExitStack() as stack:
        publisher = await stack.enter_async_context(open_channel("longpoll", url, key))
        if live:
            reader = await stack.enter_async_context(open_channel("longpoll", url, key))
            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_in_batches, publisher, count)
                received = await long_poll_reader(reader, count)
        else:
            await publish_in_batches(publisher, count)
            start = time.perf_counter()
            reader = await stack.enter_async_context(open_channel("longpoll", url, key))
            received = await long_poll_reader(reader, count)
        elapsed = time.perf_counter() - start
    return received / elapsed


# -- Figure 4 and 5: fan-out to two processes ------------------------------------------------------


@dataclass
class Fanout:
    """One fan-out run: deliveries per second, losses, connections per process, and the CPU
    seconds the publisher and the workers (together) used from the first publish."""

    rate: float
    lost: int
    dropped: int
    connections: dict[str, int]
    cpu: tuple[float, float]


def socket_ports(pids: dict[int, str]) -> dict[int, str]:
    """The local TCP ports of the sockets the processes ``pids`` hold -> the process's name."""
    inodes: dict[str, str] = {}
    for pid, name in pids.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[len("socket:[") : -1]] = name
    ports: dict[int, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports[int(fields[1].rsplit(":", 1)[1], 16)] = inodes[fields[9]]
    return ports


def connections_per_process(admin: redis.Redis, pids: dict[int, str]) -> dict[str, int]:
    """``CLIENT LIST``, each connection counted for the process holding it (but ours)."""
    own = admin.client_id()
    ports = socket_ports(pids)
    counts = Counter({name: 0 for name in pids.values()})
    for client in admin.client_list():
        if int(client["id"]) != own:
            counts[ports.get(int(client["addr"].rsplit(":", 1)[1]), "other")] += 1
    return dict(counts)


async def wait_for_subscriptions(admin: redis.Redis, key: str, at_least: int) -> None:
    """Until ``at_least`` connections subscribed to the Pub/Sub channel ``key``."""
    pause = 0.01
    for _ in range(int(START_TIMEOUT / pause)):
        if admin.pubsub_numsub(key)[0][1] >= at_least:
            return
        await anyio.sleep(pause)
    raise TimeoutError(f"the fan-out workers did not subscribe to {key!r} in time")


async def read_line(stream: BufferedByteReceiveStream, timeout: float) -> str:
    try:
        with anyio.fail_after(timeout):
            return (await stream.receive_until(b"\n", 1 << 16)).decode()
    except (anyio.EndOfStream, anyio.IncompleteRead) as error:
        raise RuntimeError("a fan-out worker exited early (its error is above)") from error


@asynccontextmanager
async def publisher(side: str, url: str, key: str) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """What the parent publishes with: a ``Broadcast`` or a ``RedisPushChannel``."""
    if side == "broadcaster":
        from broadcaster import Broadcast

        async with Broadcast(url) as broadcast:
            yield partial(broadcast.publish, channel=key, message=PAYLOAD)
    else:
        async with open_channel("push", url, key) as channel:
            yield partial(channel.publish, PAYLOAD)


async def stop(process: Process) -> None:
    """Let a worker close its connections and exit; kill it if it does not in time."""
    try:
        if process.stdin is not None:
            await process.stdin.send(b"exit\n")
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    with anyio.move_on_after(START_TIMEOUT):
        await process.wait()
        return
    process.kill()
    with anyio.move_on_after(START_TIMEOUT):
        await process.wait()


async def fanout(side: str, backend: str, url: str, admin: redis.Redis, count: int) -> Fanout:
    """``count`` messages published to ``WORKERS`` processes of ``SUBSCRIBERS`` subscribers."""
    key = fresh_key("fanout")
    command = [
        sys.executable, str(WORKER),
        "--side", side, "--backend", backend, "--url", url, "--key", key,
        "--subscribers", str(SUBSCRIBERS), "--messages", str(count),
        "--timeout", str(START_TIMEOUT),
    ]  # fmt: skip
    async with publisher(side, url, key) as publish, AsyncExitStack() as stack:
        processes: list[Process] = []
        for _ in range(WORKERS):
            process = await anyio.open_process(command, stderr=None)
            stack.push_async_callback(stop, process)
            processes.append(process)
        outputs = [BufferedByteReceiveStream(process.stdout) for process in processes]  # type: ignore[arg-type]
        for output in outputs:
            if (line := await read_line(output, START_TIMEOUT)) != "ready":
                raise RuntimeError(f"a fan-out worker said {line!r} instead of 'ready'")
        await wait_for_subscriptions(admin, key, WORKERS)
        start, cpu = time.monotonic(), time.process_time()
        with anyio.fail_after(RUN_TIMEOUT):
            for _ in range(count):
                await publish()
        reports = [json.loads(await read_line(output, RUN_TIMEOUT)) for output in outputs]
        cpu = time.process_time() - cpu
        names = {os.getpid(): "publisher"}
        names.update(
            {process.pid: f"worker {index + 1}" for index, process in enumerate(processes)}
        )
        connections = connections_per_process(admin, names)
    received = sum(report["received"] for report in reports)
    elapsed = max(report["last_at"] for report in reports) - start
    return Fanout(
        rate=received / elapsed if elapsed > 0 else 0.0,
        lost=count * WORKERS * SUBSCRIBERS - received,
        dropped=sum(report["dropped"] for report in reports),
        connections=connections,
        cpu=(cpu, sum(report["cpu"] for report in reports)),
    )


# -- Runs, medians and the table -------------------------------------------------------------------


@dataclass
class Samples:
    """Every run's figures, by measurement and side (``baseline``, ``asyncio``, ``trio``)."""

    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    lost: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    connections: dict[str, dict[str, int]] = field(default_factory=dict)
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, name: str, side: str, rate: float) -> None:
        self.rates.setdefault((name, side), []).append(rate)

    def median(self, name: str, side: str) -> float | None:
        rates = self.rates.get((name, side))
        return statistics.median(rates) if rates else None


def library_available() -> bool:
    try:
        return importlib.util.find_spec("deliverymodes.redis") is not None
    except ImportError:
        return False


def measure(
    samples: Samples, name: str, side: str, make: Callable[[], Awaitable[float]], backend: str
) -> None:
    async def run() -> float:
        with anyio.fail_after(RUN_TIMEOUT):
            return await make()

    rate = anyio.run(run, backend=backend)
    samples.add(name, side, rate)
    print(f"  {name:14} {side:9} {rate:12,.0f}", flush=True)


def measure_fanout(
    samples: Samples, side: str, url: str, admin: redis.Redis, count: int, *, backend: str
) -> None:
    async def run() -> Fanout:
        with anyio.fail_after(2 * START_TIMEOUT + 2 * RUN_TIMEOUT):
            who = "broadcaster" if side == "baseline" else "library"
            return await fanout(who, backend, url, admin, count)

    result = anyio.run(run, backend=backend)
    samples.add("fanout", side, result.rate)
    samples.lost[side] += result.lost
    samples.dropped[side] += result.dropped
    samples.connections[side] = result.connections
    samples.cpu.setdefault(side, []).append(result.cpu)
    print(
        f"  {'fanout':14} {side:9} {result.rate:12,.0f}  lost {result.lost}, "
        f"dropped {result.dropped}, connections {result.connections}, "
        f"CPU s {result.cpu[0]:.2f} + {result.cpu[1]:.2f}",
        flush=True,
    )


def one_run(
    samples: Samples, url: str, admin: redis.Redis, args: argparse.Namespace, backends: list[str]
) -> None:
    """Every measurement once: the baseline on asyncio, then the library on each backend."""
    n, library = args.messages, library_available()
    cases: list[tuple[str, Callable[[], Awaitable[float]] | None, Callable[[], Awaitable[float]]]]
    cases = [
        (
            "publish-poll",
            partial(redis_py_publish, url, n),
            partial(library_publish, url, "poll", n),
        ),
        ("publish-push", None, partial(library_publish, url, "push", n)),
        ("client-xadd", None, partial(library_client_xadd, url, n)),
        ("concurrent", partial(redis_py_concurrent, url, n), partial(library_concurrent, url, n)),
        (
            "longpoll-live",
            partial(redis_py_long_poll, url, n, True),
            partial(library_long_poll, url, n, True),
        ),
        (
            "longpoll-done",
            partial(redis_py_long_poll, url, n, False),
            partial(library_long_poll, url, n, False),
        ),
    ]
    for name, baseline, ours in cases:
        if baseline is not None:
            measure(samples, name, "baseline", baseline, "asyncio")
        for backend in backends if library else []:
            measure(samples, name, backend, ours, backend)
        admin.flushdb()
    measure_fanout(samples, "baseline", url, admin, args.fanout_messages, backend="asyncio")
    for backend in backends if library else []:
        measure_fanout(samples, backend, url, admin, args.fanout_messages, backend=backend)
    admin.flushdb()


def rate_cell(value: float | None, label: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" + (f" ({label})" if label else "")


def ratio_cell(value: float | None, against: float | None) -> str:
    if value is None or not against:
        return "-"
    return f"{value / against:.2f}x"


def table(samples: Samples, backends: list[str]) -> list[list[str]]:
    """The rows of the final table: figure, baseline, then value and ratio per backend."""
    rows: list[list[str]] = []
    comparisons = [
        ("publish one at a time, RedisPollChannel (msg/s)", "publish-poll", "publish-poll", None),
        ("publish one at a time, RedisPushChannel (msg/s)", "publish-poll", "publish-push", None),
        ("for reference: RedisClient.execute('XADD')", "publish-poll", "client-xadd", None),
        ("100 tasks publishing vs one at a time (msg/s)", None, "concurrent", "publish-poll"),
        ("100 tasks publishing vs redis-py 1 at a time", "publish-poll", "concurrent", None),
        ("100 tasks publishing vs redis-py 100 tasks", "concurrent", "concurrent", None),
        ("long poll, 100/batch, published meanwhile", "longpoll-live", "longpoll-live", None),
        ("long poll, 100/batch, already published", "longpoll-done", "longpoll-done", None),
        ("push fan-out, 100 subs in 2 procs (deliv./s)", "fanout", "fanout", None),
    ]
    labels = {
        "publish-poll": "redis-py XADD",
        "concurrent": "redis-py, pool",
        "longpoll-live": "redis-py XREAD",
        "longpoll-done": "redis-py XREAD",
        "fanout": "broadcaster",
    }
    for title, base_name, ours, own_base in comparisons:
        if base_name is not None:
            base = samples.median(base_name, "baseline")
            row = [title, rate_cell(base, labels[base_name])]
        else:
            row = [title, "library 1 at a time"]
        for backend in backends:
            value = samples.median(ours, backend)
            against = samples.median(own_base, backend) if own_base else base
            row += [rate_cell(value), ratio_cell(value, against)]
        rows.append(row)
    losses = ["fan-out: lost / dropped, all runs", f"{samples.lost['baseline']} / -"]
    for backend in backends:
        done = ("fanout", backend) in samples.rates
        losses += [f"{samples.lost[backend]} / {samples.dropped[backend]}" if done else "-", ""]
    rows.append(losses)
    cpu = ["fan-out CPU seconds: publisher, workers", cpu_cell(samples, "baseline")]
    for backend in backends:
        cpu += [cpu_cell(samples, backend), ""]
    rows.append(cpu)
    connections = ["Redis connections: publisher, workers", connection_cell(samples, "baseline")]
    for backend in backends:
        connections += [connection_cell(samples, backend), ""]
    rows.append(connections)
    return rows


def cpu_cell(samples: Samples, side: str) -> str:
    runs = samples.cpu.get(side)
    if not runs:
        return "-"
    publisher = statistics.median(run[0] for run in runs)
    workers = statistics.median(run[1] for run in runs)
    return f"{publisher:.2f}, {workers:.2f}"


def connection_cell(samples: Samples, side: str) -> str:
    counts = samples.connections.get(side)
    if counts is None:
        return "-"
    workers = [counts.get(f"worker {index + 1}", 0) for index in range(WORKERS)]
    other = f" +{counts['other']} other" if counts.get("other") else ""
    return f"{counts.get('publisher', 0)}, " + "+".join(map(str, workers)) + other


def print_table(rows: list[list[str]], backends: list[str]) -> None:
    header = ["figure", "baseline"]
    for backend in backends:
        header += [f"library({backend})", "ratio"]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument("--messages", type=int, default=2000, help="per publish/long-poll run")
    parser.add_argument("--fanout-messages", type=int, default=2000, help="per fan-out run")
    parser.add_argument("--runs", type=int, default=5, help="the median of this many runs")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.fanout_messages, args.runs = 500, 200, 1
    args.messages = max(TASKS, args.messages // TASKS * TASKS)
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    if not library_available():
        print("deliverymodes.redis is not importable: measuring the baselines only")
    samples = Samples()
    with private_redis() as port:
        url = f"redis://127.0.0.1:{port}/0"
        with redis.Redis(host="127.0.0.1", port=port) as admin:
            for run in range(args.runs):
                print(f"run {run + 1} of {args.runs}", flush=True)
                one_run(samples, url, admin, args, backends)
    print(
        f"\nmedians of {args.runs} runs; {args.messages} messages per publish and long-poll run, "
        f"{args.fanout_messages} per fan-out run to {WORKERS}x{SUBSCRIBERS} subscribers; "
        f"payload {len(PAYLOAD)} characters\n"
    )
    print_table(table(samples, backends), backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())

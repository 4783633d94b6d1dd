"""SSE, long poll and poll over HTTP: what each costs the server per delivered message.

Run: ``python benchmarks/http.py`` (needs the ``bench`` extra: uvicorn and httpx). The server
(uvicorn, in its own process, so that its CPU time can be read from ``/proc``) publishes 64-byte
messages at ``--rate`` per second; ``--clients`` clients read them by SSE, by long poll and by
poll, one model at a time, for ``--seconds`` each. A minimal raw ASGI endpoint answering 64 bytes
is the per-request baseline. Every client checks it lost nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a script named http.py; keep it from shadowing the standard library's http
# package (which httpx and uvicorn import) when a script here runs.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import json
import os
import re
import socket
import subprocess
import time
from contextlib import aclosing
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from deliverymodes import SseParser

HERE = Path(__file__).resolve().parent

# Thresholds chosen for 100 messages/s. SSE and long poll hold a batch until 10 messages are
# pending or 100 ms have passed (what a live page can afford), or, for throughput, 50 messages
# or 500 ms. Poll as the library's poll subscriber does: at once after an answer with messages,
# after the poll interval (the default 100 ms, or 10 ms) after an empty one.
MODELS: dict[str, dict[str, Any]] = {
    "sse 10/100ms": {"min_messages": 10, "wait": 0.1},
    "sse 50/500ms": {"min_messages": 50, "wait": 0.5},
    "long poll 10/100ms": {"min_messages": 10, "wait": 0.1, "max_messages": 500},
    "long poll 50/500ms": {"min_messages": 50, "wait": 0.5, "max_messages": 500},
    "poll 100 ms": {"interval": 0.1, "max_messages": 500},
    "poll 10 ms": {"interval": 0.01, "max_messages": 500},
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.delivered = 0
        self.bytes = 0
        self.lost = 0
        self.gaps = 0


async def head(client: httpx.AsyncClient) -> int:
    batch = (await client.get("/feed", params={"cursor": "latest"})).json()
    cursor: int = batch["cursor"]
    return cursor


def account(tally: Tally, batch: dict[str, Any], cursor: int) -> int:
    offsets = [m["offset"] for m in batch["messages"]]
    if offsets and offsets != list(range(cursor, cursor + len(offsets))):
        tally.gaps += 1
    tally.lost += batch["missed"]
    tally.delivered += len(offsets)
    next_cursor: int = batch["cursor"]
    return next_cursor


async def sse_client(
    client: httpx.AsyncClient, tally: Tally, start: int, stop: float, thresholds: dict[str, Any]
) -> None:
    expected = start
    params = {"cursor": start, **thresholds}
    async with client.stream("GET", "/feed/events", params=params) as response:
        tally.requests += 1
        parser = SseParser()
        async with aclosing(response.aiter_bytes()) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                tally.bytes += len(chunk)
                for event in parser.feed(chunk):
                    if event.event == "message":
                        offset = int(event.id or -1)
                        if offset != expected:
                            tally.gaps += 1
                        expected = offset + 1
                        tally.delivered += 1
                    elif event.event == "missed":
                        tally.lost += 1
                if time.monotonic() >= stop:
                    return


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client (GET, Content-Length bodies): cheap enough that the
    server, not the load generator, is what a polling benchmark measures."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def get(self, target: str) -> tuple[int, bytes]:
        """The bytes on the wire for one request and its answer, and the answer's body."""
        request = f"GET {target} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
        await self.stream.send(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)content-length: *(\d+)", head)
        assert found is not None, head
        length = int(found.group(1))
        while len(rest) < length:
            rest += await self.stream.receive()
        body, self.buffer = rest[:length], rest[length:]
        return len(request) + len(head) + 4 + length, body


async def polling_client(
    port: int, tally: Tally, start: int, stop: float, params: dict[str, Any]
) -> None:
    cursor = start
    interval = params.pop("interval", None)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        client = RawHttp(stream)
        while time.monotonic() < stop:
            query = urlencode({"cursor": cursor, **params})
            size, body = await client.get(f"/feed?{query}")
            tally.requests += 1
            tally.bytes += size
            batch = json.loads(body)
            cursor = account(tally, batch, cursor)
            if interval and not batch["messages"]:
                # As the library's poll subscriber does: wait only after an empty answer.
                await anyio.sleep(interval)


async def raw_client(port: int, tally: Tally, stop: float) -> None:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        client = RawHttp(stream)
        while time.monotonic() < stop:
            size, _ = await client.get("/raw")
            tally.requests += 1
            tally.bytes += size


async def run_phase(
    url: str, port: int, pid: int, model: str, *, clients: int, seconds: float
) -> dict[str, Any]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        start_cursor = await head(client)
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        stop = started + seconds
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                if model == "raw":
                    tg.start_soon(raw_client, port, tally, stop)
                elif model.startswith("sse"):
                    tg.start_soon(sse_client, client, tally, start_cursor, stop, MODELS[model])
                else:
                    params = dict(MODELS[model])
                    tg.start_soon(polling_client, port, tally, start_cursor, stop, params)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before
    per = tally.delivered or tally.requests
    return {
        "model": model,
        "deliveries/s": tally.delivered / elapsed,
        "requests/s": tally.requests / elapsed,
        "requests/message": tally.requests / tally.delivered if tally.delivered else None,
        "bytes/message": tally.bytes / per,
        "server CPU µs/message": cpu / per * 1e6,
        "lost": tally.lost + tally.gaps,
    }


async def measure(clients: int, seconds: float, rate: float) -> list[dict[str, Any]]:
    port = free_port()
    command = [
        sys.executable,
        str(HERE / "http_server.py"),
        "--port",
        str(port),
        "--rate",
        str(rate),
    ]
    server = subprocess.Popen(command)  # noqa: ASYNC220 - started once, before measuring
    try:
        url = f"http://127.0.0.1:{port}"
        with anyio.fail_after(30):
            while True:
                try:
                    (await anyio.connect_tcp("127.0.0.1", port)).extra  # noqa: B018
                    break
                except OSError:
                    await anyio.sleep(0.05)
        await anyio.sleep(1.0)  # let the feed build up a little history
        return [
            await run_phase(url, port, server.pid, model, clients=clients, seconds=seconds)
            for model in ("raw", *MODELS)
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0, help="per model")
    parser.add_argument("--rate", type=float, default=100.0, help="messages published per second")
    args = parser.parse_args(argv)
    rows = anyio.run(measure, args.clients, args.seconds, args.rate)
    print(f"{args.clients} clients, {args.rate:.0f} messages/s published, ", end="")
    print(f"{args.seconds:.0f} s per model\n")
    header = [
        "model",
        "deliveries/s",
        "requests/s",
        "requests/message",
        "bytes/message",
        "server CPU µs/message",
        "lost",
    ]
    print("  ".join(f"{name:>22}" for name in header))
    cpu = {row["model"]: row["server CPU µs/message"] for row in rows}
    for row in rows:
        cells = []
        for name in header:
            value = row[name]
            text = value if isinstance(value, str) else "-" if value is None else f"{value:,.3f}"
            cells.append(f"{text:>22}")
        print("  ".join(cells))
    print("\n(raw: per request rather than per message)")
    for model in [name for name in MODELS if not name.startswith("poll")]:
        for poll in ("poll 100 ms", "poll 10 ms"):
            ratio = cpu[model] / cpu[poll]
            print(f"{model}: server CPU per delivered message = {ratio:.3f}x {poll}'s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

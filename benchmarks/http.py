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


def models(rate: float) -> dict[str, dict[str, Any]]:
    """The readers measured, with settings chosen for ``rate`` messages per second.

    SSE and long poll hold each batch for a tenth of a second of messages (what a live page can
    afford) or half a second of them (Kafka's default fetch wait), with that time as the maximum
    wait. Poll behaves as the library's poll subscriber does: it asks again at once after an
    answer with messages, and after its interval after an empty one; "fresh" polls as often as
    messages come (about one request per message: as fresh as SSE with no batching), "100 ms"
    uses the library's default interval.
    """
    live, bulk = max(1, round(rate * 0.1)), max(1, round(rate * 0.5))
    return {
        f"sse {live}/100ms": {"min_messages": live, "wait": 0.1},
        f"sse {bulk}/500ms": {"min_messages": bulk, "wait": 0.5},
        f"long poll {live}/100ms": {"min_messages": live, "wait": 0.1, "max_messages": 500},
        f"long poll {bulk}/500ms": {"min_messages": bulk, "wait": 0.5, "max_messages": 500},
        FRESH_POLL: {"interval": 1 / rate, "max_messages": 500},
        DEFAULT_POLL: {"interval": 0.1, "max_messages": 500},
    }


def target_models(rate: float) -> set[str]:
    """The settings the targets are checked with (see ``verdicts``): half a second of messages a
    batch."""
    return {name for name in models(rate) if name.endswith("/500ms")}


FRESH_POLL, DEFAULT_POLL = "poll fresh", "poll 100 ms"
IDLE, RAW = "publisher alone", "raw 64 bytes"
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
                        offset = int((event.id or "-1").rpartition(":")[2])  # epoch:offset
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
    url: str,
    port: int,
    pid: int,
    model: str,
    settings: dict[str, Any],
    *,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        start_cursor = await head(client)
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        stop = started + seconds
        async with anyio.create_task_group() as tg:
            if model == IDLE:
                await anyio.sleep(seconds)
            for _ in range(clients if model != IDLE else 0):
                if model == RAW:
                    tg.start_soon(raw_client, port, tally, stop)
                elif model.startswith("sse"):
                    tg.start_soon(sse_client, client, tally, start_cursor, stop, settings)
                else:
                    tg.start_soon(polling_client, port, tally, start_cursor, stop, dict(settings))
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before
    per = tally.delivered or tally.requests
    return {
        "model": model,
        "deliveries/s": tally.delivered / elapsed if tally.delivered else None,
        "requests/s": tally.requests / elapsed if per else None,
        "requests/message": tally.requests / tally.delivered if tally.delivered else None,
        "bytes/message": tally.bytes / per if per else None,
        # per delivered message; per request for the raw endpoint; per second with no readers
        "server CPU µs/message": cpu / (per or elapsed) * 1e6,
        "lost": tally.lost + tally.gaps if tally.delivered else None,
    }


async def measure(clients: int, seconds: float, rate: float, runs: int) -> list[dict[str, Any]]:
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
        phases = {IDLE: {}, RAW: {}, **models(rate)}
        results: dict[str, list[dict[str, Any]]] = {model: [] for model in phases}
        for _ in range(runs):
            for model, settings in phases.items():
                row = await run_phase(
                    url, port, server.pid, model, settings, clients=clients, seconds=seconds
                )
                results[model].append(row)
        return [median_row(rows) for rows in results.values()]
    finally:
        server.terminate()
        server.wait(timeout=10)


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (the run with the median CPU for the others)."""
    key = "server CPU µs/message"
    middle = sorted(rows, key=lambda row: row[key])[len(rows) // 2]
    return {
        **middle,
        "lost": max((row["lost"] for row in rows if row["lost"] is not None), default=None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0, help="per model and run")
    parser.add_argument("--rate", type=float, default=100.0, help="messages published per second")
    parser.add_argument("--runs", type=int, default=3, help="report the median of this many runs")
    args = parser.parse_args(argv)
    rows = anyio.run(measure, args.clients, args.seconds, args.rate, args.runs)
    print(f"{args.clients} clients, {args.rate:g} messages/s published, ", end="")
    print(f"{args.seconds:g} s per model, median of {args.runs} run(s)\n")
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
    for row in rows:
        cells = []
        for name in header:
            value = row[name]
            text = value if isinstance(value, str) else "-" if value is None else f"{value:,.3f}"
            cells.append(f"{text:>22}")
        print("  ".join(cells))
    print(f"\n({IDLE}: server CPU µs per second with no readers; {RAW}: per request)")
    print(verdicts(rows, target_models(args.rate)))
    return 0


def verdicts(rows: list[dict[str, Any]], targets: set[str]) -> str:
    """The targets set for HTTP delivery (nothing lost in any model; long poll at most 0.2
    requests per delivered message; SSE and long poll at most a tenth of a fresh poll's server CPU
    per delivered message), checked against this run for the settings in ``targets`` (those
    chosen for the rate); the other settings are reported for comparison."""
    by_model = {row["model"]: row for row in rows}
    cpu = {model: row["server CPU µs/message"] for model, row in by_model.items()}
    delivered = {model for model, row in by_model.items() if row["requests/message"] is not None}
    lost = sum(row["lost"] or 0 for row in rows)
    checked = ["", "Targets (SSE and long poll batching half a second of messages):"]
    checked.append(f"  messages lost in all models: {lost} (must be 0: {_met(lost == 0)})")
    compared = ["", "For comparison (livelier batches, and the library's default poll):"]
    for model in by_model:
        if model not in delivered or not model.startswith(("sse", "long poll")):
            continue
        per = by_model[model]["requests/message"]
        if not {FRESH_POLL, DEFAULT_POLL} <= delivered:
            continue
        if not cpu[FRESH_POLL] or not cpu[DEFAULT_POLL]:
            continue  # a run too short for the server's CPU clock (10 ms ticks) to move
        fresh, default = cpu[model] / cpu[FRESH_POLL], cpu[model] / cpu[DEFAULT_POLL]
        if model in targets:
            if model.startswith("long poll"):
                checked.append(
                    f"  {model}: {per:.3f} requests/message (<= 0.2: {_met(per <= 0.2)})"
                )
            checked.append(
                f"  {model}: server CPU per delivered message {fresh:.3f}x {FRESH_POLL}'s "
                f"(<= 0.1x: {_met(fresh <= 0.1)})"
            )
            compared.append(f"  {model}: {default:.3f}x {DEFAULT_POLL}'s")
        else:
            compared.append(
                f"  {model}: {per:.3f} requests/message; server CPU per delivered message "
                f"{fresh:.3f}x {FRESH_POLL}'s, {default:.3f}x {DEFAULT_POLL}'s"
            )
    return "\n".join(checked + compared)


def _met(condition: bool) -> str:
    return "met" if condition else "NOT met"


if __name__ == "__main__":
    sys.exit(main())

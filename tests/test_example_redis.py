"""The price page on two workers sharing one Redis channel (examples/price_ticker_web with
``--redis``): the prices one worker publishes reach the clients of the other, by Server-Sent
Events and by long poll, in offset order and without a gap, and the other publishes none."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.redis_server import private_redis, require_redis_server

require_redis_server()

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "price_ticker_web" / "server.py"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def running_example(redis_url: str, log: Path, *options: str) -> AsyncIterator[str]:
    """The example in a process of its own, on a free port; stopped by Ctrl-C, which must end
    it cleanly, or killed if the test fails first."""
    port = free_port()
    command = [
        sys.executable, str(EXAMPLE),
        "--redis", redis_url, "--port", str(port), "--rate", "50", *options,
    ]  # fmt: skip
    with log.open("wb") as output:
        process = await anyio.open_process(command, stdout=output, stderr=output)
    try:
        url = f"http://127.0.0.1:{port}"
        with anyio.fail_after(30):
            async with httpx.AsyncClient(timeout=1) as client:
                while True:
                    assert process.returncode is None, await anyio.Path(log).read_text()
                    try:
                        if (await client.get(url + "/")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.05)
        yield url
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            await process.wait()
        said = await anyio.Path(log).read_text()
        assert process.returncode == 0, said
        assert "Traceback" not in said
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await process.aclose()


async def read_events(client: httpx.AsyncClient, url: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` messages of an event stream starting with the next price; an
    event other than ``ready`` before them fails."""
    messages: list[dict[str, Any]] = []
    event: dict[str, str] = {}
    async with client.stream("GET", url + "/api/prices/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue  # a keep-alive comment
            if line:
                field, _, value = line.partition(":")
                event[field] = value.removeprefix(" ")
                continue
            name = event.get("event", "message")
            if name == "message":
                message = json.loads(event["data"])
                assert event["id"] == f"{message['epoch']}:{message['offset']}"
                messages.append(message)
                if len(messages) == count:
                    return messages
            else:
                assert name == "ready", event
            event = {}
    raise AssertionError(f"the stream ended after {len(messages)} messages")


async def long_poll(
    client: httpx.AsyncClient, url: str, count: int, cursor: str = "latest"
) -> list[dict[str, Any]]:
    """At least ``count`` messages by long polls from ``cursor``; a gap reported fails."""
    messages: list[dict[str, Any]] = []
    params = {"cursor": cursor, "wait": "5"}
    while len(messages) < count:
        response = await client.get(url + "/api/prices", params=params)
        assert response.status_code == 200, response.text
        batch = response.json()
        assert (batch["missed"], batch["missed_unknown"], batch["closed"]) == (0, False, False)
        messages += batch["messages"]
        params = {"cursor": str(batch["cursor"]), "epoch": str(batch["epoch"]), "wait": "5"}
    return messages


def assert_in_order_without_gap(messages: list[dict[str, Any]]) -> None:
    offsets = [message["offset"] for message in messages]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
    assert len({message["epoch"] for message in messages}) == 1
    for message in messages:
        assert set(message["payload"]) == {"symbol", "price"}


async def test_prices_published_by_one_worker_reach_the_clients_of_the_other(
    redis_url: str, tmp_path: Path
) -> None:
    with anyio.fail_after(120):
        async with (
            running_example(redis_url, tmp_path / "reader.log") as reader,
            httpx.AsyncClient(timeout=10) as client,
        ):
            async with running_example(redis_url, tmp_path / "publisher.log", "--publish") as (
                publisher
            ):
                streamed = await read_events(client, reader, 20)
                assert_in_order_without_gap(streamed)
                polled = await long_poll(client, reader, 30)
                assert_in_order_without_gap(polled)
                assert polled[0]["offset"] > streamed[-1]["offset"]

                # The same messages at the same offsets on the publishing worker: one feed.
                first, last = polled[0]["offset"], polled[-1]["offset"]
                params = {"cursor": str(first), "max_messages": str(last - first + 1)}
                there = (await client.get(publisher + "/api/prices", params=params)).json()
                assert there["messages"] == polled

            # The publisher has stopped: the reader publishes nothing of its own.
            now = (await client.get(reader + "/api/prices", params={"cursor": "latest"})).json()
            params = {"cursor": str(now["cursor"]), "epoch": str(now["epoch"]), "wait": "1"}
            after = (await client.get(reader + "/api/prices", params=params)).json()
            assert (after["messages"], after["reason"]) == ([], "max_wait")


def test_a_worker_that_cannot_reach_redis_says_so_and_exits(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path / 'no-redis.sock'}"
    command = [sys.executable, str(EXAMPLE), "--redis", missing, "--port", str(free_port())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"Redis at {missing}" in result.stderr

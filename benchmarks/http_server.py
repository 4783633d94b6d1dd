"""The server process for benchmarks/http.py: uvicorn serving a raw endpoint and a feed.

``/raw`` answers 64 bytes (the per-request baseline); ``/feed…`` is an ``HttpApp`` over a
long-poll channel that this process publishes 64-byte messages to at ``--rate`` per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a script named http.py; keep it from shadowing the standard library's http
# package (which httpx and uvicorn import) when a script here runs.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
from typing import Any

import anyio
import uvicorn

from deliverymodes import HttpApp, LongPollChannel, Retention

RAW = b"x" * 64


def make_app(rate: float) -> Any:
    feed = LongPollChannel[str](Retention(max_messages=1_000_000))
    api = HttpApp({"feed": feed}, keepalive_interval=5)

    async def publish() -> None:
        payload = "p" * 62  # 64 bytes as JSON
        interval = 1 / rate
        next_time = anyio.current_time()
        while True:
            next_time += interval
            await feed.publish(payload)
            await anyio.sleep(max(0.0, next_time - anyio.current_time()))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish)
                await api(scope, receive, send)  # answers startup, returns at shutdown
                tg.cancel_scope.cancel()
        elif scope["type"] == "http" and scope["path"] == "/raw":
            headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"64")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": RAW})
        else:
            await api(scope, receive, send)

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=100.0)
    options = parser.parse_args()
    uvicorn.run(
        make_app(options.rate),
        host="127.0.0.1",
        port=options.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=60,
        backlog=1024,
    )

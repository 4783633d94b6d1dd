"""A live crypto price page: the same feed by Server-Sent Events, long poll or poll.

A simulated market publishes prices to one long-poll channel; ``HttpApp`` serves it under
``/api`` in every model, and ``/`` serves a page where the viewer picks the model and sees, as it
happens, how many requests it costs and how many come back empty.

Run: python examples/price_ticker_web/server.py   (then open http://127.0.0.1:8000/; Ctrl-C stops)
Needs an ASGI server: pip install hypercorn (or "deliverymodes[compare]", which brings it)

Several workers, one feed: with ``--redis URL`` the channel is kept in Redis (a
``RedisLongPollChannel``, pip install "deliverymodes[redis]"), so that every process serving it
serves the same prices, with the same offsets. Exactly one of them must run the market: with
``--redis`` a process publishes only if started with ``--publish``. Two workers on two ports:

  python examples/price_ticker_web/server.py --redis redis://localhost:6379/0 --port 8001 --publish
  python examples/price_ticker_web/server.py --redis redis://localhost:6379/0 --port 8002

(``unix:///path/to/redis.sock`` works as well.) A page open on http://127.0.0.1:8002/ shows the
prices published by the worker on port 8001.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

try:
    import hypercorn.asyncio
    from hypercorn.config import Config
except ImportError:
    sys.exit(
        'This example needs an ASGI server: pip install hypercorn (or "deliverymodes[compare]")'
    )

from deliverymodes import ChannelClosed, ConnectionLost, HttpApp, LongPollChannel, Retention

PAGE = (Path(__file__).parent / "index.html").read_bytes()
SYMBOLS = {"BTC-USD": 97_000.0, "ETH-USD": 3_400.0, "SOL-USD": 190.0}


class PriceSite:
    """The page at ``/`` and the channel API under ``/api``: a small ASGI application."""

    def __init__(self, api: HttpApp) -> None:
        self.api = api

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and path.startswith("/api/"):
            await self.api(
                {**scope, "root_path": scope.get("root_path", "") + "/api"}, receive, send
            )
        elif scope["type"] == "http" and path in ("/", "/index.html"):
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": PAGE})
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not found"})
        else:
            await self.api(scope, receive, send)


async def market(prices: LongPollChannel[dict[str, object]], rate: float) -> None:
    """Random walks, one tick every 1/rate seconds, in bursts like a real feed."""
    rng = random.Random(42)
    current = dict(SYMBOLS)
    while not prices.closed:
        for _ in range(rng.randint(1, 3)):
            symbol = rng.choice(list(current))
            current[symbol] = round(current[symbol] * (1 + rng.gauss(0, 0.0015)), 2)
            # The market closes with the server; a tick is lost while Redis is unreachable.
            with contextlib.suppress(ChannelClosed, ConnectionLost):
                await prices.publish({"symbol": symbol, "price": current[symbol]})
        await anyio.sleep(rng.expovariate(rate))


@contextlib.asynccontextmanager
async def open_prices(redis: str | None) -> AsyncIterator[LongPollChannel[dict[str, object]]]:
    """The channel: in this process, or in Redis under the key "prices", shared by workers."""
    retention = Retention(max_messages=1000)
    if redis is None:
        yield LongPollChannel(retention)
        return
    from deliverymodes.redis import RedisClient, RedisLongPollChannel  # noqa: PLC0415 - an extra

    # The client is opened and closed here, by this task; the channel may be closed by another.
    async with (
        RedisClient(redis) as client,
        RedisLongPollChannel[dict[str, object]](client, "prices", retention) as prices,
    ):
        yield prices


async def main(
    port: int, rate: float, duration: float | None, redis: str | None, publish: bool
) -> None:
    async with open_prices(redis) as prices:
        await serve(prices, port, rate, duration, publish)


async def serve(
    prices: LongPollChannel[dict[str, object]],
    port: int,
    rate: float,
    duration: float | None,
    publish: bool,
) -> None:
    site = PriceSite(HttpApp({"prices": prices}, keepalive_interval=5))
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = anyio.Event()

    async def stop_on_ctrl_c_or_after(seconds: float | None) -> None:
        with anyio.open_signal_receiver(signal.SIGINT) as signals, anyio.move_on_after(seconds):
            print(f"serving http://127.0.0.1:{port}/  (pick a model on the page)", flush=True)
            async for _ in signals:
                print("stopping", flush=True)
                break
        await prices.aclose()  # streams and long polls end cleanly; the market stops
        stop.set()

    async with anyio.create_task_group() as tg:
        if publish:
            tg.start_soon(market, prices, rate)
        tg.start_soon(stop_on_ctrl_c_or_after, duration)
        # In a task of its own: before Python 3.13, serve() leaves the task that awaits it marked
        # as cancelled (by asyncio's TaskGroup), which would break the Redis client's exit.
        serving = functools.partial(hypercorn.asyncio.serve, shutdown_trigger=stop.wait)
        tg.start_soon(serving, site, config)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rate", type=float, default=5.0, help="price ticks per second")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--redis", help="keep the channel in Redis: redis://… or unix://…")
    parser.add_argument(
        "--publish",
        action=argparse.BooleanOptionalAction,
        help="run the market in this process (by default: only without --redis)",
    )
    options = parser.parse_args()
    publish = options.redis is None if options.publish is None else options.publish
    try:
        anyio.run(main, options.port, options.rate, options.duration, options.redis, publish)
    except ConnectionLost as error:  # Redis could not be reached at startup
        sys.exit(str(error))

"""A live crypto price page: the same feed by Server-Sent Events, long poll or poll.

A simulated market publishes prices to one long-poll channel; ``HttpApp`` serves it under
``/api`` in every model, and ``/`` serves a page where the viewer picks the model and sees, as it
happens, how many requests it costs and how many come back empty.

Run: python examples/price_ticker_web/server.py   (then open http://127.0.0.1:8000/; Ctrl-C stops)
Needs an ASGI server: pip install hypercorn (or "deliverymodes[compare]", which brings it)
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
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

from deliverymodes import ChannelClosed, HttpApp, LongPollChannel, Retention

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
            with contextlib.suppress(ChannelClosed):  # the market closes with the server
                await prices.publish({"symbol": symbol, "price": current[symbol]})
        await anyio.sleep(rng.expovariate(rate))


async def main(port: int, rate: float, duration: float | None) -> None:
    prices = LongPollChannel[dict[str, object]](Retention(max_messages=1000))
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
        tg.start_soon(market, prices, rate)
        tg.start_soon(stop_on_ctrl_c_or_after, duration)
        await hypercorn.asyncio.serve(site, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rate", type=float, default=5.0, help="price ticks per second")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    options = parser.parse_args()
    anyio.run(main, options.port, options.rate, options.duration)

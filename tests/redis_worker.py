"""An HTTP server process over Redis channels, for tests that run several of them.

``uvicorn tests.redis_worker:app`` (or hypercorn) with ``DELIVERYMODES_TEST_REDIS`` set to the
Redis URL: the app opens its channels when the server's lifespan starts (Redis channels must be
entered with ``async with``), serves them, and closes them when the lifespan ends. Channels:
``push`` (a RedisPushChannel), ``long`` (a RedisLongPollChannel) and ``poll`` (a
RedisPollChannel), each under its own name as the Redis key.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from typing import Any

from deliverymodes import Batching, Overflow
from deliverymodes.http import HttpApp
from deliverymodes.redis import (
    RedisClient,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

Scope = dict[str, Any]

#: The channels served, filled in when the lifespan starts (HttpApp checks a channel added to
#: its mapping when it is first asked for).
channels: dict[str, object] = {}
http_app = HttpApp(channels, poll_interval=0.05)


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """``http_app``, with the Redis channels open while the lifespan runs."""
    if scope["type"] != "lifespan":
        await http_app(scope, receive, send)
        return
    url = os.environ["DELIVERYMODES_TEST_REDIS"]
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(RedisClient(url, timeout=5))
        opened = {
            "push": RedisPushChannel[object](client, "push", 1000, Overflow.BLOCK),
            "long": RedisLongPollChannel[object](client, "long", batching=Batching(max_wait=5)),
            "poll": RedisPollChannel[object](client, "poll"),
        }
        for channel in opened.values():
            await stack.enter_async_context(channel)
        channels.update(opened)
        await http_app(scope, receive, send)

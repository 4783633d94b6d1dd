"""What the Redis channel tests share: a private server per module and a fresh key per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import anyio

from deliverymodes import Subscriber
from tests.remote_helpers import wait_until


def new_key() -> str:
    """A channel key no other test uses."""
    return f"test:{uuid.uuid4().hex}"


async def take(subscriber: Subscriber[Any], count: int) -> list[Any]:
    """The next ``count`` payloads (bounded: fails after 10 s)."""
    got: list[Any] = []
    with anyio.fail_after(10):
        while len(got) < count:
            got.append((await subscriber.receive()).payload)
    return got


async def settled(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (bounded: fails after 10 s)."""
    with anyio.fail_after(10):
        await wait_until(condition)

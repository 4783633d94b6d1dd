"""``compare`` through Redis: each model's channel is the Redis one, on a key of the run's own.

The publisher and the readers are both in this process, each side with a Redis client and a
channel of its own on the key, so that every message goes through Redis. The key and its
``:meta`` hash are deleted at the end.
"""

from __future__ import annotations

import importlib
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from typing import Any

import anyio
import anyio.lowlevel

from .._core import Retention
from .._exceptions import DeliveryError
from .._wire import BytesCodec
from ._run import (
    Progress,
    Result,
    Workload,
    make_result,
    publish_workload,
    read_all,
    report_progress,
    requests_made,
    slow_count,
    subscribe_as,
    subscriber_counts,
)

__all__ = ["REDIS_EXTRA", "check_url", "run_redis", "unreachable"]

#: What to install when ``deliverymodes.redis`` cannot be imported.
REDIS_EXTRA = 'the redis transport needs the redis extra: pip install "deliverymodes[redis]"'
#: Seconds to connect to Redis, and for each command.
TIMEOUT = 5.0
#: How often the end of a run looks whether the readers have caught up, in seconds.
_CHECK_EVERY = 0.01


def load_redis() -> Any:
    """``deliverymodes.redis``; a RuntimeError saying what to install without it."""
    try:
        return importlib.import_module("deliverymodes.redis")
    except ImportError:
        raise RuntimeError(REDIS_EXTRA) from None


def check_url(url: str) -> str | None:
    """What is wrong with a Redis URL, or None."""
    try:
        load_redis().RedisClient(url)
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def _redis_problem(error: BaseException) -> BaseException | None:
    """The error saying that Redis could not be reached or answered, in ``error`` or the groups
    it is in; None if it is another error."""
    if isinstance(error, (DeliveryError, OSError, TimeoutError)):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _redis_problem(inner)
        if found is not None:
            return found
    return None


def _about(shown: str, error: BaseException) -> str:
    """``error`` in a line naming the Redis at ``shown`` (its URL without the password)."""
    said = " ".join(str(error).split()) or type(error).__name__
    return said if shown in said else f"Redis at {shown}: {said}"


async def unreachable(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used (one line), or None once it answered a PING."""
    client = load_redis().RedisClient(url, timeout=TIMEOUT)
    try:
        async with client:
            await client.execute("PING")
    except (DeliveryError, OSError, TimeoutError) as error:
        return _about(client.url, error)
    return None


def _channel(redis: Any, model: str, workload: Workload, client: Any, key: str) -> Any:
    codec = BytesCodec()
    if model == "push":
        return redis.RedisPushChannel(
            client, key, workload.buffer_size, workload.overflow, codec=codec
        )
    retention = Retention(max_messages=max(10_000, 4 * workload.buffer_size))
    if model == "poll":
        return redis.RedisPollChannel(client, key, retention, codec=codec)
    return redis.RedisLongPollChannel(client, key, retention, codec=codec)


async def _until_read(progress: Progress, workload: Workload) -> None:
    """Wait until the readers have dealt with every message published, or made no progress for a
    while (the last messages dropped, say): what is still in Redis is theirs to read."""
    recorder = progress.recorder
    quiet = max(1.0, 2 * workload.max_wait, 2 * workload.poll_interval, 2 * workload.slow_delay)
    seen, since = recorder.seen, anyio.current_time()
    while recorder.unread > 0:
        await anyio.sleep(_CHECK_EVERY)
        if recorder.seen != seen:
            seen, since = recorder.seen, anyio.current_time()
        elif anyio.current_time() - since > quiet:
            return


async def run_redis(
    model: str, workload: Workload, on_progress: Callable[[Progress], None] | None, url: str
) -> Result:
    """Run ``workload`` under ``model`` through Redis at ``url``, and measure it."""
    redis = load_redis()
    key = f"deliverymodes:compare:{secrets.token_hex(8)}:{model.replace(' ', '-')}"
    writing = redis.RedisClient(url, timeout=TIMEOUT)
    reading = redis.RedisClient(url, timeout=TIMEOUT)
    try:
        async with writing, reading:
            try:
                return await _measure(
                    redis, model, workload, on_progress, clients=(writing, reading), key=key
                )
            finally:  # a Redis gone away has nothing left to delete, and its error is raised
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(TIMEOUT),
                    suppress(DeliveryError, OSError),
                ):
                    await writing.execute("DEL", key, key + ":meta")
    except Exception as error:
        problem = _redis_problem(error)
        if problem is None:
            raise
        # Stopped (Ctrl-C): the clients closing under the run are no failure of Redis's.
        await anyio.lowlevel.checkpoint_if_cancelled()
        raise RuntimeError(f"the run stopped: {_about(writing.url, problem)}") from None


async def _measure(
    redis: Any,
    model: str,
    workload: Workload,
    on_progress: Callable[[Progress], None] | None,
    *,
    clients: tuple[Any, Any],
    key: str,
) -> Result:
    """The publisher's channel on the first client, the readers' on the second."""
    writing, reading = clients
    progress = Progress(model, workload)
    recorder = progress.recorder
    slow = slow_count(workload)
    payload = b"x" * workload.payload_size
    async with (
        _channel(redis, model, workload, writing, key) as publisher,
        _channel(redis, model, workload, reading, key) as channel,
        AsyncExitStack() as stack,
    ):
        subscribers = [
            await stack.enter_async_context(subscribe_as(channel, model, workload))
            for _ in range(workload.subscribers)
        ]
        deadline = time.monotonic() + workload.duration
        cpu_before, started = time.process_time(), time.monotonic()

        def stop() -> bool:
            return workload.messages is None and time.monotonic() >= deadline

        async with anyio.create_task_group() as readers:
            for index, subscriber in enumerate(subscribers):
                delay = workload.slow_delay if index < slow else None
                readers.start_soon(read_all, subscriber, recorder, delay)
            async with anyio.create_task_group() as publishing:
                publishing.start_soon(report_progress, progress, on_progress)
                await publish_workload(publisher, workload, payload, stop, recorder)
                await _until_read(progress, workload)
                publishing.cancel_scope.cancel()
            # They have read all there is.
            readers.cancel_scope.cancel()
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_before
        stats = [s.statistics() for s in subscribers]
    published = recorder.published
    per_subscriber = subscriber_counts(model, published, stats)
    return make_result(
        model,
        workload,
        published=published,
        per_subscriber=per_subscriber,
        requests=requests_made(model, stats),
        empty=sum(s.empty_polls for s in stats),
        wire_bytes=None,
        cpu=cpu,
        elapsed=elapsed,
        recorder=recorder,
    )

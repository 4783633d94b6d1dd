"""The engine of ``compare``: a workload, its publisher and readers, and the measurements.

A publisher follows the workload (rate, bursts, payload size); readers of one model read it (some
of them slow); the measurements are latency, requests, empty answers, bytes on the wire, drops,
misses, peak buffered and the serving side's CPU.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import anyio
import attrs

from .._core import EARLIEST, Overflow, Retention, check_count, count_validator, seconds_validator
from .._defaults import DEFAULT_BUFFER_SIZE
from .._exceptions import ChannelClosed, SlowConsumer
from .._longpoll import LongPollChannel
from .._poll import PollChannel
from .._push import PushChannel

__all__ = ["MODELS", "TRANSPORTS", "Progress", "Result", "Workload", "run_in_memory"]

MODELS = ("push", "poll", "long poll")
TRANSPORTS = ("memory", "tcp", "http", "redis")
#: Latency samples kept per model for percentiles and the CDF (a uniform subsample beyond it).
_SAMPLES = 20_000
#: How often the progress line is given the counts, in seconds.
_PROGRESS_EVERY = 0.1


def _fraction(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value}")


@attrs.frozen(kw_only=True)
class Workload:
    """What to measure: who publishes what, how fast, to whom, and each model's settings."""

    subscribers: int = attrs.field(default=20, validator=count_validator())
    rate: float | None = 100.0  #: messages per second; None: as fast as possible
    payload_size: int = attrs.field(default=64, validator=count_validator())
    duration: float = attrs.field(default=2.0, validator=seconds_validator())
    messages: int | None = None  #: publish this many instead of for ``duration``
    burst: int = attrs.field(default=5, validator=count_validator())  #: messages per burst
    slow_share: float = attrs.field(default=0.0, validator=_fraction)
    slow_delay: float = attrs.field(
        default=0.005, validator=seconds_validator()
    )  #: per message, slow ones
    buffer_size: int = attrs.field(default=DEFAULT_BUFFER_SIZE, validator=count_validator())
    overflow: Overflow = Overflow.BLOCK
    poll_interval: float = attrs.field(default=0.01, validator=seconds_validator())
    min_messages: int = attrs.field(default=1, validator=count_validator())
    max_wait: float = attrs.field(default=0.5, validator=seconds_validator())
    transport: str = "memory"

    def __attrs_post_init__(self) -> None:
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(
                f"rate must be a positive number of messages per second, got {self.rate}"
            )
        if self.duration == 0:
            raise ValueError("duration must be a positive number of seconds, got 0")
        if self.messages is not None:
            check_count("messages", self.messages)
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}"
            )


@attrs.frozen(kw_only=True)
class Result:
    """One model's measurements: a row of the table."""

    model: str
    transport: str
    published: int
    delivered: int
    dropped: int
    missed: int
    seconds: float
    throughput: float  #: deliveries per second
    latency_p50: float | None
    latency_p99: float | None
    latency_max: float | None
    requests: int
    requests_per_message: float | None
    empty_responses: int
    empty_share: float | None
    bytes_per_message: float | None  #: on the wire; None in memory
    peak_buffered: int  #: the most unread copies at once, over all subscribers (see _Recorder)
    cpu_seconds: float  #: of the serving side (in memory: the whole process)
    per_subscriber: tuple[tuple[int, int, int], ...]  #: (delivered, dropped, missed) each
    latencies: tuple[float, ...] = attrs.field(repr=False)  #: a sample, for the CDF

    def as_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.pop("latencies")
        data.pop("per_subscriber")
        return data


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


class _Recorder:
    """What the readers saw: end-to-end latencies (a uniform reservoir sample), a count, and the
    peak of messages buffered.

    Buffered means published and not yet in its reader's hands, wherever it waits (a push buffer,
    a retention log, a socket, an HTTP response), counted once per subscriber that still has to
    receive it. A reader has dealt with every offset below the last one it received (received,
    or dropped or missed if it skipped them), so the count is ``readers * published - sum(last
    offset received + 1)``. It grows only when a message is published, so checking it at every
    publish gives the exact peak, the same way for every model and transport. The publisher may
    run in another thread (remote transports): each counter has one writer.
    """

    def __init__(self, readers: int) -> None:
        self.latencies: list[float] = []
        self.seen = 0
        self.peak_buffered = 0
        self._readers = readers  # still reading
        self._published = 0
        self._reached = 0  # Σ over the readers still reading of (last offset received + 1)
        self._random = random.Random(0)

    @property
    def published(self) -> int:
        return self._published

    @property
    def unread(self) -> int:
        """Copies published and not yet dealt with by the readers still reading."""
        return self._readers * self._published - self._reached

    def on_publish(self) -> None:
        self._published += 1
        buffered = self._readers * self._published - self._reached
        self.peak_buffered = max(self.peak_buffered, buffered)

    def record(self, published_at: float, advanced: int) -> None:
        """A message received, ``advanced`` offsets past the reader's previous one."""
        self._reached += advanced
        latency = max(0.0, time.time() - published_at)
        self.seen += 1
        if len(self.latencies) < _SAMPLES:
            self.latencies.append(latency)
        else:
            slot = self._random.randrange(self.seen)
            if slot < _SAMPLES:
                self.latencies[slot] = latency

    def reader_done(self, reached: int) -> None:
        """A reader stopped (the channel closed, or it was disconnected): it waits for no more."""
        self._readers -= 1
        self._reached -= reached


def make_channel(model: str, workload: Workload) -> Any:
    if model == "push":
        return PushChannel[bytes](workload.buffer_size, workload.overflow)
    retention = Retention(max_messages=max(10_000, 4 * workload.buffer_size))
    if model == "poll":
        return PollChannel[bytes](retention)
    return LongPollChannel[bytes](retention)


async def publish_workload(
    channel: Any,
    workload: Workload,
    payload: bytes,
    stop: Callable[[], bool],
    recorder: _Recorder,
) -> None:
    """Publish in bursts at the workload's average rate, until the count or time is reached."""
    published = 0
    gap = None if workload.rate is None else workload.burst / workload.rate
    next_burst = anyio.current_time()
    while not stop():
        for _ in range(workload.burst):
            if workload.messages is not None and published >= workload.messages:
                return
            await channel.publish(payload)
            recorder.on_publish()
            published += 1
        if gap is not None:
            next_burst += gap
            await anyio.sleep(max(0.0, next_burst - anyio.current_time()))
        if workload.messages is not None and published >= workload.messages:
            return


async def read_all(subscriber: Any, recorder: _Recorder, delay: float | None) -> None:
    reached = 0  # every offset below it was received, dropped or missed
    try:
        async for message in subscriber:
            recorder.record(message.published_at, message.offset + 1 - reached)
            reached = message.offset + 1
            if delay:
                await anyio.sleep(delay)
    except (SlowConsumer, ChannelClosed):
        pass
    finally:
        recorder.reader_done(reached)


class Progress:
    """Counts shared with the progress line."""

    def __init__(self, model: str, workload: Workload) -> None:
        self.model = model
        self.started = time.monotonic()
        self.recorder = _Recorder(workload.subscribers)


async def report_progress(
    progress: Progress, on_progress: Callable[[Progress], None] | None
) -> None:
    """Hand the counts to ``on_progress`` now and then, until cancelled."""
    if on_progress is None:
        return
    while True:
        on_progress(progress)
        await anyio.sleep(_PROGRESS_EVERY)


def subscribe_as(channel: Any, model: str, workload: Workload) -> Any:
    """A subscriber of ``channel`` reading as ``model`` with the workload's settings."""
    if model == "push":
        return channel.subscribe()
    if model == "poll":
        return channel.subscribe(EARLIEST, workload.poll_interval)
    return channel.subscribe(
        EARLIEST, min_messages=workload.min_messages, max_wait=workload.max_wait
    )


def requests_made(model: str, stats: list[Any]) -> int:
    """Polls made; a push subscriber makes one request, its subscription."""
    return len(stats) if model == "push" else sum(s.polls for s in stats)


def subscriber_counts(model: str, published: int, stats: list[Any]) -> list[tuple[int, int, int]]:
    """Each remote subscriber's (delivered, dropped, missed): a push subscriber's drops are what
    it neither received nor was told it missed."""
    counts = []
    for item in stats:
        dropped = published - item.delivered - item.missed if model == "push" else item.dropped
        counts.append((item.delivered, dropped, item.missed))
    return counts


def slow_count(workload: Workload) -> int:
    return round(workload.subscribers * workload.slow_share)


async def run_in_memory(
    model: str, workload: Workload, on_progress: Callable[[Progress], None] | None
) -> Result:
    """Run ``workload`` under ``model`` with the channel in this process, and measure it."""
    channel = make_channel(model, workload)
    subscribers = [subscribe_as(channel, model, workload) for _ in range(workload.subscribers)]
    progress = Progress(model, workload)
    recorder = progress.recorder
    slow = slow_count(workload)
    payload = b"x" * workload.payload_size
    deadline = time.monotonic() + workload.duration
    cpu_before, started = time.process_time(), time.monotonic()
    async with anyio.create_task_group() as readers:
        for index, subscriber in enumerate(subscribers):
            delay = workload.slow_delay if index < slow else None
            readers.start_soon(read_all, subscriber, recorder, delay)
        async with anyio.create_task_group() as publishing:
            publishing.start_soon(report_progress, progress, on_progress)
            stop = (
                (lambda: False)
                if workload.messages is not None
                else (lambda: time.monotonic() >= deadline)
            )
            await publish_workload(channel, workload, payload, stop, recorder)
            publishing.cancel_scope.cancel()
        await channel.aclose()  # readers drain what is theirs, then end
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    stats = [s.statistics() for s in subscribers]
    for subscriber in subscribers:
        await subscriber.aclose()
    published = channel.statistics().published
    return make_result(
        model,
        workload,
        published=published,
        per_subscriber=[(s.delivered, s.dropped, s.missed) for s in stats],
        requests=requests_made(model, stats),
        empty=sum(s.empty_polls for s in stats),
        wire_bytes=None,
        cpu=cpu,
        elapsed=elapsed,
        recorder=recorder,
    )


def make_result(
    model: str,
    workload: Workload,
    *,
    published: int,
    per_subscriber: list[tuple[int, int, int]],
    requests: int,
    empty: int,
    wire_bytes: int | None,
    cpu: float,
    elapsed: float,
    recorder: _Recorder,
) -> Result:
    delivered = sum(d for d, _, _ in per_subscriber)
    ordered = sorted(recorder.latencies)
    return Result(
        model=model,
        transport=workload.transport,
        published=published,
        delivered=delivered,
        dropped=sum(d for _, d, _ in per_subscriber),
        missed=sum(m for _, _, m in per_subscriber),
        seconds=elapsed,
        throughput=delivered / elapsed if elapsed else 0.0,
        latency_p50=_percentile(ordered, 0.5),
        latency_p99=_percentile(ordered, 0.99),
        latency_max=ordered[-1] if ordered else None,
        requests=requests,
        requests_per_message=requests / delivered if delivered else None,
        empty_responses=empty,
        empty_share=empty / requests if requests else None,
        bytes_per_message=None if wire_bytes is None or not delivered else wire_bytes / delivered,
        peak_buffered=recorder.peak_buffered,
        cpu_seconds=cpu,
        per_subscriber=tuple(per_subscriber),
        latencies=tuple(ordered[:: max(1, len(ordered) // 2000)]),
    )

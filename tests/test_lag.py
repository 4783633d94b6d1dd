"""Delivery lag: the histogram against a model, the core observing one lag per batch at the time
it is given, and the channels (both backends, in-process and served) counting the batches they
hand out."""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from deliverymodes import (
    EARLIEST,
    Batching,
    LongPollChannel,
    PollChannel,
    PushChannel,
    Retention,
    defaults,
)
from deliverymodes._core import LogState, Overflow, PushState
from deliverymodes.http import HttpApp, HttpRemote
from deliverymodes.metrics import LAG_BUCKETS, LagHistogram, LagSnapshot
from tests.http_helpers import running_app
from tests.remote_helpers import running_server, wait_until

lags = st.floats(min_value=-5, max_value=500, allow_nan=False)


def model_snapshot(observed: list[float]) -> tuple[tuple[int, ...], int, float]:
    """What a histogram of ``observed`` must show: cumulative buckets, count, sum."""
    kept = [max(lag, 0.0) for lag in observed]
    buckets = tuple(sum(lag <= bound for lag in kept) for bound in LAG_BUCKETS)
    total = 0.0
    for lag in kept:
        total += lag
    return (*buckets, len(kept)), len(kept), total


class HistogramAgainstAList(RuleBasedStateMachine):
    """Observations interleaved with snapshots: a snapshot never resets or skews the figures."""

    def __init__(self) -> None:
        super().__init__()
        self.histogram = LagHistogram()
        self.observed: list[float] = []

    @rule(lag=lags)
    def observe(self, lag: float) -> None:
        self.histogram.observe(lag)
        self.observed.append(lag)

    @rule(lag=st.sampled_from(LAG_BUCKETS))
    def observe_a_bound(self, lag: float) -> None:  # a bound is inside its bucket ("le")
        self.observe(lag)

    @invariant()
    def snapshot_matches_the_model(self) -> None:
        snapshot = self.histogram.snapshot()
        assert snapshot.bounds == LAG_BUCKETS
        assert (snapshot.buckets, snapshot.count, snapshot.sum) == model_snapshot(self.observed)


TestHistogramAgainstAList = HistogramAgainstAList.TestCase


@given(st.lists(lags, max_size=50))
def test_buckets_are_cumulative_and_end_with_the_count(observed: list[float]) -> None:
    histogram = LagHistogram()
    for lag in observed:
        histogram.observe(lag)
    snapshot = histogram.snapshot()
    assert list(snapshot.buckets) == sorted(snapshot.buckets)
    assert snapshot.buckets[-1] == snapshot.count == len(observed)


def test_bounds_run_from_half_a_millisecond_to_a_minute() -> None:
    assert LAG_BUCKETS[0] == 0.0005
    assert LAG_BUCKETS[-1] == 60.0
    assert list(LAG_BUCKETS) == sorted(set(LAG_BUCKETS))


def bucket_of(snapshot: LagSnapshot) -> list[float]:
    """The upper bound of each observation's bucket (inf beyond the last), from the counts."""
    bounds = [*snapshot.bounds, float("inf")]
    previous = 0
    found: list[float] = []
    for bound, cumulative in zip(bounds, snapshot.buckets, strict=True):
        found += [bound] * (cumulative - previous)
        previous = cumulative
    return found


# -- the core, driven step by step with given clocks -------------------------------------------


def test_the_log_state_observes_the_oldest_message_of_each_batch_with_messages() -> None:
    lag = LagHistogram()
    state: LogState[str, Any] = LogState(Retention(), epoch=1, lag=lag)
    state.log.append("a", 1, 100.0)
    state.log.append("b", 1, 100.6)
    batch = state.poll(0, 1, None, None, now=100.7)  # "a" waited 0.7 s
    assert [m.payload for m in batch.messages] == ["a"]
    state.poll(1, None, None, None, now=100.62)  # "b" waited 0.02 s
    state.poll(2, None, None, None, now=101.0)  # empty: nothing observed
    ready = state.long_poll_now(0, Batching(min_messages=1), None, now=130.0)  # "a": 30 s
    assert ready is not None
    assert len(ready.messages) == 2
    snapshot = lag.snapshot()
    assert snapshot.count == 3
    assert bucket_of(snapshot) == [0.025, 1.0, 30.0]
    assert snapshot.sum == pytest.approx(0.7 + 0.02 + 30.0)


def test_a_push_subscription_samples_what_it_finds_buffered() -> None:
    lag = LagHistogram()
    state: PushState[str, object] = PushState(lag)
    subscription = state.subscribe(10, Overflow.BLOCK)
    subscription.sample_lag(5.0)  # nothing buffered: nothing observed
    state.publish("a", 1, 10.0)
    state.publish("b", 1, 10.1)
    subscription.sample_lag(10.2)  # the oldest, "a", waited 0.2 s
    assert lag.snapshot().count == 1
    assert bucket_of(lag.snapshot()) == [0.25]
    subscription.take()
    subscription.sample_lag(9.0)  # the clock stepped back: counted as 0
    assert bucket_of(lag.snapshot()) == [0.0005, 0.25]


# -- the flag --------------------------------------------------------------------------------

CHANNELS = [PushChannel[int], PollChannel[int], LongPollChannel[int]]


@pytest.mark.parametrize("make", CHANNELS)
def test_lag_is_measured_only_when_asked(make: Any) -> None:
    assert make().delivery_lag is None
    assert make(measure_lag=False).delivery_lag is None
    assert isinstance(make(measure_lag=True).delivery_lag, LagHistogram)
    assert make(measure_lag=True).delivery_lag is not make(measure_lag=True).delivery_lag


@pytest.mark.parametrize("make", CHANNELS)
@pytest.mark.parametrize("bad", [1, "yes", None])
def test_measure_lag_must_be_a_bool(make: Any, bad: object) -> None:
    with pytest.raises(TypeError, match="measure_lag"):
        make(measure_lag=bad)


# -- the channels, after a known workload ------------------------------------------------------


def within(lag: LagHistogram | None, count: int, started: float) -> LagSnapshot:
    """The histogram holds ``count`` observations, each between 0 and the time since
    ``started``."""
    assert lag is not None
    snapshot = lag.snapshot()
    elapsed = time.time() - started
    assert snapshot.count == count
    assert 0 <= snapshot.sum <= count * elapsed
    # Every observation is in the bucket that holds ``elapsed``, or below.
    assert snapshot.buckets[bisect_left(LAG_BUCKETS, elapsed)] == count
    return snapshot


async def test_poll_observes_each_batch_with_messages() -> None:
    started = time.time()
    channel = PollChannel[int](measure_lag=True)
    await channel.poll(EARLIEST)  # empty
    for value in range(5):
        await channel.publish(value)
    assert len((await channel.poll(0, max_messages=2)).messages) == 2
    assert len((await channel.poll(2)).messages) == 3
    await channel.poll(5)  # empty
    batch = await channel.serve_poll(3, max_messages=None, max_bytes=None)  # an adapter's path
    assert len(batch.messages) == 2
    within(channel.delivery_lag, 3, started)


async def test_a_poll_subscriber_is_observed_per_batch_not_per_message() -> None:
    started = time.time()
    channel = PollChannel[int](measure_lag=True)
    async with channel.subscribe(EARLIEST, poll_interval=0.001) as subscriber:
        for value in range(4):
            await channel.publish(value)
        with anyio.fail_after(5):
            for _ in range(4):
                await subscriber.receive()
    within(channel.delivery_lag, 1, started)


async def test_long_poll_observes_each_batch_on_every_path() -> None:
    started = time.time()
    channel = LongPollChannel[int](epoch=5, measure_lag=True)
    batching = Batching(min_messages=1, max_wait=None)
    async with anyio.create_task_group() as tg:

        async def wait_for_one() -> None:
            assert len((await channel.poll(0, max_wait=None)).messages) == 1

        tg.start_soon(wait_for_one)
        await anyio.wait_all_tasks_blocked()
        await channel.publish(0)  # releases the waiting long poll: 1
    await channel.publish(1)
    await channel.publish(2)
    assert len(channel.serve_long_poll_nowait(1, batching=batching).messages) == 2  # 2
    with anyio.fail_after(5):
        assert len((await channel.serve_long_poll(0, batching=batching)).messages) == 3  # 3
        assert (await channel.poll(3, max_wait=0)).messages == ()  # empty: not observed
        await channel.serve_poll(0, epoch=6, max_messages=1, max_bytes=None)  # 4
    within(channel.delivery_lag, 4, started)


async def test_a_push_subscriber_samples_once_per_wait() -> None:
    started = time.time()
    channel = PushChannel[int](measure_lag=True)
    async with channel.subscribe() as subscriber:
        for round in range(3):
            async with anyio.create_task_group() as tg:

                async def receive_three() -> None:
                    for _ in range(3):
                        await subscriber.receive()

                tg.start_soon(receive_three)
                await anyio.wait_all_tasks_blocked()  # the subscriber waits for its first message
                for value in range(3):
                    channel.publish_nowait(round * 3 + value)
    assert channel.statistics().delivered == 9
    within(channel.delivery_lag, 3, started)


async def test_a_push_subscriber_that_never_waits_is_sampled_at_its_checkpoints() -> None:
    started = time.time()
    budget = defaults.COOPERATIVE_BUDGET
    channel = PushChannel[int](buffer_size=3 * budget, measure_lag=True)
    async with channel.subscribe() as subscriber:
        for value in range(2 * budget + 1):
            channel.publish_nowait(value)
        for _ in range(2 * budget):  # never waits: every checkpoint finds messages buffered
            await subscriber.receive()
    within(channel.delivery_lag, 2, started)


async def test_receive_nowait_observes_nothing() -> None:
    channel = PushChannel[int](measure_lag=True)
    async with channel.subscribe() as subscriber:
        for value in range(3):
            channel.publish_nowait(value)
        for _ in range(3):
            subscriber.receive_nowait()
    assert channel.statistics().delivered == 3
    within(channel.delivery_lag, 0, time.time())


async def test_iterating_a_push_subscriber_samples_too() -> None:
    started = time.time()
    channel = PushChannel[int](measure_lag=True)
    received = 0
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            nonlocal received
            async with channel.subscribe() as subscriber:
                async for _message in subscriber:
                    received += 1

        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        channel.publish_nowait(1)
        channel.publish_nowait(2)
        await channel.aclose()  # the subscriber drains both, then ends
    assert received == 2
    within(channel.delivery_lag, 1, started)


# -- served: the servers read through the same paths -------------------------------------------


async def test_remote_readers_are_observed_per_batch() -> None:
    started = time.time()
    poll = PollChannel[int](measure_lag=True)
    long = LongPollChannel[int](measure_lag=True)
    push = PushChannel[int](measure_lag=True)
    channels = {"poll": poll, "long": long, "push": push}
    async with running_server(channels, "memory") as connect_to, connect_to() as remote:
        async with remote.push("push").subscribe() as subscriber:
            with anyio.fail_after(10):
                await wait_until(lambda: push.statistics().subscribers == 1)
                for value in range(3):
                    await poll.publish(value)
                    await long.publish(value)
                    await push.publish(value)
                assert len((await remote.poll("poll").poll(0)).messages) == 3
                assert len((await remote.long_poll("long").poll(1)).messages) == 2
                for _ in range(3):
                    await subscriber.receive()
    within(poll.delivery_lag, 1, started)
    within(long.delivery_lag, 1, started)
    push_lag = push.delivery_lag
    assert push_lag is not None
    assert 1 <= push_lag.snapshot().count <= 3


async def test_http_readers_are_observed_per_batch() -> None:
    started = time.time()
    long = LongPollChannel[object](measure_lag=True)
    async with running_app(HttpApp({"long": long})) as url, HttpRemote(url) as remote:
        await long.publish({"n": 1})
        await long.publish({"n": 2})
        with anyio.fail_after(10):
            assert len((await remote.channel("long").poll(0)).messages) == 2
            assert len((await remote.channel("long").poll(1, wait=1)).messages) == 1
    within(long.delivery_lag, 2, started)

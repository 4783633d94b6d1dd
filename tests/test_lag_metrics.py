"""The delivery-lag histogram as Prometheus and OpenTelemetry export it."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from deliverymodes import EARLIEST, LongPollChannel, PollChannel, PushChannel
from deliverymodes.metrics import LAG_BUCKETS, ChannelCollector, observe_channels
from tests.test_metrics import workload

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

LAG = "deliverymodes_delivery_lag_seconds"


async def lag_workload() -> tuple[dict[str, Any], float]:
    """A channel of each model measuring lag, after a known number of batches (push 1, poll 2,
    long poll 1), and one that does not; with the time it started."""
    started = time.time()
    push = PushChannel[int](measure_lag=True)
    subscriber = push.subscribe()
    async with anyio.create_task_group() as tg:

        async def receive_two() -> None:
            await subscriber.receive()
            await subscriber.receive()

        tg.start_soon(receive_two)
        await anyio.wait_all_tasks_blocked()
        push.publish_nowait(1)
        push.publish_nowait(2)
    poll = PollChannel[int](measure_lag=True)
    for value in range(3):
        await poll.publish(value)
    await poll.poll(0, max_messages=2)
    await poll.poll(2)
    await poll.poll(3)  # empty: not observed
    long_poll = LongPollChannel[str](measure_lag=True)
    await long_poll.publish("hello")
    await long_poll.poll(EARLIEST)
    plain = PollChannel[int]()
    await plain.publish(1)
    await plain.poll(0)
    return {"ticks": push, "log": poll, "chat": long_poll, "plain": plain}, started


async def test_a_scrape_shows_the_lag_histogram_of_the_channels_that_measure_it() -> None:
    channels, started = await lag_workload()
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector(channels))
    text = prometheus_client.generate_latest(registry).decode()
    elapsed = time.time() - started
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == LAG]
    assert family.type == "histogram"
    series: dict[str, dict[str, float]] = {}
    for sample in family.samples:
        assert (
            sample.labels["model"]
            == {"ticks": "push", "log": "poll", "chat": "long_poll"}[sample.labels["channel"]]
        )
        key = sample.name.removeprefix(LAG) + sample.labels.get("le", "")
        series.setdefault(sample.labels["channel"], {})[key] = sample.value
    assert set(series) == {"ticks", "log", "chat"}  # not "plain"
    for name, count in [("ticks", 1), ("log", 2), ("chat", 1)]:
        snapshot = channels[name].delivery_lag.snapshot()
        assert series[name]["_count"] == snapshot.count == count
        assert series[name]["_sum"] == pytest.approx(snapshot.sum)
        assert 0 <= snapshot.sum <= count * elapsed
        bounds = [*(str(bound) for bound in LAG_BUCKETS), "+Inf"]
        assert [series[name]["_bucket" + le] for le in bounds] == list(snapshot.buckets)


async def test_no_lag_histogram_without_a_channel_measuring_it() -> None:
    channels = await workload()
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector(channels))
    text = prometheus_client.generate_latest(registry).decode()
    assert LAG not in text
    assert LAG not in {family.name for family in text_string_to_metric_families(text)}


def otel_points(channels: dict[str, Any]) -> dict[tuple[str, ...], float]:
    """The lag data points an OpenTelemetry reader collects, by (instrument, channel, le)."""
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    reader = export.InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    observe_channels(provider.get_meter("test"), channels)
    seen: dict[tuple[str, ...], float] = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if not metric.name.startswith("deliverymodes.delivery_lag."):
                    continue
                for point in metric.data.data_points:
                    attributes = point.attributes
                    key = (metric.name, attributes["channel"], attributes.get("le", ""))
                    seen[key] = point.value
    provider.shutdown()
    return seen


async def test_opentelemetry_reports_the_lag_histogram_as_counters() -> None:
    channels, _started = await lag_workload()
    seen = otel_points(channels)
    want: dict[tuple[str, ...], float] = {}
    for name in ("ticks", "log", "chat"):
        snapshot = channels[name].delivery_lag.snapshot()
        want["deliverymodes.delivery_lag.count", name, ""] = snapshot.count
        want["deliverymodes.delivery_lag.sum", name, ""] = snapshot.sum
        bounds = [*(str(bound) for bound in LAG_BUCKETS), "+Inf"]
        for le, count in zip(bounds, snapshot.buckets, strict=True):
            want["deliverymodes.delivery_lag.bucket", name, le] = count
    assert seen == want
    assert seen["deliverymodes.delivery_lag.count", "log", ""] == 2


async def test_opentelemetry_reports_no_lag_for_channels_that_do_not_measure_it() -> None:
    assert otel_points(await workload()) == {}

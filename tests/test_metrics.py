"""Channel statistics exported as Prometheus and OpenTelemetry metrics."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from deliverymodes import (
    EARLIEST,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Retention,
)
from deliverymodes.metrics import METRICS, ChannelCollector, observe_channels
from tests.outside_channels import OutsideLog

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scraped(registry: Any) -> dict[tuple[str, str, str], float]:
    """Every sample of ``registry`` as exposed, by (sample name, channel, model)."""
    text = prometheus_client.generate_latest(registry).decode()
    samples: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            samples[sample.name, sample.labels["channel"], sample.labels["model"]] = sample.value
    return samples


def expected(name: str, model: str, channel: Any) -> dict[tuple[str, str, str], float]:
    statistics = attrs.asdict(channel.statistics())
    return {
        (metric.name + ("_total" if metric.counter else ""), name, model): statistics[metric.field]
        for metric in METRICS
    }


async def workload() -> dict[str, Any]:
    """Three channels, one per model, after a known workload with drops, misses and empties."""
    push = PushChannel[int](buffer_size=2, overflow=Overflow.DROP_OLDEST)
    subscriber = push.subscribe()
    for value in range(5):
        await push.publish(value)  # 3 of 5 dropped for the full buffer of 2
    await subscriber.receive()

    poll = PollChannel[int](retention=Retention(max_messages=3))
    await poll.poll(EARLIEST)  # empty
    for value in range(5):
        await poll.publish(value)
    await poll.poll(0)  # misses 2

    long_poll = LongPollChannel[str]()
    await long_poll.publish("hello")
    await long_poll.poll(EARLIEST)
    return {"ticks": push, "log": poll, "chat": long_poll}


async def test_a_scrape_reports_each_channel_as_its_statistics_say() -> None:
    channels = await workload()
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector(channels))
    samples = scraped(registry)
    want = {
        **expected("ticks", "push", channels["ticks"]),
        **expected("log", "poll", channels["log"]),
        **expected("chat", "long_poll", channels["chat"]),
    }
    assert samples == want
    assert samples["deliverymodes_messages_dropped_total", "ticks", "push"] == 3
    assert samples["deliverymodes_messages_missed_total", "log", "poll"] == 2
    assert samples["deliverymodes_empty_polls_total", "log", "poll"] == 1
    assert samples["deliverymodes_retained_bytes", "chat", "long_poll"] == 5
    assert samples["deliverymodes_subscribers", "ticks", "push"] == 1


async def test_channels_added_to_the_mapping_later_are_reported() -> None:
    channels: dict[str, object] = {}
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector(channels))
    assert not scraped(registry)
    channels["late"] = PushChannel[int]()
    await channels["late"].publish(1)  # type: ignore[attr-defined]
    assert scraped(registry)["deliverymodes_messages_published_total", "late", "push"] == 1


def test_a_channel_of_your_own_is_reported_with_its_model() -> None:
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector({"own": OutsideLog[int]()}))
    assert scraped(registry)["deliverymodes_polls_total", "own", "poll"] == 0


@pytest.mark.parametrize("bad", [42, {"x": 42}, {1: PushChannel[int]()}])
def test_what_cannot_be_reported_is_refused_at_once(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"statistics|mapping|strings"):
        ChannelCollector(bad)


async def test_opentelemetry_instruments_read_the_same_figures() -> None:
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    channels = await workload()
    reader = export.InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    observe_channels(provider.get_meter("test"), channels)
    data = reader.get_metrics_data()
    seen: dict[tuple[str, str, str], float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, point.attributes["channel"], point.attributes["model"])
                    seen[key] = point.value
    models = {"ticks": "push", "log": "poll", "chat": "long_poll"}
    want = {
        (metric.otel_name, name, models[name]): attrs.asdict(channel.statistics())[metric.field]
        for name, channel in channels.items()
        for metric in METRICS
    }
    assert seen == want
    provider.shutdown()

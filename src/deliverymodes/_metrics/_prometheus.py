"""The Prometheus collector of channels' and servers' figures."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._tables import (
    BY_SERVER,
    LAG_HELP,
    LAG_METRIC,
    LE_LABELS,
    METRICS,
    SERVER_METRICS,
    ChannelMetric,
    channel_readings,
    checked_channels,
    checked_servers,
    lag_snapshots,
    server_readings,
)

if TYPE_CHECKING:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.metrics_core import Metric


class ChannelCollector:
    """A Prometheus collector of channels' statistics, labelled ``channel`` and ``model``.

    Register it like any collector: ``prometheus_client.REGISTRY.register(ChannelCollector({"chat":
    channel}))``. The mapping stays the caller's: channels added to it later are reported too.
    Counters are exposed with the ``_total`` suffix, gauges without (see :data:`METRICS`).
    ``servers`` (name → an object whose ``statistics()`` returns :class:`ServerStatistics`, such
    as an ``HttpApp``) adds their counts, labelled ``server`` (see :data:`SERVER_METRICS`).
    Channels made with ``measure_lag=True`` also get the ``deliverymodes_delivery_lag_seconds``
    histogram.
    """

    def __init__(
        self, channels: Mapping[str, object], *, servers: Mapping[str, object] | None = None
    ) -> None:
        self._channels = checked_channels(channels)
        self._servers = None if servers is None else checked_servers(servers)

    def describe(self) -> list[Metric]:
        """The metric families, without samples (so registering collects nothing)."""
        servers = [] if self._servers is None else [_family(m, BY_SERVER) for m in SERVER_METRICS]
        return [*(_family(metric) for metric in METRICS), *servers, _lag_family()]

    def collect(self) -> Iterator[Metric]:
        """One family per metric, one sample per channel (and server), read now."""
        families = [(_family(metric), metric.field) for metric in METRICS]
        for name, model, statistics in channel_readings(self._channels):
            for family, field in families:
                family.add_metric([name, model], getattr(statistics, field))
        for family, _field in families:
            yield family
        if self._servers is not None:
            yield from _server_families(self._servers)
        yield from _lag_families(self._channels)


def _family(
    metric: ChannelMetric, labels: tuple[str, ...] = ("channel", "model")
) -> CounterMetricFamily | GaugeMetricFamily:
    try:
        from prometheus_client.core import (  # noqa: PLC0415 - an optional dependency
            CounterMetricFamily,
            GaugeMetricFamily,
        )
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ChannelCollector needs prometheus-client: pip install 'deliverymodes[metrics]'"
        ) from None
    if metric.counter:
        return CounterMetricFamily(metric.name, metric.help, labels=labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=labels)


def _server_families(servers: Mapping[str, Any]) -> Iterator[Metric]:
    """One family per server metric, one sample per server, read now."""
    families = [(_family(metric, BY_SERVER), metric.field) for metric in SERVER_METRICS]
    for name, statistics in server_readings(servers):
        for family, field in families:
            family.add_metric([name], getattr(statistics, field))
    for family, _field in families:
        yield family


def _lag_family() -> HistogramMetricFamily:
    from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415 - optional

    return HistogramMetricFamily(LAG_METRIC, LAG_HELP, labels=["channel", "model"], unit="seconds")


def _lag_families(channels: Mapping[str, Any]) -> Iterator[Metric]:
    """The lag histogram, one series per channel that measures lag; nothing if none does."""
    readings = list(lag_snapshots(channels))
    if not readings:
        return
    family = _lag_family()
    for name, model, snapshot in readings:
        buckets = list(zip(LE_LABELS, snapshot.buckets, strict=True))
        family.add_metric([name, model], buckets, snapshot.sum)
    yield family

"""Channel statistics as Prometheus and OpenTelemetry metrics.

Both read each channel's ``statistics()`` when metrics are collected (a scrape, an OpenTelemetry
export), so they cost nothing per message. Prometheus needs the ``metrics`` extra
(``prometheus-client``); OpenTelemetry needs ``opentelemetry-api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._core import LAG_BUCKETS, ChannelStatistics, LagHistogram, LagSnapshot
from ._protocols import ServedLog, ServedLongPoll, ServedPush

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.metrics_core import Metric

__all__ = [
    "LAG_BUCKETS",
    "METRICS",
    "ChannelCollector",
    "ChannelMetric",
    "LagHistogram",
    "LagSnapshot",
    "channel_model",
    "observe_channels",
]


class ChannelMetric(NamedTuple):
    """One metric taken from :class:`ChannelStatistics`."""

    name: str  # the Prometheus name, without the ``_total`` a counter gets on the wire
    otel_name: str  # the OpenTelemetry instrument name
    field: str  # the ChannelStatistics field it reads
    counter: bool  # a count that only grows (else a gauge: a level now)
    unit: str  # the OpenTelemetry unit
    help: str


METRICS: tuple[ChannelMetric, ...] = (
    ChannelMetric(
        "deliverymodes_messages_published",
        "deliverymodes.messages.published",
        "published",
        True,
        "{message}",
        "Messages published.",
    ),
    ChannelMetric(
        "deliverymodes_messages_delivered",
        "deliverymodes.messages.delivered",
        "delivered",
        True,
        "{message}",
        "Messages handed to readers (push: one per subscriber that received it).",
    ),
    ChannelMetric(
        "deliverymodes_messages_dropped",
        "deliverymodes.messages.dropped",
        "dropped",
        True,
        "{message}",
        "Push deliveries lost to an overflow policy (one per subscriber that lost the message).",
    ),
    ChannelMetric(
        "deliverymodes_messages_missed",
        "deliverymodes.messages.missed",
        "missed",
        True,
        "{message}",
        "Messages readers asked for that retention had already evicted.",
    ),
    ChannelMetric(
        "deliverymodes_unknown_losses",
        "deliverymodes.unknown_losses",
        "missed_unknown",
        True,
        "{read}",
        "Reads from a cursor of an earlier life of the channel, each losing an unknown number.",
    ),
    ChannelMetric(
        "deliverymodes_polls",
        "deliverymodes.polls",
        "polls",
        True,
        "{request}",
        "Poll requests answered.",
    ),
    ChannelMetric(
        "deliverymodes_empty_polls",
        "deliverymodes.empty_polls",
        "empty_polls",
        True,
        "{request}",
        "Poll requests answered with no message.",
    ),
    ChannelMetric(
        "deliverymodes_subscribers",
        "deliverymodes.subscribers",
        "subscribers",
        False,
        "{subscriber}",
        "Subscriptions open.",
    ),
    ChannelMetric(
        "deliverymodes_waiting_polls",
        "deliverymodes.waiting_polls",
        "waiting_polls",
        False,
        "{request}",
        "Long polls waiting.",
    ),
    ChannelMetric(
        "deliverymodes_retained_messages",
        "deliverymodes.retained.messages",
        "retained_messages",
        False,
        "{message}",
        "Messages of history kept (poll and long poll).",
    ),
    ChannelMetric(
        "deliverymodes_retained_bytes",
        "deliverymodes.retained.bytes",
        "retained_bytes",
        False,
        "By",
        "Bytes of history kept (poll and long poll).",
    ),
    ChannelMetric(
        "deliverymodes_buffered_messages",
        "deliverymodes.buffered.messages",
        "buffered",
        False,
        "{message}",
        "Messages waiting in push subscribers' buffers.",
    ),
)


def channel_model(channel: object) -> str:
    """The ``model`` label of ``channel``: "push", "long_poll", "poll", or "other"."""
    if isinstance(channel, ServedPush):
        return "push"
    if isinstance(channel, ServedLongPoll):
        return "long_poll"
    if isinstance(channel, ServedLog):
        return "poll"
    return "other"


def _checked(channels: object) -> Mapping[str, Any]:
    if not isinstance(channels, Mapping):
        raise TypeError(f"channels must be a mapping of names to channels, not {channels!r}")
    for name, channel in channels.items():
        if not isinstance(name, str):
            raise TypeError(f"channel names must be strings, not {name!r}")
        if not callable(getattr(channel, "statistics", None)):
            raise TypeError(
                f"channel {name!r} ({type(channel).__name__}) has no statistics() to report"
            )
    return channels


def _readings(channels: Mapping[str, Any]) -> Iterator[tuple[str, str, ChannelStatistics]]:
    for name, channel in list(channels.items()):
        statistics = channel.statistics()
        if isinstance(statistics, ChannelStatistics):
            yield name, channel_model(channel), statistics


class ChannelCollector:
    """A Prometheus collector of channels' statistics, labelled ``channel`` and ``model``.

    Register it like any collector: ``prometheus_client.REGISTRY.register(ChannelCollector({"chat":
    channel}))``. The mapping stays the caller's: channels added to it later are reported too.
    Counters are exposed with the ``_total`` suffix, gauges without (see :data:`METRICS`).
    Channels made with ``measure_lag=True`` also get the ``deliverymodes_delivery_lag_seconds``
    histogram.
    """

    def __init__(self, channels: Mapping[str, object]) -> None:
        self._channels = _checked(channels)

    def describe(self) -> list[Metric]:
        """The metric families, without samples (so registering collects nothing)."""
        return [*(_family(metric) for metric in METRICS), _lag_family()]

    def collect(self) -> Iterator[Metric]:
        """One family per metric, one sample per channel, read now."""
        families = [(_family(metric), metric.field) for metric in METRICS]
        for name, model, statistics in _readings(self._channels):
            for family, field in families:
                family.add_metric([name, model], getattr(statistics, field))
        for family, _field in families:
            yield family
        yield from _lag_families(self._channels)


def _family(metric: ChannelMetric) -> CounterMetricFamily | GaugeMetricFamily:
    try:
        from prometheus_client.core import (  # noqa: PLC0415 - an optional dependency
            CounterMetricFamily,
            GaugeMetricFamily,
        )
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ChannelCollector needs prometheus-client: pip install 'deliverymodes[metrics]'"
        ) from None
    labels = ["channel", "model"]
    if metric.counter:
        return CounterMetricFamily(metric.name, metric.help, labels=labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=labels)


def observe_channels(meter: Meter, channels: Mapping[str, object]) -> list[Any]:
    """Create OpenTelemetry observable instruments on ``meter`` for the channels' statistics.

    One instrument per entry of :data:`METRICS`, named by its ``otel_name``
    (``deliverymodes.messages.published``, ...): counts are observable counters, levels
    observable up-down counters. Each observation carries the ``channel`` and ``model``
    attributes. The delivery lag of channels made with ``measure_lag=True`` is reported by three
    observable counters: ``deliverymodes.delivery_lag.bucket`` (cumulative, per ``le``),
    ``.count`` and ``.sum``. Returns the instruments.
    """
    checked = _checked(channels)
    instruments: list[Any] = []
    for metric in METRICS:
        create = (
            meter.create_observable_counter
            if metric.counter
            else meter.create_observable_up_down_counter
        )
        instruments.append(
            create(
                metric.otel_name,
                callbacks=[_observer(checked, metric.field)],
                unit=metric.unit,
                description=metric.help,
            )
        )
    instruments.extend(_observe_lag(meter, checked))
    return instruments


def _observer(
    channels: Mapping[str, Any], field: str
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(getattr(statistics, field), {"channel": name, "model": model})
            for name, model, statistics in _readings(channels)
        ]

    return observe


# -- delivery lag ----------------------------------------------------------------------------------

# The Prometheus histogram of delivery lag, for the channels made with ``measure_lag=True``.
_LAG_METRIC = "deliverymodes_delivery_lag_seconds"
_LAG_HELP = "How long messages waited between publish and delivery, observed once per batch."
_LE_LABELS = (*(str(bound) for bound in LAG_BUCKETS), "+Inf")  # the buckets' upper bounds


def _lag_snapshots(channels: Mapping[str, Any]) -> Iterator[tuple[str, str, LagSnapshot]]:
    for name, channel in list(channels.items()):
        lag = getattr(channel, "delivery_lag", None)
        if isinstance(lag, LagHistogram):
            yield name, channel_model(channel), lag.snapshot()


def _lag_family() -> HistogramMetricFamily:
    from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415 - optional

    return HistogramMetricFamily(
        _LAG_METRIC, _LAG_HELP, labels=["channel", "model"], unit="seconds"
    )


def _lag_families(channels: Mapping[str, Any]) -> Iterator[Metric]:
    """The lag histogram, one series per channel that measures lag; nothing if none does."""
    readings = list(_lag_snapshots(channels))
    if not readings:
        return
    family = _lag_family()
    for name, model, snapshot in readings:
        buckets = list(zip(_LE_LABELS, snapshot.buckets, strict=True))
        family.add_metric([name, model], buckets, snapshot.sum)
    yield family


def _observe_lag(meter: Meter, channels: Mapping[str, Any]) -> list[Any]:
    """Observable counters for the lag histograms: ``deliverymodes.delivery_lag.bucket`` (the
    cumulative count of each bucket, its upper bound in the ``le`` attribute), ``.count`` and
    ``.sum``; as the Prometheus histogram's series, so quantiles can be computed downstream."""
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def buckets(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, {"channel": name, "model": model, "le": le})
            for name, model, snapshot in _lag_snapshots(channels)
            for le, count in zip(_LE_LABELS, snapshot.buckets, strict=True)
        ]

    def count(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(snapshot.count, {"channel": name, "model": model})
            for name, model, snapshot in _lag_snapshots(channels)
        ]

    def total(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(snapshot.sum, {"channel": name, "model": model})
            for name, model, snapshot in _lag_snapshots(channels)
        ]

    return [
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.bucket",
            callbacks=[buckets],
            unit="{batch}",
            description="Lag observations of at most `le` seconds (cumulative).",
        ),
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.count",
            callbacks=[count],
            unit="{batch}",
            description="Lag observations: batches delivered and sampled.",
        ),
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.sum",
            callbacks=[total],
            unit="s",
            description="Total of the lag observations, in seconds.",
        ),
    ]

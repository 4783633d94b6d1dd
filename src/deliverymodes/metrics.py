"""Channel statistics as Prometheus and OpenTelemetry metrics.

Both read each channel's ``statistics()`` when metrics are collected (a scrape, an OpenTelemetry
export), so they cost nothing per message. Prometheus needs the ``metrics`` extra
(``prometheus-client``); OpenTelemetry needs ``opentelemetry-api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._core import ChannelStatistics
from ._protocols import ServedLog, ServedLongPoll, ServedPush

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.metrics_core import Metric

__all__ = ["METRICS", "ChannelCollector", "ChannelMetric", "channel_model", "observe_channels"]


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
    """

    def __init__(self, channels: Mapping[str, object]) -> None:
        self._channels = _checked(channels)

    def describe(self) -> list[Metric]:
        """The metric families, without samples (so registering collects nothing)."""
        return [_family(metric) for metric in METRICS]

    def collect(self) -> Iterator[Metric]:
        """One family per metric, one sample per channel, read now."""
        families = [(_family(metric), metric.field) for metric in METRICS]
        for name, model, statistics in _readings(self._channels):
            for family, field in families:
                family.add_metric([name, model], getattr(statistics, field))
        for family, _field in families:
            yield family


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
    attributes. Returns the instruments.
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

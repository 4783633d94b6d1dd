"""Channel statistics as Prometheus and OpenTelemetry metrics, and those of servers.

Both read each channel's (and server's) ``statistics()`` when metrics are collected (a scrape, an
OpenTelemetry export), so they cost nothing per message. Prometheus needs the ``metrics`` extra
(``prometheus-client``); OpenTelemetry needs ``opentelemetry-api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._core import ChannelStatistics
from ._protocols import ServedLog, ServedLongPoll, ServedPush
from ._server_statistics import ServerStatistics

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.metrics_core import Metric

__all__ = [
    "METRICS",
    "SERVER_METRICS",
    "ChannelCollector",
    "ChannelMetric",
    "channel_model",
    "observe_channels",
]


class ChannelMetric(NamedTuple):
    """One metric taken from :class:`ChannelStatistics` (or, in :data:`SERVER_METRICS`, from
    :class:`ServerStatistics`)."""

    name: str  # the Prometheus name, without the ``_total`` a counter gets on the wire
    otel_name: str  # the OpenTelemetry instrument name
    field: str  # the statistics field it reads
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
    ``servers`` (name → an object whose ``statistics()`` returns :class:`ServerStatistics`, such
    as an ``HttpApp``) adds their counts, labelled ``server`` (see :data:`SERVER_METRICS`).
    """

    def __init__(
        self, channels: Mapping[str, object], *, servers: Mapping[str, object] | None = None
    ) -> None:
        self._channels = _checked(channels)
        self._servers = None if servers is None else _checked_servers(servers)

    def describe(self) -> list[Metric]:
        """The metric families, without samples (so registering collects nothing)."""
        servers = [] if self._servers is None else [_family(m, _BY_SERVER) for m in SERVER_METRICS]
        return [*(_family(metric) for metric in METRICS), *servers]

    def collect(self) -> Iterator[Metric]:
        """One family per metric, one sample per channel (and server), read now."""
        families = [(_family(metric), metric.field) for metric in METRICS]
        for name, model, statistics in _readings(self._channels):
            for family, field in families:
                family.add_metric([name, model], getattr(statistics, field))
        for family, _field in families:
            yield family
        if self._servers is not None:
            yield from _server_families(self._servers)


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


def observe_channels(
    meter: Meter, channels: Mapping[str, object], *, servers: Mapping[str, object] | None = None
) -> list[Any]:
    """Create OpenTelemetry observable instruments on ``meter`` for the channels' statistics.

    One instrument per entry of :data:`METRICS`, named by its ``otel_name``
    (``deliverymodes.messages.published``, ...): counts are observable counters, levels
    observable up-down counters. Each observation carries the ``channel`` and ``model``
    attributes. With ``servers`` (as for :class:`ChannelCollector`), one more instrument per
    entry of :data:`SERVER_METRICS`, each observation with the ``server`` attribute. Returns the
    instruments.
    """
    checked = _checked(channels)
    checked_servers = None if servers is None else _checked_servers(servers)
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
    if checked_servers is not None:
        instruments.extend(_observe_servers(meter, checked_servers))
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


# -- servers -------------------------------------------------------------------------------------

#: The metrics taken from :class:`ServerStatistics`, labelled ``server``.
SERVER_METRICS: tuple[ChannelMetric, ...] = (
    ChannelMetric(
        "deliverymodes_connections",
        "deliverymodes.connections",
        "connections",
        False,
        "{connection}",
        "Connections open (HTTP: requests being answered, event streams, WebSockets).",
    ),
    ChannelMetric(
        "deliverymodes_event_streams",
        "deliverymodes.event_streams",
        "event_streams",
        False,
        "{stream}",
        "Server-Sent Event streams open.",
    ),
    ChannelMetric(
        "deliverymodes_websockets",
        "deliverymodes.websockets",
        "websockets",
        False,
        "{connection}",
        "WebSockets open.",
    ),
    ChannelMetric(
        "deliverymodes_connections_opened",
        "deliverymodes.connections.opened",
        "connections_opened",
        True,
        "{connection}",
        "Connections received (HTTP: requests, WebSocket handshakes included).",
    ),
    ChannelMetric(
        "deliverymodes_requests",
        "deliverymodes.requests",
        "requests",
        True,
        "{request}",
        "Requests received (HTTP: requests and WebSocket frames).",
    ),
    ChannelMetric(
        "deliverymodes_requests_refused",
        "deliverymodes.requests.refused",
        "refused",
        True,
        "{request}",
        "Requests answered with an error.",
    ),
)


_BY_SERVER = ("server",)


def _checked_servers(servers: object) -> Mapping[str, Any]:
    if not isinstance(servers, Mapping):
        raise TypeError(f"servers must be a mapping of names to servers, not {servers!r}")
    for name, server in servers.items():
        if not isinstance(name, str):
            raise TypeError(f"server names must be strings, not {name!r}")
        if not callable(getattr(server, "statistics", None)):
            raise TypeError(
                f"server {name!r} ({type(server).__name__}) has no statistics() to report"
            )
    return servers


def _server_readings(servers: Mapping[str, Any]) -> Iterator[tuple[str, ServerStatistics]]:
    for name, server in list(servers.items()):
        statistics = server.statistics()
        if isinstance(statistics, ServerStatistics):
            yield name, statistics


def _server_families(servers: Mapping[str, Any]) -> Iterator[Metric]:
    """One family per server metric, one sample per server, read now."""
    families = [(_family(metric, _BY_SERVER), metric.field) for metric in SERVER_METRICS]
    for name, statistics in _server_readings(servers):
        for family, field in families:
            family.add_metric([name], getattr(statistics, field))
    for family, _field in families:
        yield family


def _observe_servers(meter: Meter, servers: Mapping[str, Any]) -> list[Any]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(getattr(statistics, field), {"server": name})
                for name, statistics in _server_readings(servers)
            ]

        return observe

    instruments: list[Any] = []
    for metric in SERVER_METRICS:
        create = (
            meter.create_observable_counter
            if metric.counter
            else meter.create_observable_up_down_counter
        )
        callbacks = [observer(metric.field)]
        instruments.append(
            create(metric.otel_name, callbacks=callbacks, unit=metric.unit, description=metric.help)
        )
    return instruments

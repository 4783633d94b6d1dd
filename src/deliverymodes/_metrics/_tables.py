"""What the exporters report: the metric tables, and the figures read from channels and servers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .._core import LAG_BUCKETS, ChannelStatistics, LagHistogram, LagSnapshot
from .._protocols import ServedLog, ServedLongPoll, ServedPush
from .._server_statistics import ServerStatistics

if TYPE_CHECKING:
    pass


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


def checked_channels(channels: object) -> Mapping[str, Any]:
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


def channel_readings(channels: Mapping[str, Any]) -> Iterator[tuple[str, str, ChannelStatistics]]:
    for name, channel in list(channels.items()):
        statistics = channel.statistics()
        if isinstance(statistics, ChannelStatistics):
            yield name, channel_model(channel), statistics


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


BY_SERVER = ("server",)


def checked_servers(servers: object) -> Mapping[str, Any]:
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


def server_readings(servers: Mapping[str, Any]) -> Iterator[tuple[str, ServerStatistics]]:
    for name, server in list(servers.items()):
        statistics = server.statistics()
        if isinstance(statistics, ServerStatistics):
            yield name, statistics


# -- delivery lag ----------------------------------------------------------------------------------

# The Prometheus histogram of delivery lag, for the channels made with ``measure_lag=True``.
LAG_METRIC = "deliverymodes_delivery_lag_seconds"
LAG_HELP = "How long messages waited between publish and delivery, observed once per batch."
LE_LABELS = (*(str(bound) for bound in LAG_BUCKETS), "+Inf")  # the buckets' upper bounds


def lag_snapshots(channels: Mapping[str, Any]) -> Iterator[tuple[str, str, LagSnapshot]]:
    for name, channel in list(channels.items()):
        lag = getattr(channel, "delivery_lag", None)
        if isinstance(lag, LagHistogram):
            yield name, channel_model(channel), lag.snapshot()

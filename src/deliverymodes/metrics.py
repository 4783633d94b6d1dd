"""Channel statistics as Prometheus and OpenTelemetry metrics, and those of servers.

Both read each channel's (and server's) ``statistics()`` when metrics are collected (a scrape, an
OpenTelemetry export), so they cost nothing per message. Prometheus needs the ``metrics`` extra
(``prometheus-client``); OpenTelemetry needs ``opentelemetry-api``.
"""

from ._core import LAG_BUCKETS, LagHistogram, LagSnapshot
from ._metrics._otel import observe_channels
from ._metrics._prometheus import ChannelCollector
from ._metrics._tables import METRICS, SERVER_METRICS, ChannelMetric, channel_model

__all__ = [
    "LAG_BUCKETS",
    "METRICS",
    "SERVER_METRICS",
    "ChannelCollector",
    "ChannelMetric",
    "LagHistogram",
    "LagSnapshot",
    "channel_model",
    "observe_channels",
]

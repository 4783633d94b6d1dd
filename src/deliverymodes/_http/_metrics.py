"""``GET /metrics``: an app's channels and its own counts in the Prometheus text format.

Served only when the app is made with ``metrics=True``; it needs ``prometheus-client`` (the
``metrics`` extra), imported when the app is made so that a missing one is said at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._request import Send

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["METRICS_NAME", "SERVER_LABEL", "MetricsPage"]

#: The path segment of the endpoint (``/metrics``): no channel of the app may have this name.
METRICS_NAME = "metrics"
#: The ``server`` label of the app's own counts.
SERVER_LABEL = "http"


class MetricsPage:
    """The exposition of ``app``: a ``ChannelCollector`` of its channels and its own counts, in
    a registry of its own (so that apps in one process do not clash)."""

    def __init__(self, app: HttpApp) -> None:
        try:
            import prometheus_client  # noqa: PLC0415 - an optional dependency
        except ImportError:
            raise ImportError(
                "HttpApp(metrics=True) needs prometheus-client:"
                " pip install 'deliverymodes[metrics]'"
            ) from None
        from ..metrics import ChannelCollector  # noqa: PLC0415 - needs prometheus-client

        self._registry = prometheus_client.CollectorRegistry()
        self._registry.register(ChannelCollector(app.channels, servers={SERVER_LABEL: app}))
        self._generate = prometheus_client.generate_latest
        self._content_type = prometheus_client.CONTENT_TYPE_LATEST.encode("latin-1")

    async def serve(self, send: Send) -> None:
        """Answer with every metric, read now."""
        data = self._generate(self._registry)
        headers = [
            (b"content-type", self._content_type),
            (b"content-length", str(len(data)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data, "more_body": False})

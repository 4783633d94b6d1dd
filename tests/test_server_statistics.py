"""The connection counts of ``HttpApp`` (``ServerStatistics``), and servers reported as metrics."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverymodes import HttpApp, ServerStatistics
from deliverymodes.metrics import SERVER_METRICS, ChannelCollector, observe_channels
from tests.http_helpers import running_app

prometheus_client = pytest.importorskip("prometheus_client")
from tests.metrics_helpers import (  # noqa: E402 - needs prometheus_client
    close_code,
    event_stream,
    parsed,
    server_samples,
    settled,
    three_channels,
    until,
    websocket,
)


async def test_connection_counts_follow_a_known_set_of_requests() -> None:
    channels = three_channels()
    app = HttpApp(channels)
    assert app.statistics() == ServerStatistics()
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(20):
            await client.post("/poll", json=1)
            await client.get("/poll")
            assert (await client.get("/nowhere")).status_code == 404
            assert await settled(app, 0) == ServerStatistics(
                connections_opened=3, requests=3, refused=1
            )
            async with event_stream(client, "/push/events"):
                assert app.statistics() == ServerStatistics(
                    connections=1, event_streams=1, connections_opened=4, requests=4, refused=1
                )
                async with websocket(f"{url}/push/ws", client):
                    await until(lambda: channels["push"].statistics().subscribers == 2)
                    opened = ServerStatistics(
                        connections=2,
                        event_streams=1,
                        websockets=1,
                        connections_opened=5,
                        requests=5,
                        refused=1,
                    )
                    assert app.statistics() == opened
                assert await close_code(f"{url}/nowhere/ws", client) == 4404
            after_streams = await settled(app, 0)
            assert after_streams == ServerStatistics(connections_opened=6, requests=6, refused=2)

            await app.aclose()  # from now on everything is refused
            assert (await client.get("/poll")).status_code == 503
            assert (await client.get("/push/events")).status_code == 200  # ends at once
            assert await close_code(f"{url}/push/ws", client) == 1001
            final = await settled(app, 0)
    assert final == ServerStatistics(connections_opened=9, requests=9, refused=5)


class FixedServer:
    """A server of your own, as the collector sees it: anything with a ``statistics()``."""

    def __init__(self, statistics: object) -> None:
        self._statistics = statistics

    def statistics(self) -> object:
        return self._statistics


def test_the_collector_reports_servers_by_name() -> None:
    figures = ServerStatistics(
        connections=4, event_streams=1, websockets=2, connections_opened=9, requests=30, refused=3
    )
    servers: dict[str, object] = {"tcp": FixedServer(figures)}
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector({}, servers=servers))
    servers["other"] = FixedServer("not statistics")  # skipped, as a channel's would be
    samples = parsed(prometheus_client.generate_latest(registry).decode())
    assert samples == server_samples("tcp", figures)
    assert samples["deliverymodes_requests_refused_total", (("server", "tcp"),)] == 3
    assert samples["deliverymodes_connections", (("server", "tcp"),)] == 4


@pytest.mark.parametrize("bad", [42, {"x": 42}, {1: FixedServer(ServerStatistics())}])
def test_servers_that_cannot_be_reported_are_refused_at_once(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"statistics|mapping|strings"):
        ChannelCollector({}, servers=bad)
    with pytest.raises(TypeError, match=r"statistics|mapping|strings"):
        observe_channels(object(), {}, servers=bad)  # type: ignore[arg-type]


async def test_opentelemetry_instruments_read_the_server_counts() -> None:
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    channels = three_channels()
    app = HttpApp(channels)
    reader = export.InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    observe_channels(provider.get_meter("test"), channels, servers={"http": app})
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(20):
            await client.post("/long", json=1)
            await client.get("/long", params={"cursor": 0})
            await client.get("/long", params={"cursor": "soon"})  # 400
            async with event_stream(client, "/long/events"):
                statistics = await settled(app, 1)
                data = reader.get_metrics_data()
    provider.shutdown()
    seen: dict[str, float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if "server" in point.attributes:
                        assert dict(point.attributes) == {"server": "http"}
                        seen[metric.name] = point.value
    values = attrs.asdict(statistics)
    assert seen == {metric.otel_name: values[metric.field] for metric in SERVER_METRICS}
    assert statistics == ServerStatistics(
        connections=1, event_streams=1, connections_opened=4, requests=4, refused=1
    )


# -- any sequence of requests --------------------------------------------------------------------

#: Requests answered at once (no stream, no wait), good and bad: (method, path, query, body).
REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.sampled_from(["/poll", "/long", "/push", "/metrics", "/nowhere", "/a/b/c", "/poll/ws"]),
    st.sampled_from(["", "cursor=0", "cursor=latest", "cursor=soon", "colour=red"]),
    st.sampled_from([b"1", b'{"n": [1, 2]}', b"{", b""]),
)


async def answer(
    app: HttpApp, method: str, path: str, query: str, body: bytes
) -> tuple[int, bytes]:
    """The status and body ``app`` answers one request with, called as a server would."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"content-type", b"application/json")],
    }
    events = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(st.lists(REQUESTS, max_size=15))
def test_counts_follow_any_sequence_of_requests(
    backend: str, requests: list[tuple[str, str, str, bytes]]
) -> None:
    """Every request is counted once, refused when answered with an error status, and a scrape
    reports the counts as they are when it is answered (itself included)."""
    app = HttpApp(three_channels(), metrics=True)
    refused = 0

    async def run() -> None:
        nonlocal refused
        for number, request in enumerate(requests, start=1):
            status, body = await answer(app, *request)
            refused += status >= 400
            assert app.statistics() == ServerStatistics(
                connections_opened=number, requests=number, refused=refused
            )
            if request[:3] == ("GET", "/metrics", ""):
                samples = parsed(body.decode())
                during = ServerStatistics(
                    connections=1, connections_opened=number, requests=number, refused=refused
                )
                assert server_samples("http", during).items() <= samples.items()

    anyio.run(run, backend=backend)

"""``HttpApp`` serving ``/metrics``, its own connection counts, and server counts as metrics."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import attrs
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from deliverymodes import (
    Batching,
    HttpApp,
    LongPollChannel,
    PollChannel,
    PushChannel,
    ServerSentEvent,
    ServerStatistics,
    SseParser,
    metrics,
)
from deliverymodes.metrics import METRICS, SERVER_METRICS, ChannelCollector, observe_channels
from tests.http_helpers import running_app
from tests.test_package import run_without

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def parsed(text: str) -> Samples:
    """Every sample of an exposition, by (sample name, sorted labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def exposed(name: str, counter: bool) -> str:
    return name + ("_total" if counter else "")


def channel_samples(name: str, model: str, channel: Any) -> Samples:
    statistics = attrs.asdict(channel.statistics())
    labels = (("channel", name), ("model", model))
    return {(exposed(m.name, m.counter), labels): statistics[m.field] for m in METRICS}


def server_samples(name: str, statistics: ServerStatistics) -> Samples:
    values = attrs.asdict(statistics)
    labels = (("server", name),)
    return {(exposed(m.name, m.counter), labels): values[m.field] for m in SERVER_METRICS}


def websocket(
    url: str, client: httpx.AsyncClient
) -> AbstractAsyncContextManager[AsyncWebSocketSession]:
    session: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(url, client)
    return session


async def close_code(url: str, client: httpx.AsyncClient) -> int:
    """The code a WebSocket that the server closes at once is closed with."""
    async with websocket(url, client) as socket:
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive_text()
    return closed.value.code


class EventReader:
    """The events of one SSE response, read a few at a time (comments skipped)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._parser = SseParser()
        self._ready: list[ServerSentEvent] = []

    async def next(self) -> ServerSentEvent:
        while not self._ready:
            self._ready.extend(self._parser.feed(await self._chunks.__anext__()))
        return self._ready.pop(0)


@asynccontextmanager
async def event_stream(client: httpx.AsyncClient, path: str) -> AsyncIterator[EventReader]:
    """An SSE stream, open once its ``ready`` event has come."""
    async with client.stream("GET", path) as response:
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
        async with aclosing(chunks):
            reader = EventReader(chunks)
            assert (await reader.next()).event == "ready"
            yield reader


async def settled(app: HttpApp, connections: int) -> ServerStatistics:
    """The app's statistics once exactly ``connections`` are open (a request's count ends
    just after its answer reaches the client)."""
    while app.statistics().connections != connections:  # noqa: ASYNC110
        await anyio.sleep(0.01)
    return app.statistics()


async def until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110
        await anyio.sleep(0.01)


def three_channels() -> dict[str, Any]:
    return {
        "push": PushChannel[object](),
        "poll": PollChannel[object](),
        "long": LongPollChannel[object](batching=Batching(max_wait=30)),
    }


async def test_a_scrape_equals_the_statistics_after_a_known_workload_in_each_model() -> None:
    channels = three_channels()
    push, poll, long = channels["push"], channels["poll"], channels["long"]
    # No keepalive during the test: the event stream's long poll stays waiting.
    app = HttpApp(channels, metrics=True, keepalive_interval=60)
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(20):
            async with (
                event_stream(client, "/long/events?cursor=0") as stream,
                websocket(f"{url}/push/ws", client) as socket,
                anyio.create_task_group() as tg,
            ):
                answers: list[Any] = []

                async def long_poll() -> None:
                    response = await client.get("/long", params={"cursor": 0, "wait": 10})
                    answers.append(response.json())

                tg.start_soon(long_poll)
                await until(
                    lambda: long.statistics().waiting_polls == 2 and push.statistics().subscribers
                )
                await client.post("/long", json={"n": 1})
                assert json.loads((await stream.next()).data)["payload"] == {"n": 1}
                await client.post("/push", json={"n": 2})
                assert json.loads(await socket.receive_text())["payload"] == {"n": 2}
                await socket.send_text(json.dumps({"n": 3}))  # a publish through the socket
                assert json.loads(await socket.receive_text())["payload"] == {"n": 3}
                await socket.send_text("not JSON")  # refused with an error frame
                assert "error" in json.loads(await socket.receive_text())

                await client.get("/poll", params={"cursor": 0})  # empty
                await client.post("/poll", json="a")
                await client.post("/poll", json="b")
                await client.get("/poll", params={"cursor": 0})
                await client.get("/poll", params={"cursor": 2})  # empty
                assert (await client.get("/missing")).status_code == 404
                assert (await client.get("/poll", params={"wait": 1})).status_code == 400

                await until(lambda: answers and long.statistics().waiting_polls == 1)
                await settled(app, 2)  # the event stream and the WebSocket
                response = await client.get("/metrics")
                statistics = await settled(app, 2)
                # The scrape is one of the connections it reports.
                during = attrs.evolve(statistics, connections=statistics.connections + 1)
                expected = {
                    **channel_samples("push", "push", push),
                    **channel_samples("poll", "poll", poll),
                    **channel_samples("long", "long_poll", long),
                    **server_samples("http", during),
                }

    assert response.status_code == 200
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    assert parsed(response.text) == expected
    # 13 HTTP requests (WebSocket handshake included), 2 frames sent on the socket.
    assert statistics == ServerStatistics(
        connections=2,
        event_streams=1,
        websockets=1,
        connections_opened=13,
        requests=15,
        refused=3,
    )
    assert expected["deliverymodes_polls_total", (("channel", "poll"), ("model", "poll"))] == 3
    assert (
        expected["deliverymodes_empty_polls_total", (("channel", "poll"), ("model", "poll"))] == 2
    )
    assert expected["deliverymodes_polls_total", (("channel", "long"), ("model", "long_poll"))] == 2
    assert (
        expected["deliverymodes_waiting_polls", (("channel", "long"), ("model", "long_poll"))] == 1
    )
    assert (
        expected["deliverymodes_messages_delivered_total", (("channel", "push"), ("model", "push"))]
        == 2
    )
    assert expected["deliverymodes_subscribers", (("channel", "push"), ("model", "push"))] == 1
    assert answers[0]["reason"] == "min_messages"


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


async def test_metrics_are_off_by_default() -> None:
    app = HttpApp(three_channels())
    assert not app.metrics
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"error": "no channel named 'metrics'"}


def test_a_channel_named_metrics_cannot_be_served_with_metrics_on() -> None:
    with pytest.raises(ValueError, match=r"named 'metrics'.*metrics endpoint"):
        HttpApp({"metrics": PushChannel[int]()}, metrics=True)
    assert HttpApp({"metrics": PushChannel[int]()}).channels  # with metrics off, it is a channel
    with pytest.raises(TypeError, match="metrics must be a bool"):
        HttpApp({}, metrics="/metrics")  # type: ignore[arg-type]


async def test_a_channel_named_metrics_added_later_is_not_served() -> None:
    channels: dict[str, Any] = three_channels()
    app = HttpApp(channels, metrics=True)
    channels["metrics"] = PushChannel[object]()
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        scrape = await client.get("/metrics")
        events = await client.get("/metrics/events")
        publish = await client.post("/metrics", json=1)
        refused = await close_code(f"{url}/metrics/ws", client)
    assert scrape.status_code == 200
    assert (events.status_code, events.json()) == (404, {"error": "no channel named 'metrics'"})
    assert (publish.status_code, publish.headers["allow"]) == (405, "GET")
    assert refused == 4404
    assert channels["metrics"].statistics().published == 0


async def test_metrics_requests_are_checked_like_any_other() -> None:
    asked: list[tuple[str, str]] = []
    allow = [False]

    def authorize(scope: object, channel: str, action: str) -> bool:
        asked.append((channel, action))
        return allow[0]

    app = HttpApp(three_channels(), metrics=True, authorize=authorize)
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        denied = await client.get("/metrics")
        allow[0] = True
        allowed = await client.get("/metrics")
        unknown = await client.get("/metrics", params={"name": "x"})
        await app.aclose()
        closing = await client.get("/metrics")
    assert (denied.status_code, denied.json()) == (
        403,
        {"error": "not allowed to read the metrics"},
    )
    assert allowed.status_code == 200
    assert "deliverymodes_requests_total" in allowed.text
    assert (unknown.status_code, closing.status_code) == (400, 503)
    assert asked == [("", "metrics"), ("", "metrics")]


def test_metrics_without_prometheus_client_say_which_extra_to_install() -> None:
    code = "from deliverymodes import HttpApp; HttpApp({}, metrics=True)"
    result = run_without("prometheus_client", code)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: HttpApp(metrics=True) needs prometheus-client:"
        " pip install 'deliverymodes[metrics]'"
    )
    result = run_without("prometheus_client", "from deliverymodes import HttpApp; HttpApp({})")
    assert result.returncode == 0, result.stderr


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


async def test_prometheus_asgi_app_mounted_next_to_the_app() -> None:
    """The alternative to ``metrics=True`` that docs/observability.md shows."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    channels = {"prices": PushChannel[object]()}
    http_app = HttpApp(channels)
    registry = prometheus_client.CollectorRegistry()
    registry.register(ChannelCollector(channels, servers={"http": http_app}))
    app = Starlette(
        routes=[
            Mount("/metrics", app=prometheus_client.make_asgi_app(registry)),
            Mount("/channels", app=http_app),
        ]
    )
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(20):
            assert (await client.post("/channels/prices", json=1)).status_code == 200
            response = await client.get("/metrics", follow_redirects=True)
            statistics = await settled(http_app, 0)
    assert response.status_code == 200
    samples = parsed(response.text)
    assert samples == {
        **channel_samples("prices", "push", channels["prices"]),
        **server_samples("http", statistics),
    }
    assert samples["deliverymodes_requests_total", (("server", "http"),)] == 1


DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_metrics_name_is_documented() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `metrics\.([A-Za-z_]\w*)`", api, flags=re.MULTILINE))
    assert documented == set(metrics.__all__)


def test_the_observability_page_lists_every_metric_by_both_names() -> None:
    page = (DOCS / "observability.md").read_text(encoding="utf-8")
    for metric in (*METRICS, *SERVER_METRICS):
        assert f"`{exposed(metric.name, metric.counter)}`" in page, metric.name
        assert f"`{metric.otel_name}`" in page, metric.otel_name

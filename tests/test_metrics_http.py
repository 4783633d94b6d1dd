"""``HttpApp`` serving ``/metrics``: what a scrape holds, when it is served, and the alternative
of mounting ``prometheus_client``'s own ASGI app."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from deliverymodes import HttpApp, PushChannel, ServerStatistics, metrics
from deliverymodes.metrics import METRICS, SERVER_METRICS, ChannelCollector
from tests.http_helpers import running_app
from tests.test_package import run_without

prometheus_client = pytest.importorskip("prometheus_client")
from tests.metrics_helpers import (  # noqa: E402 - needs prometheus_client
    channel_samples,
    close_code,
    event_stream,
    exposed,
    parsed,
    server_samples,
    settled,
    three_channels,
    until,
    websocket,
)


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

"""The TCP server's connection counts (``ServerCounts``), and them reported as metrics."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from deliverymodes import (
    EARLIEST,
    LongPollChannel,
    PollChannel,
    PushChannel,
    RemoteError,
    ServerCounts,
    ServerStatistics,
    connect,
    connect_tcp,
    serve,
    serve_tcp,
    stream_pair,
)
from deliverymodes.metrics import ChannelCollector

prometheus_client = pytest.importorskip("prometheus_client")
from tests.metrics_helpers import parsed, server_samples, until  # noqa: E402


async def test_tcp_counts_connections_requests_and_refusals() -> None:
    channels = {
        "push": PushChannel[int](),
        "poll": PollChannel[int](),
        "long": LongPollChannel[int](),
    }
    counts = ServerCounts()
    assert counts.statistics() == ServerStatistics()
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, channels, counts=counts))
        with anyio.fail_after(20):
            async with connect_tcp("127.0.0.1", port, reconnect=None) as remote:
                await until(lambda: counts.connections == 1)
                async with remote.push("push").subscribe() as subscriber:  # SUBSCRIBE
                    await remote.push("push").publish(1)  # PUBLISH
                    assert (await subscriber.receive()).payload == 1
                await remote.poll("poll").poll(EARLIEST)  # POLL
                await remote.poll("poll").publish(2)  # PUBLISH
                await remote.long_poll("long").publish(3)  # PUBLISH
                await remote.long_poll("long").poll(EARLIEST, max_wait=1)  # LONG_POLL
                with pytest.raises(RemoteError):
                    await remote.poll("nowhere").poll(EARLIEST)  # POLL, refused
                seen = counts.statistics()
                assert seen.connections == 1
                assert seen.connections_opened == 1
                assert seen.requests == 7
                assert seen.refused == 1
                assert (seen.event_streams, seen.websockets) == (0, 0)
            await until(lambda: counts.connections == 0)
            async with connect_tcp("127.0.0.1", port, reconnect=None) as remote:
                await remote.poll("poll").poll(EARLIEST)
            await until(lambda: counts.connections == 0)
        tg.cancel_scope.cancel()
    assert counts.statistics() == ServerStatistics(
        connections=0, connections_opened=2, requests=8, refused=1
    )


async def test_the_counts_are_scraped_as_server_metrics() -> None:
    counts = ServerCounts()
    channels = {"poll": PollChannel[int]()}
    server_end, client_end = stream_pair()
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(serve, server_end, channels, counts=counts))
        with anyio.fail_after(20):
            async with connect(client_end) as remote:
                await remote.poll("poll").publish(1)
                registry = prometheus_client.CollectorRegistry()
                registry.register(ChannelCollector(channels, servers={"tcp": counts}))
                samples = parsed(prometheus_client.generate_latest(registry).decode())
                want = server_samples("tcp", counts.statistics())
                assert {key: samples[key] for key in want} == want
                assert want[("deliverymodes_requests_total", (("server", "tcp"),))] == 1
                assert want[("deliverymodes_connections", (("server", "tcp"),))] == 1
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("bad", [42, ServerStatistics(), {"connections": 0}])
async def test_anything_but_server_counts_is_refused_before_binding(bad: object) -> None:
    with pytest.raises(TypeError, match="counts must be a ServerCounts"):
        await serve_tcp({"poll": PollChannel[int]()}, counts=bad)  # type: ignore[arg-type]

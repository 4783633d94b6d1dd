"""What the tests of metrics over HTTP share: reading an exposition, what it should hold, and
waiting for an app's connections, streams and sockets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import Any, cast

import anyio
import attrs
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from prometheus_client.parser import text_string_to_metric_families

from deliverymodes import (
    Batching,
    HttpApp,
    LongPollChannel,
    PollChannel,
    PushChannel,
    ServerSentEvent,
    ServerStatistics,
    SseParser,
)
from deliverymodes.metrics import METRICS, SERVER_METRICS

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


async def until(condition: Callable[[], object]) -> None:
    while not condition():  # noqa: ASYNC110
        await anyio.sleep(0.01)


def three_channels() -> dict[str, Any]:
    return {
        "push": PushChannel[object](),
        "poll": PollChannel[object](),
        "long": LongPollChannel[object](batching=Batching(max_wait=30)),
    }

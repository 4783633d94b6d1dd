"""Faults found by clients written from the HTTP documentation (curl, a browser's EventSource
and WebSocket), and by hostile requests and hostile servers, against a real ASGI server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from hypothesis import given
from hypothesis import strategies as st
from starlette.middleware.cors import CORSMiddleware

from deliverymodes import (
    AccessDenied,
    Batching,
    ChannelClosed,
    HttpApp,
    LongPollChannel,
    PollChannel,
    ProtocolError,
    PushChannel,
    Retention,
    SseParser,
)
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app
from tests.test_http import events

# -- hostile bodies and frames ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"[" * 1500 + b"]" * 1500, b"NaN", b'{"p": Infinity}', b"[1e999]", b"{"]
)
async def test_bad_json_bodies_are_refused_and_the_server_goes_on(body: bytes) -> None:
    channel = PollChannel[object]()
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            headers = {"content-type": "application/json"}
            refused = await client.post(f"{url}/c", content=body, headers=headers)
            accepted = await client.post(f"{url}/c", content=b"[1]", headers=headers)
    assert refused.status_code == 400
    assert "JSON" in refused.json()["error"]
    assert accepted.status_code == 200
    assert channel.statistics().published == 1


async def test_a_hostile_websocket_frame_gets_an_error_and_the_socket_goes_on() -> None:
    push = PushChannel[object]()
    async with running_app(HttpApp({"c": push})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}/c/ws", client) as socket:
                await socket.send_text("[" * 1500 + "]" * 1500)
                error = json.loads(await socket.receive_text())
                await socket.send_text("NaN")
                error_nan = json.loads(await socket.receive_text())
                await socket.send_text('{"ok": 1}')
                echoed = json.loads(await socket.receive_text())
    assert "nested" in error["error"]
    assert "NaN" in error_nan["error"]
    assert echoed["payload"] == {"ok": 1}
    assert push.statistics().published == 1


# -- WebSocket refusals and methods ----------------------------------------------------------


def _authorize(scope: MutableMapping[str, Any], channel: str, action: str) -> bool:
    if channel == "secret":
        return False
    if channel == "login":
        raise AccessDenied(401, "who are you? " + "x" * 200)  # longer than a close reason
    return True


@pytest.mark.parametrize(
    ("path", "code"),
    [("/missing/ws", 4404), ("/secret/ws", 4403), ("/login/ws", 4401), ("/c/events", 4404)],
)
async def test_websocket_refusals_close_with_the_documented_code(path: str, code: int) -> None:
    channels = {name: PushChannel[object]() for name in ("c", "secret", "login")}
    app = HttpApp(channels, authorize=_authorize)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}{path}", client) as socket:
                with pytest.raises(WebSocketDisconnect) as closed:
                    await socket.receive_text()
    assert closed.value.code == code
    assert closed.value.reason


async def test_the_websocket_path_answers_plain_http_as_documented() -> None:
    async with running_app(HttpApp({"c": PushChannel[object]()})) as url:
        async with httpx.AsyncClient() as client:
            posted = await client.post(f"{url}/c/ws", content=b"1")
            got = await client.get(f"{url}/c/ws")
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET"
    assert got.status_code == 426
    assert got.headers["upgrade"] == "websocket"


# -- Server-Sent Events ------------------------------------------------------------------------


async def test_an_event_stream_from_earliest_says_where_it_starts() -> None:
    channel = LongPollChannel[int](Retention(max_messages=3), Batching(max_wait=0.05))
    for n in range(5):
        channel.publish_nowait(n)  # 0 and 1 fall out of retention: the earliest is 2
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            params = {"cursor": "earliest"}
            async with client.stream("GET", f"{url}/c/events", params=params) as response:
                ready, first = await events(response, 2)
    assert ready.event == "ready"
    assert json.loads(ready.data) == {"cursor": 2}
    assert first.id == "2"


async def test_no_server_event_is_named_like_event_sources_own() -> None:
    channel = PollChannel[int]()
    channel.publish_nowait(1)
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            params = {"cursor": "0"}
            async with client.stream("GET", f"{url}/c/events", params=params) as response:
                found = await events(response, 2)
                await channel.aclose()
    assert [event.event for event in found] == ["ready", "message"]


async def test_an_event_stream_of_a_poll_channel_ends_when_it_closes() -> None:
    channel = PollChannel[int]()
    app = HttpApp({"c": channel}, poll_interval=60)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):  # not the 60 s between polls
            async with client.stream("GET", f"{url}/c/events") as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if b"event: ready" in body and not channel.closed:
                        await anyio.wait_all_tasks_blocked()
                        await channel.aclose()  # while the stream sleeps between polls
    assert body.endswith(b"event: closed\ndata: {}\n\n")


# -- the library's HTTP client against a hostile server ------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _liar(body: bytes, content_type: bytes = b"application/json") -> Any:
    """An ASGI app answering every request with ``body``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"messages": 3, "cursor": 0, "missed": 0, "closed": false, "reason": null}',
        b'{"messages": [{"offset": "x"}], "cursor": 0, "missed": 0, "closed": false}',
        b'{"messages": [], "cursor": -5, "missed": 0, "closed": false, "reason": null}',
        b'{"messages": [], "cursor": 1, "missed": 0, "closed": false, "reason": "soon"}',
        b"[" * 2000,
    ],
)
async def test_the_http_client_reports_a_garbled_batch_as_a_protocol_error(body: bytes) -> None:
    async with running_app(_liar(body)) as url, HttpRemote(url) as remote:
        with anyio.fail_after(10), pytest.raises(ProtocolError):
            await remote.channel("c").poll(0)


@pytest.mark.parametrize(
    "stream",
    [
        b"event: ready\ndata: {}\n\ndata: {not json\n\n",
        b"event: ready\ndata: {}\n\nevent: missed\ndata: {}\n\n",
        b"event: ready\ndata: []\n\n",
        b'event: ready\ndata: {}\n\ndata: {"offset": 0, "payload": 1}\n\n',
    ],
)
async def test_the_event_client_reports_a_garbled_stream_as_a_protocol_error(
    stream: bytes,
) -> None:
    app = _liar(stream, b"text/event-stream")
    async with running_app(app) as url, HttpRemote(url) as remote:
        subscriber = remote.channel("c").events(0)
        with anyio.fail_after(10), pytest.raises(ProtocolError):
            async with subscriber:
                await subscriber.receive()


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_the_sse_parser_takes_any_bytes(chunks: list[bytes]) -> None:
    parser = SseParser(max_event_size=64)
    failure = ""
    try:
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert len(event.data.encode()) <= 64 * 3  # replacement characters may grow it
    except ValueError as error:
        failure = str(error)
    assert failure in ("", "an event of more than 64 bytes")


def test_the_sse_parser_bounds_a_line_that_never_ends() -> None:
    parser = SseParser(max_event_size=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        parser.feed(b"x" * 200)


def test_the_sse_parser_bounds_an_event_that_never_ends() -> None:
    parser = SseParser(max_event_size=1000)
    line = b"data: " + b"x" * 20 + b"\n"
    assert parser.feed(line * 30) == []  # 780 bytes: not an event yet
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        parser.feed(line * 10)


# -- cross-origin readers ------------------------------------------------------------------------


async def test_cors_middleware_lets_other_origins_read_long_polls_and_events() -> None:
    channel = LongPollChannel[int](batching=Batching(max_wait=0.05))
    channel.publish_nowait(1)
    app = CORSMiddleware(
        HttpApp({"c": channel}),
        allow_origins=["https://prices.example"],
        allow_methods=["GET", "POST"],
        allow_headers=["last-event-id", "content-type"],
    )
    origin = {"origin": "https://prices.example"}
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            preflight = await client.options(
                f"{url}/c",
                headers={**origin, "access-control-request-method": "POST"},
            )
            polled = await client.get(f"{url}/c", params={"cursor": 0, "wait": 1}, headers=origin)
            stranger = await client.get(
                f"{url}/c", params={"cursor": 0}, headers={"origin": "https://evil.example"}
            )
            async with client.stream("GET", f"{url}/c/events", headers=origin) as response:
                allowed = response.headers.get("access-control-allow-origin")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://prices.example"
    assert polled.headers["access-control-allow-origin"] == "https://prices.example"
    assert [m["payload"] for m in polled.json()["messages"]] == [1]
    assert "access-control-allow-origin" not in stranger.headers
    assert allowed == "https://prices.example"


async def test_authorize_can_refuse_websockets_from_other_origins() -> None:
    def same_origin(scope: MutableMapping[str, Any], channel: str, action: str) -> bool:
        headers = dict(scope["headers"])
        return headers.get(b"origin") in (None, b"https://prices.example")

    app = HttpApp({"c": PushChannel[object]()}, authorize=same_origin)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            good = {"origin": "https://prices.example"}
            async with aconnect_ws(f"{url}/c/ws", client, headers=good):
                pass
            bad = {"origin": "https://evil.example"}
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}/c/ws", client, headers=bad) as socket:
                with pytest.raises(WebSocketDisconnect) as refused:
                    await socket.receive_text()
    assert refused.value.code == 4403


async def test_publishing_to_a_closed_channel_over_http_raises_channel_closed() -> None:
    channel = PollChannel[int]()
    await channel.aclose()
    async with running_app(HttpApp({"c": channel})) as url, HttpRemote(url) as remote:
        with anyio.fail_after(10), pytest.raises(ChannelClosed):
            await remote.channel("c").publish(1)

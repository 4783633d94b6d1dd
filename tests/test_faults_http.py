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
    Overflow,
    PollChannel,
    ProtocolError,
    PushChannel,
    Retention,
    SseParser,
)
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app
from tests.remote_helpers import wait_until
from tests.served_apps import server_process
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
    channel = LongPollChannel[int](Retention(max_messages=3), Batching(max_wait=0.05), epoch=9)
    for n in range(5):
        channel.publish_nowait(n)  # 0 and 1 fall out of retention: the earliest is 2
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            params = {"cursor": "earliest"}
            async with client.stream("GET", f"{url}/c/events", params=params) as response:
                ready, first = await events(response, 2)
    assert ready.event == "ready"
    assert json.loads(ready.data) == {"cursor": 2, "epoch": 9}
    assert first.id == "9:2"


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


# -- found by clients written from the documentation alone -----------------------------------


async def test_a_websocket_that_leaves_while_messages_flow_is_no_error() -> None:
    async with server_process("uvicorn") as server:
        async with httpx.AsyncClient(timeout=10) as client:

            async def flood() -> None:
                while True:
                    await client.post(f"{server.url}/push", json={"x": "y" * 1000})

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(flood)
                    for _ in range(20):
                        socket: AsyncWebSocketSession
                        async with aconnect_ws(f"{server.url}/push/ws", client) as socket:
                            await socket.receive_text()
                    tg.cancel_scope.cancel()
    assert "Traceback" not in server.stderr, server.stderr


async def test_a_blocked_publish_is_withdrawn_when_its_client_leaves() -> None:
    push = PushChannel[object](buffer_size=1, overflow=Overflow.BLOCK)
    app = HttpApp({"c": push})
    handled = anyio.Event()

    async def noting_when_handled(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            handled.set()

    async with (
        running_app(noting_when_handled) as url,
        httpx.AsyncClient() as client,
        push.subscribe() as local,
    ):
        await push.publish("fills the buffer")
        with anyio.fail_after(10):
            with pytest.raises(httpx.ReadTimeout):
                await client.post(f"{url}/c", json="gave up", timeout=0.5)
            await handled.wait()  # the server saw the client leave and let the publish go
            assert (await local.receive()).payload == "fills the buffer"
            answered = await client.post(f"{url}/c", json="next")
        assert answered.json()["offset"] == 1  # offset 1 was not taken by the withdrawn one
        assert (await local.receive()).payload == "next"


@pytest.mark.parametrize("query", ["wait=0", "min_bytes=0"])
async def test_an_event_stream_refuses_thresholds_that_would_spin(query: str) -> None:
    async with running_app(HttpApp({"c": LongPollChannel[int]()})) as url:
        async with httpx.AsyncClient() as client:
            refused = await client.get(f"{url}/c/events?{query}")
    assert refused.status_code == 400


async def test_an_event_stream_does_not_spin_on_a_channel_with_a_zero_byte_threshold() -> None:
    channel = LongPollChannel[int](batching=Batching(min_bytes=0))
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            async with client.stream("GET", f"{url}/c/events") as response:
                await events(response, 1)
                await anyio.sleep(0.5)
                polls = channel.statistics().polls
    assert polls < 5  # it waits for messages: it does not answer itself again and again


async def test_a_long_poll_event_stream_holds_its_batch_with_keepalives() -> None:
    channel = LongPollChannel[int]()
    channel.publish_nowait(1)
    app = HttpApp({"c": channel}, keepalive_interval=0.1)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            params = {"cursor": "0", "wait": "0.6", "min_messages": "1000"}
            async with client.stream("GET", f"{url}/c/events", params=params) as response:
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if b'data: {"offset"' in raw:
                        break
    before_message = raw.split(b"id: 0\n")[0]
    assert before_message.count(b": keepalive") >= 2  # held past the keepalive interval


async def test_websocket_readers_are_told_of_gaps() -> None:
    channel = PollChannel[int](Retention(max_messages=3))
    app = HttpApp({"c": channel}, poll_interval=0.01)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}/c/ws", client) as socket:
                await wait_until(lambda: channel.statistics().polls > 0)
                for n in range(10):  # faster than the socket's poller: some fall out
                    channel.publish_nowait(n)
                frames: list[dict[str, Any]] = []
                while not frames or frames[-1].get("offset") != 9:
                    frames.append(json.loads(await socket.receive_text()))
    received = [f["offset"] for f in frames if "offset" in f]
    gaps = [f for f in frames if "missed" in f]
    assert received[-1] == 9
    assert gaps
    assert sum(g["missed"] for g in gaps) + len(received) == 10


async def test_websocket_frames_are_bounded_and_binary_frames_refused() -> None:
    push = PushChannel[object]()
    app = HttpApp({"c": push}, max_body_size=100)
    async with running_app(app) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{url}/c/ws", client) as socket:
                await socket.send_text(json.dumps("x" * 200))
                too_large = json.loads(await socket.receive_text())
                await socket.send_bytes(b"[1]")
                binary = json.loads(await socket.receive_text())
    assert too_large["frame"] == 1
    assert "larger than 100 bytes" in too_large["error"]
    assert binary["frame"] == 2
    assert "binary" in binary["error"]
    assert push.statistics().published == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/c?colour=red", 400),
        ("GET", "/c?cursor=0&cursor=1", 400),
        ("GET", "/c?cursor=%2B1", 400),
        ("GET", "/c?cursor=1_0", 400),
        ("GET", "/c?cursor=%D9%A1", 400),
        ("GET", "/c?max_messages=%201", 400),
        ("GET", "/c?wait=1_0", 400),
        ("GET", "/p/events?wait=1", 400),
        ("GET", "/p/events?max_messages=3", 400),
        ("GET", "//c", 200),
    ],
)
async def test_parameters_are_read_strictly(method: str, path: str, status: int) -> None:
    app = HttpApp({"c": LongPollChannel[int](), "p": PushChannel[int]()})
    async with running_app(app) as url, httpx.AsyncClient() as client:
        response = await client.request(method, url + path, json=1)
    assert response.status_code == status, response.text


async def test_a_compressed_body_is_refused_not_stored_as_it_is() -> None:
    channel = PollChannel[object]()
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        response = await client.post(f"{url}/c", content=b"\x1f\x8b...", headers=headers)
    assert response.status_code == 415
    assert channel.statistics().published == 0


async def test_websocket_with_parameters_is_refused_with_4400_and_extra_slashes_are_fine() -> None:
    async with running_app(HttpApp({"c": PushChannel[object]()})) as url:
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                socket: AsyncWebSocketSession
                async with aconnect_ws(f"{url}/c/ws?cursor=0", client) as socket:
                    with pytest.raises(WebSocketDisconnect) as refused:
                        await socket.receive_text()
                async with aconnect_ws(f"{url}/c//ws", client) as socket:
                    await socket.send_text("1")
                    echoed = json.loads(await socket.receive_text())
    assert refused.value.code == 4400
    assert echoed["payload"] == 1


async def test_the_ready_event_lets_a_stream_resume_where_it_started() -> None:
    channel = LongPollChannel[int](batching=Batching(max_wait=0.05), epoch=9)
    for n in range(3):
        channel.publish_nowait(n)
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            async with client.stream("GET", f"{url}/c/events") as response:
                (ready,) = await events(response, 1)  # then the connection drops
            channel.publish_nowait(3)  # while the reader is away
            headers = {"last-event-id": ready.id or ""}
            async with client.stream("GET", f"{url}/c/events", headers=headers) as response:
                _, message = await events(response, 2)
            empty = LongPollChannel[int](epoch=4)
            async with running_app(HttpApp({"e": empty})) as other:
                async with client.stream("GET", f"{other}/e/events") as response:
                    (first_ready,) = await events(response, 1)
    assert (ready.id, json.loads(ready.data)) == ("9:2", {"cursor": 3, "epoch": 9})
    assert message.id == "9:3"  # not lost in the reconnection
    assert first_ready.id == "4:-1"


@pytest.mark.parametrize("channel_kind", ["long", "push"])
async def test_a_last_event_id_beyond_the_head_is_refused_clearly(channel_kind: str) -> None:
    channel: object = LongPollChannel[int]() if channel_kind == "long" else PushChannel[int]()
    async with running_app(HttpApp({"c": channel})) as url, httpx.AsyncClient() as client:
        response = await client.get(f"{url}/c/events", headers={"last-event-id": "23"})
    assert response.status_code == 400
    assert "Last-Event-ID 23 is beyond" in response.json()["error"]


async def test_a_push_event_stream_reports_a_gap_at_once_on_reconnection() -> None:
    push = PushChannel[int](epoch=9)
    for n in range(5):
        await push.publish(n)  # no subscriber: these reach no one
    async with running_app(HttpApp({"c": push})) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            headers = {"last-event-id": "9:1"}
            async with client.stream("GET", f"{url}/c/events", headers=headers) as response:
                ready, gap = await events(response, 2)
    assert json.loads(ready.data) == {"cursor": 5, "epoch": 9}
    assert (gap.event, json.loads(gap.data)) == ("missed", {"missed": 3, "cursor": 5, "epoch": 9})


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/c?cursor=1&epoch=9007199254740992", {}, "epoch must be a whole number from 1"),
        ("/c?cursor=0&epoch=12345678901234567&wait=1", {}, "epoch must be a whole number"),
        ("/c?cursor=0&epoch=0", {}, "epoch must be a whole number from 1"),
        ("/c/events", {"last-event-id": "0:1"}, "the epoch of Last-Event-ID must be"),
        ("/c/events", {"last-event-id": ":1"}, "Last-Event-ID must be epoch:offset"),
        ("/c/events", {"last-event-id": "5:1:2"}, "Last-Event-ID must be epoch:offset"),
        ("/c/events", {"last-event-id": "latest"}, "Last-Event-ID must be epoch:offset"),
        ("/c/events?epoch=18446744073709551616", {}, "epoch must be a whole number from 1"),
    ],
)
async def test_epochs_and_event_ids_are_refused_clearly(
    path: str, headers: dict[str, str], expected: str
) -> None:
    async with running_app(HttpApp({"c": LongPollChannel[int]()})) as url:
        async with httpx.AsyncClient() as client:
            response = await client.get(url + path, headers=headers)
    assert response.status_code == 400
    assert expected in response.json()["error"]

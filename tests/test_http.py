"""The ASGI app under a real server, exercised by real HTTP, SSE and WebSocket clients."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, aclosing
from typing import cast

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from deliverymodes import (
    AccessDenied,
    Batching,
    HttpApp,
    LongPollChannel,
    Overflow,
    PollChannel,
    PushChannel,
    Retention,
    ServerSentEvent,
    SseParser,
)
from tests.http_helpers import running_app

EPOCH = 7  # a fixed life, so that event ids can be compared


def make_channels() -> dict[str, object]:
    return {
        "push": PushChannel[object](epoch=EPOCH),
        "poll": PollChannel[object](epoch=EPOCH),
        "long": LongPollChannel[object](
            Retention(max_messages=5), Batching(max_wait=10), epoch=EPOCH
        ),
    }


def websocket(
    url: str, client: httpx.AsyncClient
) -> AbstractAsyncContextManager[AsyncWebSocketSession]:
    """A WebSocket session with the server, through httpx."""
    session: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(url, client)
    return session


def chunks_of(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body's chunks, as the generator it is (so that ``aclosing`` can close it early)."""
    return cast(AsyncGenerator[bytes, None], response.aiter_bytes())


async def events(response: httpx.Response, count: int) -> list[ServerSentEvent]:
    """The first ``count`` events (comments skipped) of an SSE response."""
    parser = SseParser()
    found: list[ServerSentEvent] = []
    async with aclosing(chunks_of(response)) as chunks:
        async for chunk in chunks:
            found.extend(parser.feed(chunk))
            if len(found) >= count:
                break
    return found[:count]


async def test_publish_and_poll() -> None:
    channels = make_channels()
    async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
        published = await client.post("/poll", json={"price": 1.5})
        assert published.status_code == 200
        assert published.json()["offset"] == 0
        await client.post("/poll", content="plain text", headers={"content-type": "text/plain"})
        await client.post(
            "/poll", content=b"\x00\x01", headers={"content-type": "application/octet-stream"}
        )
        answer = (await client.get("/poll", params={"cursor": 0})).json()
        assert [m["payload"] for m in answer["messages"]] == [
            {"price": 1.5},
            "plain text",
            base64.b64encode(b"\x00\x01").decode(),
        ]
        assert answer["messages"][2]["encoding"] == "base64"
        assert (answer["cursor"], answer["missed"], answer["closed"]) == (3, 0, False)
        empty = (await client.get("/poll", params={"cursor": 3, "max_messages": 10})).json()
        assert (empty["messages"], empty["cursor"]) == ([], 3)
        poll = channels["poll"]
        assert isinstance(poll, PollChannel)
        assert poll.statistics().empty_polls == 1


async def test_long_poll_waits_for_a_message_and_reports_why() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
        answers: list[dict[str, object]] = []

        async def wait() -> None:
            response = await client.get("/long", params={"cursor": 0, "wait": 10})
            answers.append(response.json())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                while not long.statistics().waiting_polls:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                await long.publish("now")
        assert answers[0]["reason"] == "min_messages"
        assert [m["payload"] for m in answers[0]["messages"]] == ["now"]  # type: ignore[attr-defined]


async def test_the_server_clamps_the_wait() -> None:
    app = HttpApp(make_channels(), max_wait=0.05)
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(10):
            answer = (await client.get("/long", params={"cursor": 0, "wait": 3600})).json()
        assert answer["reason"] == "max_wait"


async def test_bad_requests_get_clear_statuses() -> None:
    def authorize(scope: object, channel: str, action: str) -> bool:
        if channel == "push" and action == "publish":
            raise AccessDenied(401, "log in first")
        return not (channel == "poll" and action == "publish")

    app = HttpApp(make_channels(), authorize=authorize, max_body_size=100)
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        cases = [
            (client.get("/missing"), 404, "missing"),
            (client.get("/a/b/c"), 404, "no such path"),
            (client.get("/long", params={"cursor": "soon"}), 400, "cursor"),
            (client.get("/long", params={"max_messages": 0}), 400, "max_messages"),
            (client.get("/long", params={"wait": "-1"}), 400, "wait"),
            (client.get("/long", params={"min_messages": 2}), 400, "min_messages"),
            (client.get("/long", params={"cursor": 99}), 400, "beyond the head"),
            (client.get("/long", params={"colour": "red"}), 400, "colour"),
            (client.get("/poll", params={"wait": 1}), 400, "wait needs a long-poll channel"),
            (client.get("/push"), 400, "keeps no history"),
            (client.delete("/long"), 405, "DELETE"),
            (client.post("/long/events"), 405, "POST"),
            (client.post("/long", content=b"x" * 101), 413, "larger than 100"),
            (
                client.post("/long", content=b"{", headers={"content-type": "application/json"}),
                400,
                "JSON",
            ),
            (client.post("/push", json=1), 401, "log in first"),
            (client.post("/poll", json=1), 403, "publish"),
        ]
        for request, status, text in cases:
            response = await request
            assert response.status_code == status, (status, response.text)
            assert text in response.json()["error"]
        allow = (await client.delete("/long")).headers["allow"]
        assert allow == "GET, POST"


async def test_server_sent_events_resume_from_last_event_id() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    for value in range(3):
        await long.publish(value)
    async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(10):
            async with client.stream("GET", "/long/events", params={"cursor": 0}) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                opened, *first = await events(response, 3)
            assert opened.event == "ready"
            assert opened.retry == 3000
            assert [(e.id, json.loads(e.data)["payload"]) for e in first] == [
                ("7:0", 0),
                ("7:1", 1),
            ]
            headers = {"last-event-id": "7:1"}
            async with client.stream("GET", "/long/events", headers=headers) as response:
                _, resumed = await events(response, 2)
            headers = {"last-event-id": "1"}  # a bare offset: in the current life
            async with client.stream("GET", "/long/events", headers=headers) as response:
                _, bare = await events(response, 2)
        assert (resumed.id, json.loads(resumed.data)["payload"]) == ("7:2", 2)
        assert bare.id == "7:2"


async def test_server_sent_events_report_gaps_keep_alive_and_end_on_close() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    for value in range(8):  # retention keeps 5: offsets 0-2 are gone
        await long.publish(value)
    app = HttpApp(channels, keepalive_interval=0.05)
    async with running_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(10):
            async with client.stream("GET", "/long/events", params={"cursor": 0}) as response:
                parser = SseParser()
                seen: list[ServerSentEvent] = []
                raw = b""
                async with aclosing(chunks_of(response)) as chunks:
                    async for chunk in chunks:
                        raw += chunk
                        seen.extend(parser.feed(chunk))
                        if len(seen) == 7 and b": keepalive" in raw:
                            await long.aclose()
                        if seen and seen[-1].event == "closed":
                            break
        kinds = [e.event for e in seen]
        assert kinds == [
            "ready",
            "missed",
            "message",
            "message",
            "message",
            "message",
            "message",
            "closed",
        ]
        assert json.loads(seen[1].data) == {"missed": 3, "cursor": 3, "epoch": EPOCH}
        assert b": keepalive" in raw


async def test_push_channel_over_sse_and_websocket() -> None:
    channels = make_channels()
    push = channels["push"]
    assert isinstance(push, PushChannel)
    async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(10):
            async with websocket(f"{url}/push/ws", client) as session:
                while not push.statistics().subscribers:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                await push.publish({"n": 1})
                received = json.loads(await session.receive_text())
                assert (received["offset"], received["payload"]) == (0, {"n": 1})
                await session.send_text(json.dumps({"n": 2}))  # publishing through the socket
                echoed = json.loads(await session.receive_text())
                assert echoed["payload"] == {"n": 2}
            while push.statistics().subscribers:  # noqa: ASYNC110
                await anyio.sleep(0.01)


async def read_until_closed(session: AsyncWebSocketSession) -> None:
    while True:
        await session.receive_text()


async def test_slow_websocket_is_cut_off_by_the_disconnect_policy() -> None:
    push = PushChannel[str](buffer_size=2, overflow=Overflow.DISCONNECT)
    async with (
        running_app(HttpApp({"push": push})) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        with anyio.fail_after(30):
            async with websocket(f"{url}/push/ws", client) as socket:
                while not push.statistics().subscribers:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                big = "x" * 100_000
                for _ in range(2000):  # far more than the socket buffers hold
                    await push.publish(big)
                    if not push.statistics().subscribers:
                        break
                assert push.statistics().subscribers == 0
                assert push.statistics().dropped == 1
                with pytest.raises(WebSocketDisconnect) as closed:
                    await read_until_closed(socket)
                assert closed.value.code == 4000


async def test_disconnects_leave_no_waiting_poll_or_subscription() -> None:
    channels = make_channels()
    long, push = channels["long"], channels["push"]
    assert isinstance(long, LongPollChannel)
    assert isinstance(push, PushChannel)
    async with running_app(HttpApp(channels)) as url, httpx.AsyncClient(base_url=url) as client:
        with anyio.fail_after(10):
            with anyio.move_on_after(0.3):
                await client.get("/long", params={"cursor": 0, "wait": 30})
            async with client.stream("GET", "/push/events") as response:
                await events(response, 1)
                assert push.statistics().subscribers == 1
            while long.statistics().waiting_polls or push.statistics().subscribers:  # noqa: ASYNC110
                await anyio.sleep(0.01)


async def test_200_concurrent_long_polls() -> None:
    channels = make_channels()
    long = channels["long"]
    assert isinstance(long, LongPollChannel)
    limits = httpx.Limits(max_connections=250)
    async with running_app(HttpApp(channels)) as url:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            answers: list[int] = []

            async def wait() -> None:
                response = await client.get("/long", params={"cursor": 0, "wait": 20})
                answers.append(len(response.json()["messages"]))

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for _ in range(200):
                        tg.start_soon(wait)
                    while long.statistics().waiting_polls < 200:  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                    await long.publish("go")
        assert answers == [1] * 200
        assert long.statistics().waiting_polls == 0

"""Stopping a server promptly: SIGTERM to uvicorn or hypercorn serving ``HttpApp`` with event
streams, WebSockets and long polls open, and closing the app itself."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from deliverymodes import Batching, HttpApp, LongPollChannel, Overflow, PushChannel
from tests.http_helpers import running_app
from tests.served_apps import SERVERS, server_process


@pytest.mark.parametrize("server", list(SERVERS))
async def test_sigterm_ends_open_streams_at_once_and_the_server_exits(server: str) -> None:
    found: dict[str, Any] = {}
    async with (
        server_process(server) as running,
        httpx.AsyncClient(base_url=running.url, timeout=30) as client,
    ):
        ready = anyio.Event()

        async def long_poll() -> None:
            answer = await client.get("/quiet", params={"cursor": "latest", "wait": "30"})
            found["long poll"] = (answer.status_code, answer.json()["reason"])

        async def event_stream() -> None:
            async with client.stream("GET", "/quiet/events") as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if b"event: ready" in body:
                        ready.set()
            found["events"] = body  # ended without an error: a clean end of the response

        async def websocket() -> None:
            socket: AsyncWebSocketSession
            async with aconnect_ws(f"{running.url}/push/ws", client) as socket:
                found["websocket open"] = True
                try:
                    await socket.receive_text()
                except WebSocketDisconnect as closed:
                    found["websocket"] = closed.code

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(long_poll)
                tg.start_soon(event_stream)
                tg.start_soon(websocket)
                await ready.wait()
                while "websocket open" not in found:  # noqa: ASYNC110 - a flag set by a task
                    await anyio.sleep(0.01)
                started = time.monotonic()
                running.process.send_signal(signal.SIGTERM)
                await anyio.to_thread.run_sync(running.process.wait, 20)
                found["seconds"] = time.monotonic() - started
    assert found["long poll"] == (200, "max_wait")  # answered with what there was
    assert found["events"].endswith(b"retry: 3000\n\n")  # told when to come back
    assert found["websocket"] == 1001  # going away
    # About a tenth of a second here; the bound is loose for a busy machine.
    print(f"{server}: stopped in {found['seconds']:.3f} s")
    assert found["seconds"] < 3, found


async def test_closing_the_app_ends_its_streams_and_refuses_what_comes_after() -> None:
    quiet = LongPollChannel[int](batching=Batching(max_wait=None))
    push = PushChannel[int](buffer_size=1, overflow=Overflow.BLOCK)
    app = HttpApp({"quiet": quiet, "push": push})
    async with running_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with push.subscribe():
            await push.publish(0)  # fills the buffer: a publish over HTTP waits
            with anyio.fail_after(10):
                answers: dict[str, Any] = {}
                async with anyio.create_task_group() as tg:

                    async def long_poll() -> None:
                        answer = await client.get("/quiet", params={"wait": "30"})
                        answers["long poll"] = answer.json()["reason"]

                    async def publish() -> None:
                        answers["publish"] = (await client.post("/push", json=1)).status_code

                    tg.start_soon(long_poll)
                    tg.start_soon(publish)
                    await anyio.wait_all_tasks_blocked()
                    async with client.stream("GET", "/quiet/events") as response:
                        raw = b""
                        async for chunk in response.aiter_bytes():
                            raw += chunk
                            if b"event: ready" in raw and not app.closed:
                                await app.aclose()
                    rest = raw.decode()
                after = await client.get("/quiet")
                stream_after = await client.get("/quiet/events")
        assert answers == {"long poll": "max_wait", "publish": 503}
        assert rest.endswith("retry: 3000\n\n")
        assert after.status_code == 503
        assert json.loads(after.text)["error"] == "the server is shutting down"
        # An event stream is not refused (a browser would give up for good): it ends at once
        # and says when to come back.
        assert stream_after.status_code == 200
        assert stream_after.text == "retry: 3000\n\n"
        assert push.statistics().published == 1  # the waiting publish was withdrawn

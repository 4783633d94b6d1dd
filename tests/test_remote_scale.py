"""Many remote subscribers at once, and TLS: over real loopback sockets."""

from __future__ import annotations

import ssl
from contextlib import AsyncExitStack
from functools import partial

import anyio
import pytest
import trustme

from deliverymodes import LongPollChannel, PushChannel, connect_tcp, serve_tcp
from tests.remote_helpers import running_server

SUBSCRIBERS = 200
MESSAGES = 50


async def test_200_remote_subscribers_receive_every_message_in_order() -> None:
    channel = PushChannel[int]()
    received: list[list[int]] = [[] for _ in range(SUBSCRIBERS)]
    async with running_server({"ticks": channel}, "tcp") as connect_to, AsyncExitStack() as stack:
        subscribers = []
        for _ in range(SUBSCRIBERS):
            remote = await stack.enter_async_context(connect_to())
            subscribers.append(await stack.enter_async_context(remote.push("ticks").subscribe()))
        assert channel.statistics().subscribers == SUBSCRIBERS

        async def read(index: int) -> None:
            async for message in subscribers[index]:
                received[index].append(message.payload)
                if len(received[index]) == MESSAGES:
                    return

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for index in range(SUBSCRIBERS):
                    tg.start_soon(read, index)
                for value in range(MESSAGES):
                    await channel.publish(value)
    assert received == [list(range(MESSAGES))] * SUBSCRIBERS
    assert channel.statistics().dropped == 0


async def test_200_concurrent_remote_long_polls() -> None:
    channel = LongPollChannel[str]()
    results: list[int] = []
    async with running_server({"feed": channel}, "tcp") as connect_to:
        async with connect_to() as first, connect_to() as second:  # 100 per connection at most

            async def long_poll(index: int) -> None:
                remote = first if index % 2 else second
                batch = await remote.long_poll("feed").poll(0, min_messages=1, max_wait=None)
                results.append(len(batch.messages))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for index in range(SUBSCRIBERS):
                        tg.start_soon(long_poll, index)
                    while channel.statistics().waiting_polls < SUBSCRIBERS:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                    await channel.publish("go")
    assert results == [1] * SUBSCRIBERS
    assert channel.statistics().waiting_polls == 0


@pytest.fixture(scope="module")
def certificates() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context


async def test_tls(certificates: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = certificates
    channel = PushChannel[str]()
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"secret": channel}, ssl_context=server_context))
        async with connect_tcp("127.0.0.1", port, ssl_context=client_context) as remote:
            async with remote.push("secret").subscribe() as subscriber:
                await remote.push("secret").publish("over TLS")
                with anyio.fail_after(5):
                    assert (await subscriber.receive()).payload == "over TLS"
        tg.cancel_scope.cancel()

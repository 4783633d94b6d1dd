"""``None`` means "no limit" for a wait or a cap on every transport, as on a local channel;
leaving a setting ``UNSET`` leaves it to the channel (or, over HTTP, to the server)."""

from __future__ import annotations

import anyio
import pytest

from deliverymodes import UNSET, Batching, LongPollChannel, Release, connect_tcp
from deliverymodes.defaults import DEFAULT_MAX_BATCH_MESSAGES
from deliverymodes.http import HttpApp, HttpRemote
from tests.http_helpers import running_app
from tests.remote_helpers import tcp_server

MANY = DEFAULT_MAX_BATCH_MESSAGES + 20


async def test_no_cap_with_none_and_the_server_cap_when_unset() -> None:
    local = LongPollChannel[int](batching=Batching(max_wait=0.05))
    for value in range(MANY):
        await local.publish(value)
    async with running_app(HttpApp({"long": local})) as url, HttpRemote(url) as remote:
        channel = remote.channel("long")
        uncapped = await channel.poll(0, max_messages=None, max_bytes=None)
        assert (
            len(uncapped.messages) == MANY == len((await local.poll(0, max_messages=None)).messages)
        )
        capped = await channel.poll(0)  # UNSET: the server's cap
        assert len(capped.messages) == DEFAULT_MAX_BATCH_MESSAGES
        assert len((await channel.poll(0, max_messages=UNSET)).messages) == len(capped.messages)
    async with tcp_server({"long": local}) as port, connect_tcp("127.0.0.1", port) as tcp:
        over_tcp = await tcp.long_poll("long").poll(0, max_messages=None, max_bytes=None)
        assert len(over_tcp.messages) == MANY


async def test_a_wait_of_none_is_held_as_long_as_the_server_allows() -> None:
    """Locally ``max_wait=None`` waits without limit; over HTTP it is held up to the app's
    ``max_wait`` (the server's limit, not one of the client's); ``UNSET`` is a plain poll."""
    long = LongPollChannel[int](batching=Batching(max_wait=None))
    app = HttpApp({"long": long}, max_wait=0.2)
    async with running_app(app) as url, HttpRemote(url) as remote:
        channel = remote.channel("long")
        with anyio.fail_after(10):
            plain = await channel.poll(0)
            assert plain.reason is None
            started = anyio.current_time()
            held = await channel.poll(0, wait=None)
        assert held.reason is Release.MAX_WAIT
        assert anyio.current_time() - started >= 0.2 * 0.95
        with anyio.move_on_after(0.1) as waited:  # locally: no limit at all
            await long.poll(0, max_wait=None)
        assert waited.cancelled_caught


async def test_min_bytes_none_means_no_byte_threshold() -> None:
    """The channel releases on one byte; ``min_bytes=None`` asks for no byte threshold, so the
    long poll waits for its other thresholds instead, over HTTP as locally."""
    long = LongPollChannel[str](batching=Batching(min_messages=100, min_bytes=1, max_wait=5))
    await long.publish("one")
    async with running_app(HttpApp({"long": long})) as url, HttpRemote(url) as remote:
        channel = remote.channel("long")
        with anyio.fail_after(10):
            by_bytes = await channel.poll(0, wait=5)
            assert by_bytes.reason is Release.MIN_BYTES
            waited = await channel.poll(0, wait=0.05, min_bytes=None)
            assert waited.reason is Release.MAX_WAIT
            local = await long.poll(0, max_wait=0.05, min_bytes=None)
            assert local.reason is Release.MAX_WAIT


def test_thresholds_need_a_wait() -> None:
    channel = HttpRemote("http://127.0.0.1:1").channel("long")
    with pytest.raises(ValueError, match="go with wait"):
        channel.subscribe(0, wait=UNSET, min_messages=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wait must be"):
        channel.subscribe(0, wait=-1)


async def test_an_event_stream_takes_none_for_its_wait_and_byte_threshold() -> None:
    long = LongPollChannel[str](batching=Batching(min_bytes=1))
    async with running_app(HttpApp({"long": long})) as url, HttpRemote(url) as remote:
        params = {"wait": "none", "min_bytes": "none"}
        with anyio.fail_after(10):
            async with remote.client.stream("GET", f"{url}/long/events", params=params) as answer:
                assert answer.status_code == 200
            refused = await remote.client.get(f"{url}/long/events", params={"min_messages": "none"})
        assert refused.status_code == 400

"""One reconnection policy for every transport: the HTTP subscribers pause and give up as the
``Reconnect`` given to their ``HttpRemote`` says, as a TCP ``Remote`` does."""

from __future__ import annotations

import itertools

import anyio
import pytest

from deliverymodes import (
    ConnectionLost,
    HttpApp,
    LongPollChannel,
    Reconnect,
    Subscriber,
    connect_tcp,
)
from deliverymodes._reconnect import Reconnect as NeutralReconnect
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app
from tests.test_http_statuses import StatusApp

#: Pauses of 0.05, 0.1 and 0.2 s, then giving up: four requests in all.
POLICY = Reconnect(initial_delay=0.05, multiplier=2, jitter=0, max_attempts=3)
PAUSES = [0.05, 0.1, 0.2]


def test_the_transports_share_one_policy_class() -> None:
    assert Reconnect is NeutralReconnect
    remote = HttpRemote("http://127.0.0.1:1", reconnect=POLICY)
    assert remote.reconnect is POLICY
    assert connect_tcp("127.0.0.1", 1, reconnect=POLICY).reconnect is POLICY
    with pytest.raises(TypeError, match="reconnect must be a Reconnect"):
        HttpRemote("http://127.0.0.1:1", reconnect=3)  # type: ignore[arg-type]


def assert_paused_as_the_policy_says(times: list[float]) -> None:
    assert len(times) == 1 + len(PAUSES)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    for gap, pause in zip(gaps, PAUSES, strict=True):
        assert gap >= pause * 0.95  # the clock's resolution


@pytest.mark.parametrize("kind", ["events", "long poll", "poll"])
async def test_a_subscriber_reconnects_with_the_given_delays_then_gives_up(kind: str) -> None:
    unavailable = StatusApp(503)  # a server that is stopping, again and again
    async with running_app(unavailable) as url, HttpRemote(url, reconnect=POLICY) as remote:
        channel = remote.channel("feed")
        subscriber: Subscriber[object]
        if kind == "events":
            subscriber = channel.events(0)
        elif kind == "long poll":
            subscriber = channel.subscribe(0, wait=1)
        else:
            subscriber = channel.poll_subscriber(0, poll_interval=0.01)
        with anyio.fail_after(10), pytest.raises(ConnectionLost, match="503"):
            await subscriber.receive()
        assert_paused_as_the_policy_says(unavailable.times)
        statistics = subscriber.statistics()
        if kind == "events":  # every attempt is a request of the stream, and came back empty
            assert (statistics.polls, statistics.empty_polls) == (4, 4)
        await subscriber.aclose()


async def test_an_event_stream_that_gave_up_stays_ended() -> None:
    unavailable = StatusApp(503)
    policy = Reconnect(initial_delay=0.01, jitter=0, max_attempts=1)
    async with running_app(unavailable) as url, HttpRemote(url, reconnect=policy) as remote:
        subscriber = remote.channel("feed").events(0)
        with anyio.fail_after(10), pytest.raises(ConnectionLost):
            await subscriber.receive()
        with anyio.fail_after(10), pytest.raises(ConnectionLost):
            await subscriber.receive()
        assert len(unavailable.times) == 2  # nothing asked again after giving up
        assert subscriber.reconnects == 0  # tried once more, never connected again


async def test_without_a_policy_nothing_is_asked_again() -> None:
    unavailable = StatusApp(503)
    async with running_app(unavailable) as url, HttpRemote(url, reconnect=None) as remote:
        channel = remote.channel("feed")
        for subscriber in (channel.events(0), channel.subscribe(0), channel.poll_subscriber(0)):
            with anyio.fail_after(10), pytest.raises(ConnectionLost):
                await subscriber.receive()
        assert len(unavailable.times) == 3


async def test_the_server_retry_hint_is_a_floor_for_the_pause() -> None:
    """An event stream that ends (the app stopping) is asked for again no sooner than the
    server's ``retry:`` hint, even where the policy's pause is shorter."""
    app = HttpApp({"feed": LongPollChannel[int]()}, retry=0.3)
    quick = Reconnect(initial_delay=0.01, jitter=0, max_attempts=2)
    async with running_app(app) as url, HttpRemote(url, reconnect=quick) as remote:
        async with remote.channel("feed").events(0) as subscriber:
            started = anyio.current_time()
            await app.aclose()  # the stream ends with its hint; the next ones end at once
            with anyio.fail_after(10), pytest.raises(ConnectionLost):
                await subscriber.receive()
            assert anyio.current_time() - started >= 2 * 0.3 * 0.95
            assert subscriber.reconnects == 0  # asked twice more; the closed app never let it in

"""HTTP statuses and the library's exceptions: the app answers each refusal with its status, and
the clients raise, for each status, what a local channel (or a TCP remote) would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverymodes import (
    AccessDenied,
    ChannelClosed,
    ConnectionLost,
    DeliveryError,
    ErrorCode,
    HttpApp,
    LongPollChannel,
    PushChannel,
    Reconnect,
    RemoteError,
)
from deliverymodes._http._request import HttpError
from deliverymodes._http._statuses import error_for_status, refusals
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app


class StatusApp:
    """An ASGI app answering every request with ``status`` and ``{"error": ...}``; it counts
    the requests and notes when each came."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.times.append(anyio.current_time())
        body = json.dumps({"error": f"refused with {self.status}"}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


POLICY = Reconnect()


@asynccontextmanager
async def remote_of(app: Any, reconnect: Reconnect | None = POLICY) -> AsyncIterator[HttpRemote]:
    async with running_app(app) as url, HttpRemote(url, reconnect=reconnect) as remote:
        yield remote


def is_remote_error(code: ErrorCode) -> Callable[[BaseException], bool]:
    return lambda error: isinstance(error, RemoteError) and error.code is code


EXPECTED: dict[int, Callable[[BaseException], bool]] = {
    400: lambda error: type(error) is ValueError,
    401: lambda error: isinstance(error, AccessDenied) and error.status == 401,
    403: lambda error: isinstance(error, AccessDenied) and error.status == 403,
    404: is_remote_error(ErrorCode.UNKNOWN_CHANNEL),
    405: is_remote_error(ErrorCode.UNSUPPORTED),
    410: lambda error: isinstance(error, ChannelClosed),
    413: lambda error: type(error) is ValueError,
    415: is_remote_error(ErrorCode.UNSUPPORTED),
    500: is_remote_error(ErrorCode.INTERNAL),
    502: lambda error: isinstance(error, ConnectionLost),
    503: lambda error: isinstance(error, ConnectionLost),
    504: lambda error: isinstance(error, ConnectionLost),
}


@pytest.mark.parametrize("status", sorted(EXPECTED))
async def test_every_client_call_raises_the_exception_of_a_status(status: int) -> None:
    async with remote_of(StatusApp(status), reconnect=None) as remote:
        channel = remote.channel("any")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: channel.publish("x"),
            lambda: channel.poll(0),
            lambda: channel.poll(0, wait=1),
            lambda: channel.events(0).__aenter__(),
        ]
        for call in calls:
            with anyio.fail_after(10), pytest.raises(Exception, match="refused with") as raised:
                await call()
            assert EXPECTED[status](raised.value), (status, raised.value)


def test_unknown_statuses_map_by_class() -> None:
    assert is_remote_error(ErrorCode.UNSUPPORTED)(error_for_status(418, "teapot"))
    assert is_remote_error(ErrorCode.INTERNAL)(error_for_status(507, "full"))


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (ChannelClosed("gone"), 410),
        (ValueError("bad"), 400),
        (TypeError("bad type"), 400),
        (AccessDenied(401, "who?"), 401),
        (AccessDenied(), 403),
    ],
)
def test_the_app_answers_each_refusal_with_its_status(raised: Exception, status: int) -> None:
    with pytest.raises(HttpError) as answered, refusals():
        raise raised
    assert answered.value.status == status
    assert str(raised) in answered.value.message or isinstance(raised, ChannelClosed)


def test_other_exceptions_are_not_refusals() -> None:
    with pytest.raises(KeyError), refusals():
        raise KeyError("a bug, not a refusal")
    with pytest.raises(ValueError, match="hook"), refusals(only=(AccessDenied,)):
        raise ValueError("a failing hook")


async def test_refusals_of_a_real_app_reach_the_client_as_exceptions() -> None:
    closed = LongPollChannel[object]()
    await closed.aclose()

    def authorize(_scope: Any, channel: str, action: str) -> bool:
        if channel == "secret":
            raise AccessDenied(401, "log in first")
        return not (channel == "private" and action == "publish")

    channels = {
        "long": LongPollChannel[object](),
        "closed": closed,
        "secret": LongPollChannel[object](),
        "private": LongPollChannel[object](),
        "push": PushChannel[object](),
    }
    app = HttpApp(channels, authorize=authorize, max_body_size=100)
    async with remote_of(app) as remote:
        with anyio.fail_after(20):
            with pytest.raises(ValueError, match="beyond the head"):
                await remote.channel("long").poll(5)
            with pytest.raises(ValueError, match="larger than 100 bytes"):
                await remote.channel("long").publish("x" * 200)
            with pytest.raises(ValueError, match="keeps no history"):
                await remote.channel("push").poll(0)
            with pytest.raises(AccessDenied, match="log in first") as denied:
                await remote.channel("secret").poll(0)
            assert denied.value.status == 401
            with pytest.raises(AccessDenied) as forbidden:
                await remote.channel("private").publish("x")
            assert forbidden.value.status == 403
            assert (await remote.channel("private").poll(0)).messages == ()
            with pytest.raises(ChannelClosed):
                await remote.channel("closed").publish("x")
            with pytest.raises(RemoteError) as missing:
                await remote.channel("missing").poll(0)
            assert missing.value.code is ErrorCode.UNKNOWN_CHANNEL


REFUSALS = st.one_of(
    st.text(max_size=20).map(ChannelClosed),
    st.text(max_size=20).map(ValueError),
    st.text(max_size=20).map(TypeError),
    st.builds(AccessDenied, st.sampled_from([401, 403]), st.text(max_size=20)),
)


@given(REFUSALS)
def test_a_refusal_reaches_the_client_as_the_same_kind_of_exception(raised: Exception) -> None:
    """What the app answers for a refusal, the client raises again: both sides of one table."""
    with pytest.raises(HttpError) as answered, refusals():
        raise raised
    again = error_for_status(answered.value.status, answered.value.message)
    kind = ValueError if isinstance(raised, TypeError) else type(raised)  # 400 is a bad argument
    assert type(again) is kind
    if isinstance(raised, AccessDenied):
        assert isinstance(again, AccessDenied)
        assert (again.status, again.message) == (raised.status, raised.message)


@given(st.integers(min_value=400, max_value=599), st.text(max_size=20))
def test_every_error_status_maps_to_a_library_exception(status: int, text: str) -> None:
    error = error_for_status(status, text)
    assert isinstance(error, (ValueError, DeliveryError))
    assert text in str(error)
    if isinstance(error, ConnectionLost):  # the ones a subscriber retries
        assert status in (502, 503, 504)

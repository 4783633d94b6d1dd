"""One ASGI application serving channels over HTTP: publish, poll, long poll, SSE, WebSocket.

This module routes requests and answers publishes and polls; ``_events`` streams Server-Sent
Events and ``_websocket`` serves WebSockets.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import anyio

from .._common import publish_at_once
from .._core import EARLIEST, UNSET, Batch, Batching, Start, check_count, check_seconds
from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SSE_RETRY,
)
from .._exceptions import ChannelClosed
from .._protocols import ServedLongPoll
from .._serving import Served, ServedChannels, batching_with, fixed_cursor
from .._wire import load_json
from ._events import serve_events, serve_goodbye
from ._fragments import Fragments, dumps
from ._request import (
    HttpError,
    Receive,
    Scope,
    Send,
    cap,
    count,
    cursor,
    disconnected,
    epoch,
    header,
    parameters,
    seconds,
    unless_disconnected,
)
from ._shutdown import Closing, SignalWatch, waker
from ._websocket import serve_websocket

__all__ = ["AccessDenied", "HttpApp"]

Authorize = Callable[[Scope, str, str], "bool | Awaitable[bool]"]

_JSON = [(b"content-type", b"application/json")]
#: Longest a signal is held back while the app ends its streams, and how long the server is
#: given to write their last bytes out before the signal acts.
_GRACE, _SETTLE = 1.0, 0.05
_LONG_POLL_PARAMETERS = frozenset(
    {"cursor", "epoch", "max_messages", "max_bytes", "wait", "min_messages", "min_bytes"}
)


class AccessDenied(Exception):
    """Raised by an ``authorize`` hook to refuse with a status: 401 (who are you?) or 403."""

    def __init__(self, status: int = 403, message: str = "forbidden") -> None:
        if status not in (401, 403):
            raise ValueError(f"status must be 401 or 403, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message


class HttpApp:
    """A pure ASGI application exposing ``channels`` (name → channel) in every model.

    - ``POST /{name}``: publish (JSON, text or raw bytes by content type).
    - ``GET /{name}?cursor=N&max_messages=…&max_bytes=…``: poll, answered at once.
    - the same with ``wait=S`` (and ``min_messages``, ``min_bytes``): long poll.
    - ``GET /{name}/events``: Server-Sent Events, resumable with ``Last-Event-ID``.
    - WebSocket ``/{name}/ws``: push (and publish, by sending text frames).

    ``authorize(scope, channel, action)`` (action: "publish", "poll" or "subscribe") may return
    False (403) or raise :class:`AccessDenied`; it may be a coroutine function. Mount it anywhere:
    Starlette, FastAPI, Quart, or a bare ASGI server.
    """

    def __init__(
        self,
        channels: Mapping[str, object],
        *,
        authorize: Authorize | None = None,
        max_wait: float = DEFAULT_MAX_LONG_POLL_WAIT,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        retry: float = DEFAULT_SSE_RETRY,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        shutdown_on_signals: bool = True,
    ) -> None:
        self._served = ServedChannels(channels)
        if any("/" in name or not name for name in channels):
            raise ValueError("channel names must be non-empty and contain no '/'")
        self.authorize = authorize
        self.max_wait = check_seconds("max_wait", max_wait)
        self.keepalive_interval = check_seconds("keepalive_interval", keepalive_interval)
        self.retry = check_seconds("retry", retry)
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.max_body_size = check_count("max_body_size", max_body_size)
        if not isinstance(shutdown_on_signals, bool):
            raise TypeError(f"shutdown_on_signals must be a bool, not {shutdown_on_signals!r}")
        self.shutdown_on_signals = shutdown_on_signals
        self._fragments = Fragments()
        self._closing = Closing()

    @property
    def channels(self) -> Mapping[str, object]:
        """The channels served, by name (the mapping given, still the caller's)."""
        return self._served.channels

    @property
    def closed(self) -> bool:
        """True once the app is closed: its streams ended, new requests refused (503)."""
        return self._closing.closed

    async def aclose(self) -> None:
        """End everything open at once: event streams end cleanly (after a ``retry:`` hint),
        waiting long polls are answered with what they have, WebSockets are closed with 1001
        (going away), publishes waiting for room are withdrawn (503). Requests that come after
        get 503, WebSockets 1001, until a lifespan starts it again. Called on the lifespan's
        shutdown, and on SIGTERM or SIGINT when ``shutdown_on_signals`` (the channels themselves
        stay open)."""
        self._closing.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await serve_websocket(self, scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Startup and shutdown; meanwhile, close at once on SIGTERM or SIGINT, before the
        server waits for the streams that would otherwise hold its shutdown up."""
        signalled = anyio.Event()
        watch: SignalWatch | None = None

        async def close_on_signal() -> None:
            await signalled.wait()
            await self.aclose()
            assert watch is not None
            with anyio.move_on_after(_GRACE):
                await self._closing.wait_ended()
                await anyio.sleep(_SETTLE)  # the server writes out what the streams sent last
            watch.finish()  # now the server's own handler (or the default) acts

        async with anyio.create_task_group() as tg:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.closed:  # served again (a new server run): open again
                        self._closing = Closing()
                    if self.shutdown_on_signals:
                        watch = SignalWatch(waker(signalled))
                        tg.start_soon(close_on_signal)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    if watch is not None:
                        watch.restore()
                    tg.cancel_scope.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, scope: Scope) -> tuple[str, Served, str]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        parts = [part for part in path.split("/") if part]
        if len(parts) == 1:
            kind = "channel"
        elif len(parts) == 2 and parts[1] in ("events", "ws"):
            kind = parts[1]
        else:
            raise HttpError(404, f"no such path: {path[:100]}")
        channel = self._served.get(parts[0])
        if channel is None:
            raise HttpError(404, f"no channel named {parts[0][:100]!r}")
        return parts[0], channel, kind

    async def _check_access(self, scope: Scope, name: str, action: str) -> None:
        if self.authorize is None:
            return
        try:
            allowed = self.authorize(scope, name, action)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except AccessDenied as denied:
            raise HttpError(denied.status, denied.message) from None
        if not allowed:
            raise HttpError(403, f"not allowed to {action} on {name!r}")

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            name, channel, kind = self._route(scope)
            if self.closed:
                if kind == "events" and scope["method"] == "GET":
                    await serve_goodbye(self, send)
                    return
                raise HttpError(503, "the server is shutting down", [(b"retry-after", b"3")])
            method = scope["method"]
            if kind == "ws":
                if method == "GET":
                    upgrade = [(b"upgrade", b"websocket")]
                    raise HttpError(426, "this path takes WebSocket connections", upgrade)
                raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
            if kind == "events":
                if method != "GET":
                    raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
                await self._check_access(scope, name, "subscribe")
                await serve_events(self, scope, receive, send, channel)
            elif method == "POST":
                await self._check_access(scope, name, "publish")
                await self._publish(scope, receive, send, channel)
            elif method == "GET":
                await self._check_access(scope, name, "poll")
                await self._poll(scope, receive, send, name, channel)
            else:
                raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET, POST")])
        except HttpError as error:
            await _respond(send, error.status, {"error": error.message}, error.headers)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            raise HttpError(413, f"body larger than {self.max_body_size} bytes")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "the client went away")
            body += message.get("body", b"")
            if len(body) > self.max_body_size:
                raise HttpError(413, f"body larger than {self.max_body_size} bytes")
            if not message.get("more_body", False):
                return bytes(body)

    async def _publish(self, scope: Scope, receive: Receive, send: Send, channel: Served) -> None:
        publish = channel.publish
        if publish is None:
            raise HttpError(405, "this channel takes no publishes", [(b"allow", b"GET")])
        parameters(scope, frozenset())
        encoding = (header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise HttpError(415, f"Content-Encoding {encoding[:40]!r} is not supported")
        payload = _payload(scope, await self._read_body(scope, receive))
        try:
            message = publish_at_once(channel.channel, payload)
            if message is None:  # it waits for room: withdrawn if the client leaves meanwhile
                with self._closing.scope() as closing:
                    message = await unless_disconnected(receive, publish(payload))
                if closing.cancelled_caught:
                    refusal = "the server is shutting down: not published"
                    raise HttpError(503, refusal, [(b"retry-after", b"3")])
                if message is None:
                    return  # the client left: the publish reached no one, nobody to answer
        except ChannelClosed:
            raise HttpError(410, "the channel is closed") from None
        except (TypeError, ValueError) as error:
            raise HttpError(400, f"cannot publish this body: {error}") from None
        result = {
            "offset": message.offset,
            "size": message.size,
            "published_at": message.published_at,
        }
        await _respond(send, 200, result)

    async def _poll(
        self, scope: Scope, receive: Receive, send: Send, name: str, channel: Served
    ) -> None:
        log = channel.log
        if log is None:
            raise HttpError(
                400, f"{name!r} keeps no history to poll: use /{name}/events or /{name}/ws"
            )
        params = parameters(scope, _LONG_POLL_PARAMETERS)
        asked = cursor(params.get("cursor"))
        start, life = EARLIEST if asked is None else asked, epoch(params.get("epoch"))
        wait = seconds(params, "wait")
        min_messages = count(params, "min_messages", 1)
        min_bytes = count(params, "min_bytes", 0)
        if wait is None and (min_messages is not None or min_bytes is not None):
            raise HttpError(400, "min_messages and min_bytes go with wait (a long poll)")
        max_messages = cap(count(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES)
        max_bytes = cap(count(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES)
        try:
            if wait is None:
                batch = await log.serve_poll(
                    start, epoch=life, max_messages=max_messages, max_bytes=max_bytes
                )
            elif channel.long_poll is None:
                raise HttpError(400, f"wait needs a long-poll channel; {name!r} is not one")
            else:
                held = await self._long_poll(
                    receive,
                    channel.long_poll,
                    fixed_cursor(log, start),
                    life,
                    batching_with(
                        channel.long_poll.batching,
                        max_wait=min(wait, self.max_wait),
                        min_messages=UNSET if min_messages is None else min_messages,
                        min_bytes=UNSET if min_bytes is None else min_bytes,
                        max_messages=max_messages,
                        max_bytes=max_bytes,
                    ),
                )
                if held is None:
                    return  # the client left: nobody to answer
                batch = held
        except (TypeError, ValueError) as error:
            raise HttpError(400, str(error)) from None
        await _respond_bytes(send, 200, self._fragments.batch(batch))

    async def _long_poll(
        self,
        receive: Receive,
        channel: ServedLongPoll[Any],
        start: int | Start,
        life: int | None,
        batching: Batching,
    ) -> Batch[Any] | None:
        """The long poll's batch; None if the client left first. Answered with what there is
        if the app closes meanwhile."""
        try:  # no waiting, so no need to watch for a disconnect
            return channel.serve_long_poll_nowait(start, epoch=life, batching=batching)
        except anyio.WouldBlock:
            pass
        watch = partial(disconnected, receive)
        held = None
        with self._closing.scope() as closing:
            held = await channel.serve_long_poll(start, epoch=life, batching=batching, until=watch)
        if closing.cancelled_caught:  # the server is stopping: answer now
            now = batching_with(batching, max_wait=0)
            held = await channel.serve_long_poll(start, epoch=life, batching=now)
        return held


def _payload(scope: Scope, body: bytes) -> object:
    """What a published body carries, by its content type: JSON, text or bytes."""
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return load_json(body)
        except ValueError as error:
            raise HttpError(400, f"body is not valid JSON: {error}") from None
    if content_type.startswith("text/"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, "body is not valid UTF-8") from None
    return body


async def _respond(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _respond_bytes(send, status, dumps(body).encode("utf-8"), headers)


async def _respond_bytes(
    send: Send, status: int, data: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [*_JSON, (b"content-length", str(len(data)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})

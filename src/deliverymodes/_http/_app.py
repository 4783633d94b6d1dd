"""One ASGI application serving channels over HTTP: publish, poll, long poll, SSE, WebSocket."""

from __future__ import annotations

import base64
import inspect
import json
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import aclosing
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import anyio

from .._core import (
    EARLIEST,
    LATEST,
    Batch,
    Batching,
    Message,
    Start,
    check_count,
    check_seconds,
)
from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SSE_RETRY,
)
from .._exceptions import ChannelClosed, SlowConsumer
from .._longpoll import UNSET, LongPollChannel
from .._poll import LogChannel
from .._wire import load_json
from ._sse import format_comment, format_event

__all__ = ["AccessDenied", "HttpApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Authorize = Callable[[Scope, str, str], "bool | Awaitable[bool]"]

_JSON = [(b"content-type", b"application/json")]
_SSE = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell nginx not to buffer the stream
]
# WebSocket close codes: 1000 normal; 4000 a slow consumer cut off; a refusal is 4000 plus the
# HTTP status the same request would get (4400, 4401, 4403, 4404).
_WS_CLOSED, _WS_SLOW = 1000, 4000
_WS_REASON_BYTES = 123  # the most a close frame's reason may hold


class AccessDenied(Exception):
    """Raised by an ``authorize`` hook to refuse with a status: 401 (who are you?) or 403."""

    def __init__(self, status: int = 403, message: str = "forbidden") -> None:
        if status not in (401, 403):
            raise ValueError(f"status must be 401 or 403, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def _json_payload(payload: object) -> dict[str, object]:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return {"payload": base64.b64encode(payload).decode("ascii"), "encoding": "base64"}
    return {"payload": payload}


def message_json(message: Message[Any]) -> dict[str, object]:
    """A message as the HTTP adapter writes it (bytes payloads in base64, said so)."""
    return {
        "offset": message.offset,
        **_json_payload(message.payload),
        "size": message.size,
        "published_at": message.published_at,
    }


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


class _Fragments:
    """JSON and SSE text of recent messages and batches, shared by every request and stream: a
    message read by a hundred clients is encoded once, and so is a batch they all receive."""

    def __init__(self, size: int = 4096, batches: int = 64) -> None:
        self._size = size
        self._batches = batches
        # id(message) -> (message, its JSON text, its SSE event or None until asked for)
        self._messages: dict[int, tuple[Message[Any], str, bytes | None]] = {}
        # (kind, id(first message), count, missed, closed, reason) -> (first message, encoding)
        self._encoded: dict[tuple[object, ...], tuple[Message[Any], bytes]] = {}

    def _entry(self, message: Message[Any]) -> tuple[Message[Any], str, bytes | None]:
        entry = self._messages.get(id(message))
        if entry is not None and entry[0] is message:
            return entry
        if len(self._messages) >= self._size:
            self._messages.clear()  # cheaper than keeping an order; recent ones come back soon
        entry = (message, _dumps(message_json(message)), None)
        self._messages[id(message)] = entry
        return entry

    def text(self, message: Message[Any]) -> str:
        """The message as JSON."""
        return self._entry(message)[1]

    def event(self, message: Message[Any]) -> bytes:
        """The message as one SSE event (its offset as the id)."""
        entry = self._entry(message)
        event = entry[2]
        if event is None:
            event = f"id: {message.offset}\ndata: {entry[1]}\n\n".encode()
            self._messages[id(message)] = (message, entry[1], event)
        return event

    def batch(self, batch: Batch[Any]) -> bytes:
        """The batch as JSON, built from the messages' shared texts."""
        return self._shared("json", batch, self._batch)

    def events(self, batch: Batch[Any]) -> bytes:
        """The batch as Server-Sent Events, one chunk: a gap report, then each message."""
        return self._shared("sse", batch, self._events)

    def _shared(self, kind: str, batch: Batch[Any], encode: Callable[[Batch[Any]], bytes]) -> bytes:
        if not batch.messages:
            return encode(batch)
        first = batch.messages[0]
        key = (
            kind,
            id(first),
            len(batch.messages),
            batch.missed,
            batch.closed,
            batch.reason,
        )
        found = self._encoded.get(key)
        if found is not None and found[0] is first:
            return found[1]
        encoded = encode(batch)
        if len(self._encoded) >= self._batches:
            self._encoded.clear()
        self._encoded[key] = (first, encoded)
        return encoded

    def _batch(self, batch: Batch[Any]) -> bytes:
        messages = ",".join([self.text(message) for message in batch.messages])
        reason = "null" if batch.reason is None else f'"{batch.reason.value}"'
        closed = "true" if batch.closed else "false"
        return (
            f'{{"messages":[{messages}],"cursor":{batch.cursor},"missed":{batch.missed},'
            f'"closed":{closed},"reason":{reason}}}'
        ).encode()

    def _events(self, batch: Batch[Any]) -> bytes:
        chunks = []
        if batch.missed:
            first = batch.messages[0].offset if batch.messages else batch.cursor
            gap = {"missed": batch.missed, "cursor": first}
            chunks.append(format_event(_dumps(gap), event="missed"))
        chunks.extend([self.event(message) for message in batch.messages])
        return b"".join(chunks)


# -- query parameters ------------------------------------------------------------------------------


def _int(params: dict[str, str], name: str, minimum: int) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if text == "none" and name.startswith("max_"):
        return -1  # "no limit"
    try:
        value = int(text)
    except ValueError:
        raise _HttpError(400, f"{name} must be an integer, got {text!r}") from None
    try:
        return check_count(name, value, minimum=minimum)
    except ValueError as error:
        raise _HttpError(400, str(error)) from None


def _cursor(text: str | None, name: str = "cursor") -> int | Start | None:
    if text is None:
        return None
    if text in ("earliest", "latest"):
        return EARLIEST if text == "earliest" else LATEST
    try:
        value = int(text)
    except ValueError:
        raise _HttpError(400, f"{name} must be an offset, 'earliest' or 'latest'") from None
    if value < 0:
        raise _HttpError(400, f"{name} must be >= 0, got {value}")
    return value


def _seconds(params: dict[str, str], name: str) -> float | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _HttpError(400, f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _HttpError(400, f"{name} must be a non-negative number of seconds, got {text!r}")
    return value


_POLL_PARAMETERS = {"cursor", "max_messages", "max_bytes", "wait", "min_messages", "min_bytes"}
_EVENTS_PARAMETERS = {"cursor", "max_messages", "max_bytes", "wait", "min_messages", "min_bytes"}


def _parameters(scope: Scope, allowed: set[str]) -> dict[str, str]:
    query = scope.get("query_string", b"").decode("latin-1")
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _HttpError(400, f"unknown parameter {unknown[0]!r}")
    return params


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


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
    ) -> None:
        if not isinstance(channels, Mapping) or not all(isinstance(k, str) for k in channels):
            raise TypeError("channels must be a mapping of names (str) to channels")
        if any("/" in name or not name for name in channels):
            raise ValueError("channel names must be non-empty and contain no '/'")
        self.channels = channels
        self.authorize = authorize
        self.max_wait = check_seconds("max_wait", max_wait)
        self.keepalive_interval = check_seconds("keepalive_interval", keepalive_interval)
        self.retry = check_seconds("retry", retry)
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.max_body_size = check_count("max_body_size", max_body_size)
        self._fragments = _Fragments()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, scope: Scope) -> tuple[str, object, str]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        parts = path.strip("/").split("/")
        if len(parts) == 1 and parts[0]:
            kind = "channel"
        elif len(parts) == 2 and parts[1] in ("events", "ws"):
            kind = parts[1]
        else:
            raise _HttpError(404, f"no such path: {path}")
        channel = self.channels.get(parts[0])
        if channel is None:
            raise _HttpError(404, f"no channel named {parts[0]!r}")
        return parts[0], channel, kind

    async def _check_access(self, scope: Scope, name: str, action: str) -> None:
        if self.authorize is None:
            return
        try:
            allowed = self.authorize(scope, name, action)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except AccessDenied as denied:
            raise _HttpError(denied.status, denied.message) from None
        if not allowed:
            raise _HttpError(403, f"not allowed to {action} on {name!r}")

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            name, channel, kind = self._route(scope)
            method = scope["method"]
            if kind == "ws":
                if method == "GET":
                    upgrade = [(b"upgrade", b"websocket")]
                    raise _HttpError(426, "this path takes WebSocket connections", upgrade)
                raise _HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
            if kind == "events":
                if method != "GET":
                    raise _HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
                await self._check_access(scope, name, "subscribe")
                await self._events(scope, receive, send, channel)
            elif method == "POST":
                await self._check_access(scope, name, "publish")
                await self._publish(scope, receive, send, channel)
            elif method == "GET":
                await self._check_access(scope, name, "poll")
                await self._poll(scope, receive, send, name, channel)
            else:
                raise _HttpError(405, f"{method} not allowed", [(b"allow", b"GET, POST")])
        except _HttpError as error:
            await _respond(send, error.status, {"error": error.message}, error.headers)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            raise _HttpError(413, f"body larger than {self.max_body_size} bytes")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HttpError(400, "the client went away")
            body += message.get("body", b"")
            if len(body) > self.max_body_size:
                raise _HttpError(413, f"body larger than {self.max_body_size} bytes")
            if not message.get("more_body", False):
                return bytes(body)

    async def _publish(self, scope: Scope, receive: Receive, send: Send, channel: object) -> None:
        publish = getattr(channel, "publish", None)
        if publish is None:
            raise _HttpError(405, "this channel takes no publishes", [(b"allow", b"GET")])
        body = await self._read_body(scope, receive)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        payload: object
        if content_type == "application/json" or content_type.endswith("+json"):
            try:
                payload = load_json(body)
            except ValueError as error:
                raise _HttpError(400, f"body is not valid JSON: {error}") from None
        elif content_type.startswith("text/"):
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                raise _HttpError(400, "body is not valid UTF-8") from None
        else:
            payload = body
        try:
            message = await publish(payload)
        except ChannelClosed:
            raise _HttpError(410, "the channel is closed") from None
        except (TypeError, ValueError) as error:
            raise _HttpError(400, f"cannot publish this body: {error}") from None
        result = {
            "offset": message.offset,
            "size": message.size,
            "published_at": message.published_at,
        }
        await _respond(send, 200, result)

    async def _poll(
        self, scope: Scope, receive: Receive, send: Send, name: str, channel: object
    ) -> None:
        if not isinstance(channel, LogChannel):
            raise _HttpError(
                400, f"{name!r} keeps no history to poll: use /{name}/events or /{name}/ws"
            )
        params = _parameters(scope, _POLL_PARAMETERS)
        cursor = _cursor(params.get("cursor"))
        start = EARLIEST if cursor is None else cursor
        max_messages = _int(params, "max_messages", 1)
        max_bytes = _int(params, "max_bytes", 1)
        wait = _seconds(params, "wait")
        min_messages = _int(params, "min_messages", 1)
        min_bytes = _int(params, "min_bytes", 0)
        if wait is None and (min_messages is not None or min_bytes is not None):
            raise _HttpError(400, "min_messages and min_bytes go with wait (a long poll)")
        caps = {
            "max_messages": _cap(max_messages, DEFAULT_MAX_BATCH_MESSAGES),
            "max_bytes": _cap(max_bytes, DEFAULT_MAX_BATCH_BYTES),
        }
        try:
            if wait is None:
                batch = await channel._poll_at_once(start, caps["max_messages"], caps["max_bytes"])
            elif isinstance(channel, LongPollChannel):
                batching = channel._batching(
                    max_wait=min(wait, self.max_wait),
                    min_messages=_or_unset(min_messages),
                    min_bytes=_or_unset(min_bytes),
                    **caps,
                )
                resolved = channel._resolve(start)
                ready = channel._poll_if_ready(resolved, batching)
                if ready is not None:  # no waiting, so no need to watch for a disconnect
                    batch = ready
                else:
                    offset = channel._log.resolve(resolved)
                    watch = partial(_disconnected, receive)
                    held = await channel._wait_and_answer(offset, batching, watch)
                    if held is None:
                        return  # the client left: nobody to answer
                    batch = held
            else:
                raise _HttpError(400, f"wait needs a long-poll channel; {name!r} is not one")
        except (TypeError, ValueError) as error:
            raise _HttpError(400, str(error)) from None
        await _respond_bytes(send, 200, self._fragments.batch(batch))

    async def _events(self, scope: Scope, receive: Receive, send: Send, channel: object) -> None:
        params = _parameters(scope, _EVENTS_PARAMETERS)
        last_id = _header(scope, b"last-event-id")
        cursor = _cursor(params.get("cursor"))
        if last_id:
            resumed = _cursor(last_id.strip(), "Last-Event-ID")
            cursor = resumed + 1 if isinstance(resumed, int) else resumed
        settings: dict[str, Any] = {
            "max_messages": _cap(_int(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES),
            "max_bytes": _cap(_int(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES),
            "min_messages": _or_unset(_int(params, "min_messages", 1)),
            "min_bytes": _or_unset(_int(params, "min_bytes", 0)),
            "wait": _seconds(params, "wait"),
        }
        # The start is fixed (a LATEST cursor resolved, a push subscription made) before the
        # stream opens, so that nothing published after the client saw "ready" is missed.
        subscription: Any = None
        ready: dict[str, object] = {}
        if isinstance(channel, LogChannel):
            try:
                start = channel._resolve(LATEST if cursor is None else cursor)
            except ValueError as error:
                raise _HttpError(400, str(error)) from None
            if start is EARLIEST:
                start = channel.earliest
            ready["cursor"] = start  # where this stream starts: a client resumes from it
            caps = {key: settings.pop(key) for key in ("max_messages", "max_bytes")}
            batching = None
            if isinstance(channel, LongPollChannel):
                # Each batch is held for its thresholds, or ``wait`` (the keepalive interval by
                # default): a long poll on an open connection.
                hold = settings.pop("wait")
                keepalive = self.keepalive_interval
                settings["max_wait"] = keepalive if hold is None else min(hold, keepalive)
                try:
                    batching = channel._batching(**settings, **caps)
                except (TypeError, ValueError) as error:
                    raise _HttpError(400, str(error)) from None
            stream = self._log_events(channel, start, batching, caps)
        elif hasattr(channel, "subscribe"):
            subscription = channel.subscribe()
            stream = self._push_events(subscription, cursor if isinstance(cursor, int) else None)
        else:
            raise _HttpError(400, "this channel cannot be subscribed to")

        async def stream_all() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE})
            opening = format_event(_dumps(ready), event="ready", retry=self.retry)
            await send(_body(opening, more=True))
            async with aclosing(stream) as chunks:
                async for chunk in chunks:
                    await send(_body(chunk, more=True))
            await send(_body(b"", more=False))

        try:
            await _unless_disconnected(receive, stream_all())
        finally:
            if subscription is not None:  # also when the stream never started
                with anyio.CancelScope(shield=True):
                    await subscription.aclose()

    async def _log_events(
        self,
        channel: LogChannel[Any],
        start: int | Start,
        batching: Batching | None,
        caps: dict[str, Any],
    ) -> AsyncGenerator[bytes, None]:
        """Batches from ``start`` as events: long polls (``batching``) or polls, on one stream."""
        cursor = start
        quiet_since = time.monotonic()
        while True:
            if batching is not None and isinstance(channel, LongPollChannel):
                batch = await channel._long_poll(cursor, batching)
            else:
                batch = await channel._poll_at_once(cursor, caps["max_messages"], caps["max_bytes"])
            if batch.messages or batch.missed:
                yield self._fragments.events(batch)
                quiet_since = time.monotonic()
            if batch.closed:
                yield format_event("{}", event="closed")
                return
            cursor = batch.cursor
            if not batch.messages:
                if batching is None:
                    await channel._sleep_unless_closed(self.poll_interval)
                if time.monotonic() - quiet_since >= self.keepalive_interval:
                    yield format_comment("keepalive")
                    quiet_since = time.monotonic()

    async def _push_events(
        self, subscription: Any, after: int | None
    ) -> AsyncGenerator[bytes, None]:
        async with subscription as subscriber:
            expected = after
            while True:
                with anyio.move_on_after(self.keepalive_interval) as idle:
                    try:
                        message = await subscriber.receive()
                    except ChannelClosed:
                        yield format_event("{}", event="closed")
                        return
                    except SlowConsumer:
                        yield format_event('{"reason":"slow consumer"}', event="disconnected")
                        return
                if idle.cancelled_caught:
                    yield format_comment("keepalive")
                    continue
                if expected is not None and message.offset > expected:
                    gap = {"missed": message.offset - expected, "cursor": message.offset}
                    yield format_event(_dumps(gap), event="missed")
                expected = message.offset + 1
                yield self._fragments.event(message)

    # -- WebSocket -------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        try:
            name, channel, kind = self._route(scope)
            if kind != "ws":
                raise _HttpError(404, "WebSocket connections go to /{name}/ws")
            await self._check_access(scope, name, "subscribe")
            if not hasattr(channel, "subscribe"):
                raise _HttpError(400, "this channel cannot be subscribed to")
        except _HttpError as error:
            # Accepted first, so that the client sees the code and the reason (a close before
            # accepting becomes an HTTP 403 at the handshake, whatever the cause).
            await send({"type": "websocket.accept"})
            reason = _ws_reason(error.message)
            await send({"type": "websocket.close", "code": 4000 + error.status, "reason": reason})
            return
        async with channel.subscribe() as subscriber:
            await send({"type": "websocket.accept"})
            async with anyio.create_task_group() as tg:

                async def forward() -> None:
                    code, reason = _WS_CLOSED, "the channel is closed"
                    try:
                        async for message in subscriber:
                            await send(
                                {"type": "websocket.send", "text": _dumps(message_json(message))}
                            )
                    except SlowConsumer:
                        code, reason = _WS_SLOW, "slow consumer: too far behind"
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    tg.cancel_scope.cancel()

                tg.start_soon(forward)
                await self._websocket_publishes(scope, receive, send, name, channel)
                tg.cancel_scope.cancel()

    async def _websocket_publishes(
        self, scope: Scope, receive: Receive, send: Send, name: str, channel: object
    ) -> None:
        """Text frames from the client are JSON payloads to publish; until it disconnects."""
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                continue
            try:
                await self._check_access(scope, name, "publish")
                await channel.publish(load_json(text))  # type: ignore[attr-defined]
            except (_HttpError, ValueError, TypeError, ChannelClosed, AttributeError) as error:
                reply = {"error": getattr(error, "message", None) or str(error) or "refused"}
                await send({"type": "websocket.send", "text": _dumps(reply)})


def _ws_reason(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= _WS_REASON_BYTES:
        return text
    return data[: _WS_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


def _or_unset(value: int | None) -> object:
    return UNSET if value is None else value


def _cap(value: int | None, default: int) -> int | None:
    if value is None:
        return default
    return None if value == -1 else value


def _body(data: bytes, *, more: bool) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def _respond(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _respond_bytes(send, status, _dumps(body).encode("utf-8"), headers)


async def _respond_bytes(
    send: Send, status: int, data: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [*_JSON, (b"content-length", str(len(data)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send(_body(data, more=False))


async def _disconnected(receive: Receive) -> None:
    """Return when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(receive: Receive, work: Awaitable[Any]) -> Any:
    """Run ``work`` until it ends or the client disconnects (then None, with work cancelled)."""
    result: list[Any] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await _disconnected(receive)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        result.append(await work)
        tg.cancel_scope.cancel()
    return result[0] if result else None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

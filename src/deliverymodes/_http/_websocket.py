"""WebSocket ``/{name}/ws``: push to the socket, publish what it sends."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES
from .._exceptions import ChannelClosed, ConnectionLost, SlowConsumer
from .._protocols import ServedSubscription
from .._serving import Served
from .._wire import load_json
from ._fragments import dumps, gap_json
from ._request import HttpError, Receive, Scope, Send, parameters
from ._shutdown import GOODBYE_TIMEOUT

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["serve_websocket"]

_log = logging.getLogger("deliverymodes.http")

# Close codes: 1000 normal; 4000 a slow consumer cut off; a refusal is 4000 plus the HTTP status
# of the same refusal over HTTP (4400, 4401, 4403, 4404).
_CLOSED, _GOING_AWAY, _TRY_LATER, _SLOW = 1000, 1001, 1013, 4000
_REASON_BYTES = 123  # the most a close frame's reason may hold


def _reason(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= _REASON_BYTES:
        return text
    return data[: _REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


async def serve_websocket(app: HttpApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Subscribe the socket to its channel; text frames it sends are published (JSON)."""
    if (await receive())["type"] != "websocket.connect":
        return
    if app.closed:
        await _refuse(app, send, _GOING_AWAY, "shutting down")
        return
    try:
        name, channel, kind = app._route(scope)
        if kind != "ws":
            raise HttpError(404, "WebSocket connections go to /{name}/ws")
        parameters(scope, frozenset())
        await app._check_access(scope, name, "subscribe")
        if not channel.subscribable:
            raise HttpError(400, "this channel cannot be subscribed to")
    except HttpError as error:
        await _refuse(app, send, 4000 + error.status, _reason(error.message))
        return
    subscriber: ServedSubscription[Any] | None = None
    if channel.push is not None:
        push = channel.push
        head = push.head  # the subscription starts there
        subscriber = push.subscribe()
        forwarding = partial(_forward, app, send, subscriber, head, push.epoch)
    else:
        assert channel.log is not None
        forwarding = partial(_forward_log, app, send, channel, channel.log.head)
    app._counts.websockets += 1
    _log.debug("a WebSocket to %r opened", name)
    try:
        await send({"type": "websocket.accept"})
        with app._closing.scope() as closing:
            async with anyio.create_task_group() as tg:

                async def forward() -> None:
                    with contextlib.suppress(OSError):  # the client went away meanwhile
                        code, reason = await _ended(forwarding)
                        await send({"type": "websocket.close", "code": code, "reason": reason})
                    tg.cancel_scope.cancel()

                tg.start_soon(forward)
                with contextlib.suppress(OSError):
                    await _publishes(app, scope, receive, send, name=name, channel=channel)
                tg.cancel_scope.cancel()
        if closing.cancelled_caught:  # the server is stopping
            with contextlib.suppress(OSError), anyio.move_on_after(GOODBYE_TIMEOUT):
                close = {"type": "websocket.close", "code": _GOING_AWAY, "reason": "going away"}
                await send(close)
    finally:
        app._counts.websockets -= 1
        _log.debug("a WebSocket to %r closed", name)
        if subscriber is not None:
            with anyio.CancelScope(shield=True):
                await subscriber.aclose()


async def _ended(forwarding: Callable[[], Awaitable[tuple[int, str]]]) -> tuple[int, str]:
    """Forward until the subscription ends; the close code and reason that say why (1013, try
    again later, when where the channel is kept cannot be reached, as Redis gone)."""
    try:
        return await forwarding()
    except ConnectionLost:
        return _TRY_LATER, "the channel cannot answer now"


async def _refuse(app: HttpApp, send: Send, code: int, reason: str) -> None:
    """Close the socket at once with ``code``. Accepted first, so that the client sees the code
    and the reason (a close before accepting becomes an HTTP 403 at the handshake, whatever the
    cause)."""
    app._counts.refused += 1
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _forward(
    app: HttpApp, send: Send, subscriber: ServedSubscription[Any], expected: int, epoch: int
) -> tuple[int, str]:
    """Every message of a push subscription as a text frame; a gap (dropped messages) reported
    before the next message. Returns the close code and reason: why the subscription ended."""
    try:
        while True:
            message = await subscriber.receive()
            life = getattr(subscriber, "epoch", None)
            if life is not None and life != epoch:  # a new life of the channel: offsets restart
                epoch, expected = life, message.offset
                gap = gap_json(0, message.offset, epoch, unknown=True)
                await send({"type": "websocket.send", "text": gap})
            if message.offset > expected:
                gap = gap_json(message.offset - expected, message.offset, epoch)
                await send({"type": "websocket.send", "text": gap})
            expected = message.offset + 1
            await send({"type": "websocket.send", "text": app._fragments.text(message, epoch)})
    except ChannelClosed:
        return _CLOSED, "the channel is closed"
    except SlowConsumer:
        _log.info("a WebSocket subscriber was cut off: a slow consumer")
        return _SLOW, "slow consumer: too far behind"


async def _forward_log(app: HttpApp, send: Send, channel: Served, start: int) -> tuple[int, str]:
    """Every message of a channel with history from ``start`` as a text frame, read by long
    polls with the channel's batching (or by polls, pausing ``poll_interval`` after an empty
    one); messages retention evicted first are reported as a gap."""
    log, long_poll = channel.log, channel.long_poll
    assert log is not None
    epoch, position = log.epoch, start
    while True:
        # With the epoch of the cursor: a channel kept elsewhere (Redis) may begin a new life at
        # any time, and then answers from its start, reporting the loss.
        if long_poll is not None:
            held = await long_poll.serve_long_poll(
                position, epoch=epoch, batching=long_poll.batching
            )
            assert held is not None  # no ``until``: it always answers
            batch = held
        else:
            batch = await log.serve_poll(
                position,
                epoch=epoch,
                max_messages=DEFAULT_MAX_BATCH_MESSAGES,
                max_bytes=DEFAULT_MAX_BATCH_BYTES,
            )
        epoch = batch.epoch
        if batch.missed or batch.missed_unknown:
            first = batch.messages[0].offset if batch.messages else batch.cursor
            gap = gap_json(batch.missed, first, epoch, unknown=batch.missed_unknown)
            await send({"type": "websocket.send", "text": gap})
        for message in batch.messages:
            await send({"type": "websocket.send", "text": app._fragments.text(message, epoch)})
        if batch.closed:
            return _CLOSED, "the channel is closed"
        position = batch.cursor
        if long_poll is None and not batch.messages:
            with anyio.move_on_after(app.poll_interval):
                await log.wait_closed()


async def _publishes(
    app: HttpApp, scope: Scope, receive: Receive, send: Send, *, name: str, channel: Served
) -> None:
    """Text frames from the client are JSON payloads to publish; until it disconnects. A frame
    that cannot be published is answered with ``{"error": …, "frame": n}`` (n counts frames
    from 1)."""
    frames = 0
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event["type"] != "websocket.receive":
            continue
        frames += 1
        app._counts.requests += 1
        try:
            text = event.get("text")
            if text is None:
                raise HttpError(400, "binary frames are not published: send JSON as text")
            if len(text) > app.max_body_size or len(text.encode()) > app.max_body_size:
                raise HttpError(413, f"frame larger than {app.max_body_size} bytes")
            await app._check_access(scope, name, "publish")
            publish = channel.publish
            if publish is None:
                raise HttpError(405, "this channel takes no publishes")
            await publish(load_json(text))
        except (HttpError, ValueError, TypeError, ChannelClosed) as error:
            text = getattr(error, "message", None) or str(error) or "refused"
            app._counts.refused += 1
            if not isinstance(error, ChannelClosed) and getattr(error, "status", 400) in (400, 413):
                _log.info("a WebSocket frame refused: %s", text)
            reply = {"error": text, "frame": frames}
            await send({"type": "websocket.send", "text": dumps(reply)})

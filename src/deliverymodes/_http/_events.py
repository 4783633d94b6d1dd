"""``GET /{name}/events``: a channel as Server-Sent Events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._core import EARLIEST, LATEST, Batching, Start
from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES
from .._exceptions import ChannelClosed, SlowConsumer
from .._longpoll import UNSET, LongPollChannel
from .._poll import LogChannel
from ._fragments import dumps, gap_json
from ._request import (
    HttpError,
    Receive,
    Scope,
    Send,
    cap,
    count,
    cursor,
    epoch,
    header,
    last_event_id,
    parameters,
    seconds,
    unless_disconnected,
)
from ._shutdown import GOODBYE_TIMEOUT
from ._sse import format_comment, format_event, format_retry

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["serve_events", "serve_goodbye"]

_SSE = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell nginx not to buffer the stream
]
_PUSH_PARAMETERS = frozenset({"cursor", "epoch"})
_POLL_PARAMETERS = _PUSH_PARAMETERS | {"max_messages", "max_bytes"}
_LONG_POLL_PARAMETERS = _POLL_PARAMETERS | {"wait", "min_messages", "min_bytes"}
_CLOSED = format_event("{}", event="closed")
_KEEPALIVE = format_comment("keepalive")


def body(data: bytes, *, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def _resume_point(scope: Scope, params: dict[str, str]) -> tuple[int | Start, int | None]:
    """Where the stream starts, and the life of the channel that cursor belongs to: right after
    ``Last-Event-ID`` (``epoch:offset``, or a bare offset), else at ``?cursor=`` (and
    ``?epoch=``), else LATEST."""
    last_id = (header(scope, b"last-event-id") or "").strip()
    if last_id:
        return last_event_id(last_id)
    start = cursor(params.get("cursor"))
    return (LATEST if start is None else start), epoch(params.get("epoch"))


def _beyond(start: int, head: int, scope: Scope) -> HttpError:
    if header(scope, b"last-event-id"):
        last = f"the last message of the channel ({head - 1})" if head else "the channel's head"
        return HttpError(400, f"Last-Event-ID {start - 1} is beyond {last}")
    return HttpError(400, f"cursor {start} is beyond the head of the channel ({head})")


async def serve_events(
    app: HttpApp, scope: Scope, receive: Receive, send: Send, channel: object
) -> None:
    """Stream ``channel``: long polls or polls on one response, or a push subscription."""
    if isinstance(channel, LongPollChannel):
        params = parameters(scope, _LONG_POLL_PARAMETERS)
    elif hasattr(channel, "subscribe"):
        params = parameters(scope, _LONG_POLL_PARAMETERS)
        log = isinstance(channel, LogChannel)
        extra = sorted(set(params) - (_POLL_PARAMETERS if log else _PUSH_PARAMETERS))
        if extra:
            kind = "a poll" if log else "a push"
            raise HttpError(400, f"{extra[0]} does not apply to the events of {kind} channel")
    else:
        raise HttpError(400, "this channel cannot be subscribed to")
    start, epoch = _resume_point(scope, params)
    if isinstance(channel, LogChannel):
        await _serve_log(app, scope, receive, send, channel, params, start, epoch)
    else:
        await _serve_push(app, scope, receive, send, channel, start, epoch)


async def _serve_log(  # noqa: PLR0917 - the request and what was read from it
    app: HttpApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    channel: LogChannel[Any],
    params: dict[str, str],
    start: int | Start,
    epoch: int | None,
) -> None:
    # The start is fixed (a LATEST cursor resolved) before the stream opens, so that nothing
    # published after the client saw "ready" is missed.
    try:
        start, across = channel._restart(start, epoch)
    except ValueError as error:
        raise HttpError(400, str(error)) from None
    head = channel.head
    if isinstance(start, int) and start > head:
        raise _beyond(start, head, scope)
    resolved = channel._resolve(start)
    offset = channel.earliest if resolved is EARLIEST else resolved
    assert isinstance(offset, int)
    batching = _batching(app, channel, params) if isinstance(channel, LongPollChannel) else None
    caps = {
        "max_messages": cap(count(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES),
        "max_bytes": cap(count(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES),
    }
    stream = partial(
        _stream_log,
        app,
        send,
        channel,
        start=offset,
        batching=batching,
        caps=caps,
        across=across,
    )
    await _respond_with_events(app, receive, send, first=offset, epoch=channel.epoch, stream=stream)


async def _serve_push(  # noqa: PLR0917 - the request and what was read from it
    app: HttpApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    channel: Any,
    start: int | Start,
    epoch: int | None,
) -> None:
    life = getattr(channel, "epoch", 0)
    next_offset = getattr(channel, "head", None)  # where a subscription made now starts
    if not isinstance(next_offset, int):
        next_offset = None
    across = epoch is not None and epoch != life
    if not across and isinstance(start, int) and next_offset is not None and start > next_offset:
        raise _beyond(start, next_offset, scope)
    # The subscription is made before the stream opens, so that nothing published after the
    # client saw "ready" is missed.
    subscription: Any = channel.subscribe()
    try:
        first = next_offset
        if first is None and isinstance(start, int) and not across:
            first = start

        async def stream() -> None:
            async with subscription as subscriber:
                # What was published while this reader was away, reported before anything else.
                if across and next_offset is not None:
                    gap = gap_json(next_offset, next_offset, life, unknown=True)
                    await send(body(format_event(gap, event="missed")))
                elif isinstance(start, int) and next_offset is not None and next_offset > start:
                    gap = gap_json(next_offset - start, next_offset, life)
                    await send(body(format_event(gap, event="missed")))
                await _stream_push(app, send, subscriber, first, life)

        await _respond_with_events(app, receive, send, first=first, epoch=life, stream=stream)
    finally:  # also when the stream never started
        with anyio.CancelScope(shield=True):
            await subscription.aclose()


def _batching(app: HttpApp, channel: LongPollChannel[Any], params: dict[str, str]) -> Batching:
    wait = seconds(params, "wait")
    if wait == 0:
        raise HttpError(400, "wait must be > 0 on an event stream")
    min_bytes = count(params, "min_bytes", 1)  # a 0-byte threshold would release empty batches
    min_messages = count(params, "min_messages", 1)
    try:
        batching = channel._batching(
            min_messages=UNSET if min_messages is None else min_messages,
            min_bytes=UNSET if min_bytes is None else min_bytes,
            max_wait=app.keepalive_interval if wait is None else min(wait, app.max_wait),
            max_messages=cap(count(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES),
            max_bytes=cap(count(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES),
        )
    except (TypeError, ValueError) as error:
        raise HttpError(400, str(error)) from None
    if batching.min_bytes == 0:  # the channel's own setting: no use on a stream
        batching = attrs.evolve(batching, min_bytes=None)
    return batching


async def _respond_with_events(
    app: HttpApp, receive: Receive, send: Send, *, first: int | None, epoch: int, stream: Any
) -> None:
    async def stream_all() -> None:
        headers = {"type": "http.response.start", "status": 200, "headers": _SSE}
        await send(headers)
        # The ready event's id is the offset before the first one the stream carries, so that
        # an EventSource that reconnects before any message resumes where it started.
        ready = {"epoch": epoch} if first is None else {"cursor": first, "epoch": epoch}
        event_id = None if first is None else f"{epoch}:{first - 1}"
        await send(body(format_event(dumps(ready), event="ready", id=event_id, retry=app.retry)))
        with app._closing.scope() as closing:
            await stream()
        if closing.cancelled_caught:  # the server is stopping: the client comes back later
            # Bounded: a client that stopped reading cannot be told, and must not hold it up.
            with anyio.move_on_after(GOODBYE_TIMEOUT):
                await send(body(format_retry(app.retry)))
                await send(body(b"", more=False))
            return
        await send(body(b"", more=False))

    await unless_disconnected(receive, stream_all())


async def _stream_log(
    app: HttpApp,
    send: Send,
    channel: LogChannel[Any],
    *,
    start: int,
    batching: Batching | None,
    caps: dict[str, Any],
    across: bool,
) -> None:
    """Batches from ``start`` as events: long polls (``batching``) or polls, on one stream, with a
    keepalive comment after every ``keepalive_interval`` without a write."""
    last_write = time.monotonic()

    async def write(data: bytes) -> None:
        nonlocal last_write
        await send(body(data))
        last_write = time.monotonic()

    async def keepalives() -> None:  # while a long poll waits
        while True:
            await anyio.sleep(max(0.0, last_write + interval - time.monotonic()))
            if time.monotonic() >= last_write + interval:
                await write(_KEEPALIVE)

    interval = app.keepalive_interval
    position = start
    while True:
        if isinstance(channel, LongPollChannel) and batching is not None:
            wait = batching.max_wait
            if wait is not None and time.monotonic() + wait < last_write + interval:
                batch = await channel._long_poll(position, batching)  # over before a keepalive
            else:
                ready = channel._poll_if_ready(position, batching)
                if ready is None:
                    ready = await channel._wait_and_answer(position, batching, keepalives)
                    assert ready is not None  # keepalives() never returns
                batch = ready
        else:
            batch = await channel._poll_at_once(position, caps["max_messages"], caps["max_bytes"])
        if across:  # the first batch answers a cursor from another life of the channel
            batch, across = channel._across(batch), False
        if batch.messages or batch.missed or batch.missed_unknown:
            await write(app._fragments.events(batch))
        if batch.closed:
            await write(_CLOSED)
            return
        position = batch.cursor
        if batching is None and not batch.messages:
            await channel._sleep_unless_closed(app.poll_interval)
        if time.monotonic() >= last_write + interval:
            await write(_KEEPALIVE)


async def _stream_push(
    app: HttpApp, send: Send, subscriber: Any, expected: int | None, epoch: int
) -> None:
    """Every message of a push subscription as an event; gaps (drops) reported as missed."""
    while True:
        with anyio.move_on_after(app.keepalive_interval) as idle:
            try:
                message = await subscriber.receive()
            except ChannelClosed:
                await send(body(_CLOSED))
                return
            except SlowConsumer:
                await send(body(format_event('{"reason":"slow consumer"}', event="disconnected")))
                return
        if idle.cancelled_caught:
            await send(body(format_comment("keepalive")))
            continue
        if expected is not None and message.offset > expected:
            gap = gap_json(message.offset - expected, message.offset, epoch)
            await send(body(format_event(gap, event="missed")))
        expected = message.offset + 1
        await send(body(app._fragments.event(message, epoch)))


async def serve_goodbye(app: HttpApp, send: Send) -> None:
    """An event stream asked for while the app is closed: it ends at once with a ``retry:``
    hint, so that a browser comes back later (a 503 would make ``EventSource`` give up)."""
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    await send(body(format_retry(app.retry), more=False))

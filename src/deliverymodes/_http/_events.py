"""``GET /{name}/events``: a channel as Server-Sent Events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._core import EARLIEST, LATEST, UNSET, Batching, Start, restart_point
from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES
from .._exceptions import ChannelClosed, ConnectionLost, SlowConsumer
from .._protocols import ServedLongPoll, ServedPush, ServedSubscription
from .._serving import Served, batching_with
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
    threshold,
    unless_disconnected,
)
from ._shutdown import GOODBYE_TIMEOUT
from ._sse import format_comment, format_event, format_retry
from ._statuses import refusals

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["serve_events", "serve_goodbye"]

_log = logging.getLogger("deliverymodes.http")

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
    app: HttpApp, scope: Scope, receive: Receive, send: Send, channel: Served
) -> None:
    """Stream ``channel``: long polls or polls on one response, or a push subscription."""
    if channel.long_poll is not None:
        params = parameters(scope, _LONG_POLL_PARAMETERS)
    elif channel.subscribable:
        params = parameters(scope, _LONG_POLL_PARAMETERS)
        log = channel.log is not None
        extra = sorted(set(params) - (_POLL_PARAMETERS if log else _PUSH_PARAMETERS))
        if extra:
            kind = "a poll" if log else "a push"
            raise HttpError(400, f"{extra[0]} does not apply to the events of {kind} channel")
    else:
        raise HttpError(400, "this channel cannot be subscribed to")
    start, epoch = _resume_point(scope, params)
    if channel.log is not None:
        await _serve_log(app, scope, receive, send, channel, params, start, epoch)
    else:
        assert channel.push is not None
        await _serve_push(app, scope, receive, send, channel.push, start, epoch)


async def _serve_log(  # noqa: PLR0917 - the request and what was read from it
    app: HttpApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    channel: Served,
    params: dict[str, str],
    start: int | Start,
    epoch: int | None,
) -> None:
    log = channel.log
    assert log is not None
    # The start is fixed (a LATEST cursor resolved) before the stream opens, so that nothing
    # published after the client saw "ready" is missed.
    start, across = restart_point(start, epoch, log.epoch)
    head = log.head
    if isinstance(start, int) and start > head:
        raise _beyond(start, head, scope)
    offset = log.earliest if start is EARLIEST else head if start is LATEST else start
    assert isinstance(offset, int)
    long_poll = channel.long_poll
    batching = None if long_poll is None else _batching(app, long_poll, params)
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
        epoch=epoch if across else log.epoch,  # the life `offset` belongs to
        batching=batching,
        caps=caps,
    )
    await _respond_with_events(app, receive, send, first=offset, epoch=log.epoch, stream=stream)


async def _serve_push(  # noqa: PLR0917 - the request and what was read from it
    app: HttpApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    channel: ServedPush[Any],
    start: int | Start,
    epoch: int | None,
) -> None:
    life = channel.epoch
    next_offset = channel.head  # where a subscription made now starts
    across = epoch is not None and epoch != life
    if not across and isinstance(start, int) and start > next_offset:
        raise _beyond(start, next_offset, scope)
    # The subscription is made before the stream opens, so that nothing published after the
    # client saw "ready" is missed.
    subscriber = channel.subscribe()
    try:

        async def stream() -> None:
            # What was published while this reader was away, reported before anything else.
            if across:
                gap = gap_json(next_offset, next_offset, life, unknown=True)
                await send(body(format_event(gap, event="missed")))
            elif isinstance(start, int) and next_offset > start:
                gap = gap_json(next_offset - start, next_offset, life)
                await send(body(format_event(gap, event="missed")))
            await _stream_push(app, send, subscriber, next_offset, life)

        await _respond_with_events(app, receive, send, first=next_offset, epoch=life, stream=stream)
    finally:  # also when the stream never started
        with anyio.CancelScope(shield=True):
            await subscriber.aclose()


def _batching(app: HttpApp, channel: ServedLongPoll[Any], params: dict[str, str]) -> Batching:
    wait = seconds(params, "wait")
    if wait == 0:
        raise HttpError(400, "wait must be > 0 on an event stream")
    min_bytes = threshold(count(params, "min_bytes", 1))  # 0 bytes would release empty batches
    min_messages = count(params, "min_messages", 1)
    with refusals():
        batching = batching_with(
            channel.batching,
            min_messages=UNSET if min_messages is None else min_messages,
            min_bytes=min_bytes,
            max_wait=app.keepalive_interval if wait is None else min(wait, app.max_wait),
            max_messages=cap(count(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES),
            max_bytes=cap(count(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES),
        )
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
        unreachable = False
        with app._closing.scope() as closing:
            try:
                await stream()
            except ConnectionLost:  # where the channel is kept cannot be reached now
                unreachable = True
        if closing.cancelled_caught or unreachable:  # the client comes back later
            # Bounded: a client that stopped reading cannot be told, and must not hold it up.
            with anyio.move_on_after(GOODBYE_TIMEOUT):
                await send(body(format_retry(app.retry)))
                await send(body(b"", more=False))
            return
        await send(body(b"", more=False))

    counts = app._counts
    counts.event_streams += 1
    _log.debug("an event stream opened")
    try:
        await unless_disconnected(receive, stream_all())
    finally:
        counts.event_streams -= 1
        _log.debug("an event stream closed")


async def _stream_log(
    app: HttpApp,
    send: Send,
    channel: Served,
    *,
    start: int,
    epoch: int | None,
    batching: Batching | None,
    caps: dict[str, Any],
) -> None:
    """Batches from ``start`` (of life ``epoch``, None: this one) as events: long polls
    (``batching``) or polls, on one stream, with a keepalive comment after every
    ``keepalive_interval`` without a write."""
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

    log, long_poll = channel.log, channel.long_poll
    assert log is not None
    interval = app.keepalive_interval
    position = start
    while True:
        if long_poll is not None and batching is not None:
            wait = batching.max_wait
            over_before_a_keepalive = wait is not None and time.monotonic() + wait < (
                last_write + interval
            )
            held = await long_poll.serve_long_poll(
                position,
                epoch=epoch,
                batching=batching,
                until=None if over_before_a_keepalive else keepalives,
            )
            assert held is not None  # keepalives() never returns
            batch = held
        else:
            batch = await log.serve_poll(position, epoch=epoch, **caps)
        epoch = batch.epoch  # the life the next cursor belongs to (a channel kept elsewhere,
        # as in Redis, may begin a new one at any time: the next batch then says so)
        if batch.messages or batch.missed or batch.missed_unknown:
            await write(app._fragments.events(batch))
        if batch.closed:
            await write(_CLOSED)
            return
        position = batch.cursor
        if batching is None and not batch.messages:
            with anyio.move_on_after(app.poll_interval):
                await log.wait_closed()
        if time.monotonic() >= last_write + interval:
            await write(_KEEPALIVE)


async def _stream_push(
    app: HttpApp, send: Send, subscriber: ServedSubscription[Any], expected: int, epoch: int
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
        life = getattr(subscriber, "epoch", None)
        if life is not None and life != epoch:  # the channel began a new life: offsets restart
            epoch, expected = life, message.offset
            gap = gap_json(0, message.offset, epoch, unknown=True)
            await send(body(format_event(gap, event="missed")))
        if message.offset > expected:
            gap = gap_json(message.offset - expected, message.offset, epoch)
            await send(body(format_event(gap, event="missed")))
        expected = message.offset + 1
        await send(body(app._fragments.event(message, epoch)))


async def serve_goodbye(app: HttpApp, send: Send) -> None:
    """An event stream asked for while the app is closed: it ends at once with a ``retry:``
    hint, so that a browser comes back later (a 503 would make ``EventSource`` give up)."""
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    await send(body(format_retry(app.retry), more=False))

"""``GET /{name}``: a poll, answered at once, or with ``wait=`` a long poll, held until its
batching releases it, the client leaves or the app closes."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from .._core import EARLIEST, UNSET, Batch, Batching, Start
from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES
from .._protocols import ServedLongPoll
from .._serving import Served, batching_with, fixed_cursor
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
    parameters,
    respond_bytes,
    seconds,
    threshold,
)
from ._statuses import refusals

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["serve_poll"]

_PARAMETERS = frozenset(
    {"cursor", "epoch", "max_messages", "max_bytes", "wait", "min_messages", "min_bytes"}
)


async def serve_poll(
    app: HttpApp, scope: Scope, receive: Receive, send: Send, channel: Served, *, name: str
) -> None:
    """Answer a poll or a long poll on ``channel`` with a batch."""
    log = channel.log
    if log is None:
        raise HttpError(400, f"{name!r} keeps no history to poll: use /{name}/events or /{name}/ws")
    params = parameters(scope, _PARAMETERS)
    asked = cursor(params.get("cursor"))
    start, life = EARLIEST if asked is None else asked, epoch(params.get("epoch"))
    wait = seconds(params, "wait")
    min_messages = count(params, "min_messages", 1)
    min_bytes = threshold(count(params, "min_bytes", 0))
    if wait is None and (min_messages is not None or min_bytes is not UNSET):
        raise HttpError(400, "min_messages and min_bytes go with wait (a long poll)")
    max_messages = cap(count(params, "max_messages", 1), DEFAULT_MAX_BATCH_MESSAGES)
    max_bytes = cap(count(params, "max_bytes", 1), DEFAULT_MAX_BATCH_BYTES)
    with refusals():
        if wait is None:
            batch = await log.serve_poll(
                start, epoch=life, max_messages=max_messages, max_bytes=max_bytes
            )
        elif channel.long_poll is None:
            raise HttpError(400, f"wait needs a long-poll channel; {name!r} is not one")
        else:
            held = await _long_poll(
                app,
                receive,
                channel.long_poll,
                start=fixed_cursor(log, start),
                life=life,
                batching=batching_with(
                    channel.long_poll.batching,
                    max_wait=min(wait, app.max_wait),
                    min_messages=UNSET if min_messages is None else min_messages,
                    min_bytes=min_bytes,
                    max_messages=max_messages,
                    max_bytes=max_bytes,
                ),
            )
            if held is None:
                return  # the client left: nobody to answer
            batch = held
    await respond_bytes(send, 200, app._fragments.batch(batch))


async def _long_poll(
    app: HttpApp,
    receive: Receive,
    channel: ServedLongPoll[Any],
    *,
    start: int | Start,
    life: int | None,
    batching: Batching,
) -> Batch[Any] | None:
    """The long poll's batch; None if the client left first. Answered with what there is if the
    app closes meanwhile."""
    try:  # no waiting, so no need to watch for a disconnect
        return channel.serve_long_poll_nowait(start, epoch=life, batching=batching)
    except anyio.WouldBlock:
        pass
    watch = partial(disconnected, receive)
    held = None
    with app._closing.scope() as closing:
        held = await channel.serve_long_poll(start, epoch=life, batching=batching, until=watch)
    if closing.cancelled_caught:  # the server is stopping: answer now
        now = batching_with(batching, max_wait=0)
        held = await channel.serve_long_poll(start, epoch=life, batching=now)
    return held

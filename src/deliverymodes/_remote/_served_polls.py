"""Polls and long polls for a served connection."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio

from .._core import UNSET, Batch
from .._defaults import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_MESSAGES
from .._exceptions import ConnectionLost
from .._protocols import ServedLog
from .._serving import batching_with, fixed_cursor
from .._wire import Error, ErrorCode, LongPoll, Poll
from .._wire._translate import (
    BAD_ARGUMENTS,
    UNREACHABLE,
    RequestRefused,
    cursor_from_wire,
    epoch_from_wire,
    setting_from_wire,
)
from ._served_base import ConnectionBase, WaitingPoll, quoted

__all__ = ["PollServing"]

_log = logging.getLogger("deliverymodes.server")
BATCHING_FIELDS = ("min_messages", "min_bytes", "max_wait", "max_messages", "max_bytes")


class PollServing(ConnectionBase):
    """POLL, LONG_POLL and CANCEL: answered at once, or held waiting in a task of their own."""

    def _log_channel(self, name: str) -> ServedLog[Any]:
        log = self._channel(name).log
        if log is None:
            raise RequestRefused(ErrorCode.UNSUPPORTED, f"{quoted(name)} keeps no history to poll")
        return log

    async def _poll(self, event: Poll) -> None:
        channel = self._log_channel(event.channel)
        fitter = self._fitter()
        with BAD_ARGUMENTS, UNREACHABLE:
            batch = await channel.serve_poll(
                cursor_from_wire(event.cursor),
                epoch=epoch_from_wire(event.epoch),
                max_messages=setting_from_wire(
                    "max_messages", event.max_messages, DEFAULT_MAX_BATCH_MESSAGES
                ),
                max_bytes=setting_from_wire("max_bytes", event.max_bytes, DEFAULT_MAX_BATCH_BYTES),
                fit=fitter,
            )
        self._reply(self._batch_frame(event.request, batch, fitter))

    def _start_long_poll(self, event: LongPoll, work: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel).long_poll
        if channel is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{quoted(event.channel)} is not a long-poll channel"
            )
        limit = self._limits.max_long_poll_wait
        asked = setting_from_wire("max_wait_ms", event.max_wait_ms, UNSET, minimum=0)
        wait = channel.batching.max_wait if asked is UNSET else asked and asked / 1000
        settings = (
            setting_from_wire("min_messages", event.min_messages, UNSET, no_limit=False),
            setting_from_wire("min_bytes", event.min_bytes, UNSET, minimum=0),
            limit if wait is None else min(wait, limit),
            setting_from_wire("max_messages", event.max_messages, UNSET),
            setting_from_wire("max_bytes", event.max_bytes, UNSET),
        )
        fitter = self._fitter()
        epoch = epoch_from_wire(event.epoch)
        with BAD_ARGUMENTS:  # check everything now, so that a bad request is answered at once
            batching = batching_with(
                channel.batching, **dict(zip(BATCHING_FIELDS, settings, strict=True))
            )
            cursor = fixed_cursor(channel, cursor_from_wire(event.cursor))
            try:
                ready: Batch[Any] | None = channel.serve_long_poll_nowait(
                    cursor, epoch=epoch, batching=batching, fit=fitter
                )
            except anyio.WouldBlock:
                ready = None
        if ready is not None:  # no need for a task: answer at once
            self._reply(self._batch_frame(event.request, ready, fitter))
            return
        self._wire.hold(event.request)
        waiting = self._waiting[event.request] = WaitingPoll(channel, cursor, epoch, batching)
        work.start_soon(self._long_poll, event.request, waiting)

    async def _long_poll(self, request: int, waiting: WaitingPoll) -> None:
        fitter = self._fitter()
        try:
            with UNREACHABLE:
                batch = await waiting.wait(fitter)
            if self._waiting.get(request) is not waiting:
                # Cancelled: CANCEL answered for it. (On trio a poll released just before the
                # CANCEL may still have its batch here; the client gave up on it: dropped.)
                return
            if batch is None:  # to be answered now (CLOSE, or a fault after it)
                with UNREACHABLE:
                    batch = await waiting.answer_now(fitter)
            frame = self._batch_frame(request, batch, fitter)
        except RequestRefused as error:  # too large for the client, or not encodable
            frame = self._refusal(request, error.code, str(error))
        except Exception as error:
            _log.exception("a long poll failed")
            self._fail(ErrorCode.INTERNAL, f"the server failed: {error!r}")
            return
        # (Cancelled from outside, the server is stopping: the poll stays among the waiting
        # ones, for the farewell to answer.)
        if self._waiting.get(request) is waiting:
            del self._waiting[request]
        with contextlib.suppress(ConnectionLost):
            self._writer.write(frame)

    def _cancel(self, request: int) -> None:
        waiting = self._waiting.pop(request, None)
        if waiting is not None:  # else answered already (or unknown): nothing to do
            waiting.scope.cancel()
            self._reply(self._wire.send(Error(request, ErrorCode.CANCELLED, "withdrawn")))

"""LongPollChannel: a poll the channel holds until the answer is worth sending."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import anyio
import attrs
from anyio.lowlevel import checkpoint

from ._core import (
    LATEST,
    UNSET,
    Batch,
    Batching,
    LogState,
    Retention,
    Start,
    Unset,
    default_sizer,
    min_messages_of,
)
from ._defaults import COOPERATIVE_BUDGET
from ._log_channel import _DEFAULT_RETENTION, LogChannel, LogSubscriber, _Waiter
from ._protocols import Fit

__all__ = ["UNSET", "LongPollChannel", "LongPollSubscriber", "Unset"]

T = TypeVar("T")


_DEFAULT_BATCHING = Batching()
_BATCHINGS_KEPT = 64  # distinct per-request settings a channel keeps validated


def _check_batching(batching: object) -> None:
    if not isinstance(batching, Batching):
        raise TypeError(f"batching must be a Batching, not {type(batching).__name__}")


class LongPollChannel(LogChannel[T]):
    """Long poll: ``poll(cursor)`` is held until the answer is worth sending.

    It answers as soon as the messages pending from ``cursor`` reach ``min_messages``, or (when
    set) their bytes reach ``min_bytes``; else when ``max_wait`` has passed, with whatever there is;
    at once when the channel closes. :class:`Batch.reason <Batch>` says which (see
    :class:`Release`). Missed messages do not count towards the thresholds. With ``measure_lag``,
    :attr:`delivery_lag` observes how long the oldest message of each batch answered had waited.
    """

    def __init__(
        self,
        retention: Retention = _DEFAULT_RETENTION,
        batching: Batching = _DEFAULT_BATCHING,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        epoch: int | None = None,
        measure_lag: bool = False,
    ) -> None:
        if not isinstance(batching, Batching):
            raise TypeError(f"batching must be a Batching, not {type(batching).__name__}")
        super().__init__(retention, sizer, epoch, measure_lag)
        self._default_batching = batching
        self._batchings: dict[tuple[tuple[str, object], ...], Batching] = {}

    @property
    def batching(self) -> Batching:
        """The release thresholds and caps a poll uses where it sets none of its own."""
        return self._default_batching

    def _batching(self, **overrides: object) -> Batching:
        """The channel's batching with ``overrides`` (UNSET ones left out), validated once:
        readers tend to repeat the same settings, request after request."""
        given = tuple((name, value) for name, value in overrides.items() if value is not UNSET)
        if not given:
            return self.batching
        batching = self._batchings.get(given)
        if batching is None:
            batching = attrs.evolve(self.batching, **dict(given))  # type: ignore[arg-type]
            if len(self._batchings) >= _BATCHINGS_KEPT:
                self._batchings.clear()
            self._batchings[given] = batching
        return batching

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_wait: float | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> Batch[T]:
        """Wait for a batch worth sending from ``cursor``; settings default to the channel's.

        ``epoch``: the life ``cursor`` belongs to (a batch's ``epoch``); from another life, the
        answer starts at this life's first offset with ``missed_unknown`` set.
        """
        batching = self._batching(
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_wait=max_wait,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        state = self._state
        start, across = state.restart(cursor, epoch)
        batch = await self._long_poll(state.fix(start), batching)
        return state.across(batch) if across else batch

    def serve_long_poll_nowait(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
    ) -> Batch[T]:
        """A long poll as adapters serve it, if it can be answered now (see
        :class:`ServedLongPoll`); else raise ``anyio.WouldBlock``, having counted nothing."""
        _check_batching(batching)
        state = self._state
        start, across = state.restart(cursor, epoch)
        batch = state.long_poll_now(state.fix(start), batching, fit, time.time())
        if batch is None:
            raise anyio.WouldBlock
        return state.across(batch) if across else batch

    @overload
    async def serve_long_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: None = None,
    ) -> Batch[T]: ...

    @overload
    async def serve_long_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: Callable[[], Awaitable[object]] | None = None,
    ) -> Batch[T] | None: ...

    async def serve_long_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: Callable[[], Awaitable[object]] | None = None,
    ) -> Batch[T] | None:
        """A long poll as adapters serve it (see :class:`ServedLongPoll`): the batch once
        ``batching`` releases it; None if ``until()`` returned first (nothing counted)."""
        _check_batching(batching)
        state = self._state
        start, across = state.restart(cursor, epoch)
        fixed = state.fix(start)
        if until is None:
            batch: Batch[T] | None = await self._long_poll(fixed, batching, fit)
        else:
            batch = state.long_poll_now(fixed, batching, fit, time.time())
            if batch is None:
                offset = state.resolve(fixed)
                batch = await self._wait_and_answer(offset, batching, until, fit=fit)
        if batch is None:
            return None
        return state.across(batch) if across else batch

    async def _long_poll(
        self, cursor: int | Start, batching: Batching, fit: Fit | None = None
    ) -> Batch[T]:
        self._budget -= 1
        if not self._budget:
            self._budget = COOPERATIVE_BUDGET
            await checkpoint()
        ready = self._state.long_poll_now(cursor, batching, fit, time.time())
        if ready is not None:
            return ready
        return await self._wait_and_answer(self._state.resolve(cursor), batching, fit=fit)

    @overload
    async def _wait_and_answer(
        self, offset: int, batching: Batching, *, fit: Fit | None = None
    ) -> Batch[T]: ...

    @overload
    async def _wait_and_answer(
        self,
        offset: int,
        batching: Batching,
        meanwhile: Callable[[], Awaitable[object]],
        *,
        fit: Fit | None = None,
    ) -> Batch[T] | None: ...

    async def _wait_and_answer(
        self,
        offset: int,
        batching: Batching,
        meanwhile: Callable[[], Awaitable[object]] | None = None,
        *,
        fit: Fit | None = None,
    ) -> Batch[T] | None:
        """Wait for the thresholds from ``offset`` (``long_poll_now`` said no), then answer.

        With ``meanwhile``, the poll awaits ``meanwhile()`` while it waits, and gives up (None,
        nothing read) if that returns first: how the HTTP adapter watches for a client's
        disconnect without a task of its own per request.
        """
        waiter = _Waiter(offset, min_messages_of(batching), batching.min_bytes)
        if not await self._wait(waiter, batching.max_wait, meanwhile):
            return None
        return self._state.long_poll_after(waiter, batching, fit, time.time())

    async def _wait(
        self,
        waiter: _Waiter,
        max_wait: float | None,
        meanwhile: Callable[[], Awaitable[object]] | None,
    ) -> bool:
        """Wait until ``waiter`` is released or ``max_wait`` passes (at once if its thresholds
        are met now); False if ``meanwhile()`` returned first."""
        state = self._state
        if meanwhile is None:
            waiter.event = event = anyio.Event()
        else:
            waiter.scope = scope = anyio.CancelScope()
        if state.start_waiting(waiter):
            try:
                with anyio.move_on_after(max_wait):
                    if meanwhile is None:
                        await event.wait()
                    else:
                        with scope:
                            await meanwhile()
                            return False
            finally:
                state.stop_waiting(waiter)
        return True

    def subscribe(
        self,
        start: int | Start = LATEST,
        *,
        min_messages: int | Unset = UNSET,
        min_bytes: int | Unset | None = UNSET,
        max_wait: float | Unset | None = UNSET,
        max_messages: int | Unset | None = UNSET,
        max_bytes: int | Unset | None = UNSET,
    ) -> LongPollSubscriber[T]:
        """A subscriber doing long polls in a loop from ``start``, yielding messages one by one."""
        batching = self._batching(
            min_messages=min_messages,
            min_bytes=min_bytes,
            max_wait=max_wait,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )
        return LongPollSubscriber(self, self._state, start, batching)


class LongPollSubscriber(LogSubscriber[T]):
    """Long polls its channel in a loop; ``await sub.poll()`` does one long poll."""

    def __init__(
        self,
        channel: LongPollChannel[T],
        state: LogState[T, Any],
        start: int | Start,
        batching: Batching,
    ) -> None:
        super().__init__(state, start)
        self._channel = channel
        self.batching = batching

    async def _fetch(self) -> Batch[T]:
        return await self._channel.serve_long_poll(self.cursor, batching=self.batching)

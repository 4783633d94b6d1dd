"""PollChannel: readers ask with a cursor and are answered at once, with messages or empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ._core import (
    LATEST,
    Batch,
    LogState,
    Retention,
    Start,
    check_optional_count,
    check_seconds,
    default_sizer,
)
from ._defaults import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_POLL_INTERVAL,
)
from ._log_channel import _DEFAULT_RETENTION, LogChannel, LogSubscriber

__all__ = ["PollChannel", "PollSubscriber"]

T = TypeVar("T")


class PollChannel(LogChannel[T]):
    """Poll: ``poll(cursor)`` answers at once with what is retained from ``cursor``, maybe nothing.

    Empty answers and the number of requests are the price of polling; ``statistics()`` counts
    both. Retention bounds the history kept (see :class:`Retention`). With ``measure_lag``,
    :attr:`delivery_lag` observes how long the oldest message of each batch answered had waited.
    """

    def __init__(
        self,
        retention: Retention = _DEFAULT_RETENTION,
        *,
        sizer: Callable[[Any], int] = default_sizer,
        epoch: int | None = None,
        measure_lag: bool = False,
    ) -> None:
        super().__init__(retention, sizer, epoch, measure_lag)

    async def poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> Batch[T]:
        """What is retained from ``cursor``, at once, within the caps.

        ``epoch``: the life ``cursor`` belongs to (a batch's ``epoch``); from another life, the
        answer starts at this life's first offset with ``missed_unknown`` set.
        """
        start, across = self._state.restart(cursor, epoch)
        batch = await self._poll_at_once(start, max_messages, max_bytes)
        return self._state.across(batch) if across else batch

    def subscribe(
        self,
        start: int | Start = LATEST,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        max_messages: int | None = DEFAULT_MAX_BATCH_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BATCH_BYTES,
    ) -> PollSubscriber[T]:
        """A subscriber with its own cursor, from ``start``, polling every ``poll_interval`` s."""
        return PollSubscriber(
            self,
            self._state,
            start,
            poll_interval=poll_interval,
            max_messages=max_messages,
            max_bytes=max_bytes,
        )


class PollSubscriber(LogSubscriber[T]):
    """Polls its channel; after an empty answer it sleeps ``poll_interval`` s, then asks again."""

    def __init__(
        self,
        channel: PollChannel[T],
        state: LogState[T, Any],
        start: int | Start,
        *,
        poll_interval: float,
        max_messages: int | None,
        max_bytes: int | None,
    ) -> None:
        interval = check_seconds("poll_interval", poll_interval)
        check_optional_count("max_messages", max_messages)
        check_optional_count("max_bytes", max_bytes)
        super().__init__(state, start)
        self._channel = channel
        self.poll_interval = interval
        self._max_messages = max_messages
        self._max_bytes = max_bytes

    async def _fetch(self) -> Batch[T]:
        return await self._channel.poll(
            self.cursor,
            epoch=self._epoch,
            max_messages=self._max_messages,
            max_bytes=self._max_bytes,
        )

    async def _idle(self) -> None:
        with anyio.move_on_after(self.poll_interval):
            await self._channel.wait_closed()

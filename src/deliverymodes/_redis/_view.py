"""This process's view of a log channel's stream: what its follower delivers to, and what its
polls and long polls are answered from."""

from __future__ import annotations

import time
from typing import Any

from .._core import LogState, Message, Release
from .._log_channel import _Waiter

__all__ = ["View"]


class View:
    """This process's view of a channel's stream: the follower's sink for a log channel."""

    def __init__(self, state: LogState[Any, _Waiter]) -> None:
        self.state = state
        self.epoch: int | None = None
        self.resets = 0  # times the view was emptied (a gap, a new life): waiting polls look again

    idle = False  # a view keeps every message

    @property
    def head(self) -> int:
        return self.state.log.head

    def restarted(self, epoch: int, first: int) -> None:
        self.epoch = self.state.epoch = epoch
        self._reset(first)

    def skipped(self, offset: int) -> None:
        self._reset(offset)

    def _reset(self, offset: int) -> None:
        self.state.log.restart_at(offset)
        self.resets += 1
        for waiter in self.state.waits.release_all(Release.MAX_WAIT):
            waiter.wake()

    async def received(self, messages: list[Message[Any]]) -> None:
        self._extend(messages)

    def published_here(self, epoch: int, messages: list[Message[Any]]) -> None:
        if epoch == self.epoch and messages[0].offset == self.state.log.head:
            self._extend(messages)

    def _extend(self, messages: list[Message[Any]]) -> None:
        state = self.state
        state.log.extend_at(messages, time.time())
        if state.waits.waiting:
            for waiter in state.released():
                waiter.wake()

"""What a channel's follower delivers to in this process: a push channel's subscribers, or a
log channel's view of the stream."""

from __future__ import annotations

from typing import Protocol, TypeVar

from .._core import Message

__all__ = ["Sink"]

T = TypeVar("T")


class Sink(Protocol[T]):
    """Where a follower delivers: a life (``epoch``, None before the first read) and the next
    offset it expects (``head``)."""

    @property
    def epoch(self) -> int | None: ...

    @property
    def head(self) -> int: ...

    @property
    def idle(self) -> bool:
        """Nobody in this process needs the messages now: the follower passes them by with
        ``skipped``, undecoded (which then counts no loss)."""

    def restarted(self, epoch: int, first: int) -> None:
        """The channel is in life ``epoch`` (a new one, or the first one seen): continue from
        offset ``first``."""

    def skipped(self, offset: int) -> None:
        """Offsets from ``head`` up to ``offset`` will never be delivered: lost, counted as
        missed by whoever would have received them (nobody, when the sink is idle)."""

    async def received(self, messages: list[Message[T]]) -> None:
        """Messages at consecutive offsets from ``head`` (at least one)."""

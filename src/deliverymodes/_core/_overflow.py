"""Push overflow accounting: one subscriber's buffer, counted, with its overflow policy."""

from __future__ import annotations

import enum

from ._values import Overflow

__all__ = ["Action", "PushLedger"]


class Action(enum.Enum):
    """What the channel must do with one message for one subscriber."""

    ENQUEUE = "enqueue"  # there is room: buffer it
    WAIT = "wait"  # full under BLOCK: the publish must wait for room first (nothing counted)
    EVICT_OLDEST = "evict_oldest"  # remove the oldest buffered message, then buffer this one
    DISCARD = "discard"  # this subscriber does not get the message
    DISCONNECT = "disconnect"  # cut the subscriber off; it does not get the message


_WHEN_FULL = {
    Overflow.BLOCK: Action.WAIT,
    Overflow.DROP_OLDEST: Action.EVICT_OLDEST,
    Overflow.DROP_NEWEST: Action.DISCARD,
    Overflow.DISCONNECT: Action.DISCONNECT,
}


class PushLedger:
    """The counts of one push subscriber's buffer, and what to do when it is full.

    While the subscription is open, every message offered to it ends up exactly once as
    delivered, dropped, or still buffered: ``offered == delivered + dropped + buffered``. The
    channel's hot path does the room case inline (``buffered += 1``; ``take`` on receipt); the
    overflow decision lives here.
    """

    __slots__ = ("blocks", "buffered", "cut_off", "delivered", "dropped", "policy", "size")

    def __init__(self, size: int, policy: Overflow) -> None:
        self.size = size
        self.policy = policy
        self.blocks = policy is Overflow.BLOCK
        self.buffered = 0
        self.delivered = 0
        self.dropped = 0
        self.cut_off = False

    @property
    def offered(self) -> int:
        return self.delivered + self.dropped + self.buffered

    @property
    def blocks_publisher(self) -> bool:
        """True when a publish must wait for this subscriber (BLOCK policy and a full buffer)."""
        return self.blocks and self.buffered >= self.size

    def offer(self) -> Action:
        """Account for one new message and say what to do with it."""
        if self.buffered < self.size:
            self.buffered += 1
            return Action.ENQUEUE
        return self.overflow()

    def overflow(self) -> Action:
        """Account for one new message arriving at a full buffer and say what to do with it."""
        action = _WHEN_FULL[self.policy]
        if action is Action.WAIT:
            return action
        self.dropped += 1
        if action is Action.DISCONNECT:
            self.cut_off = True
        return action

    def take(self) -> bool:
        """Account for one message handed to the application; True if that ended a block."""
        unblocked = self.blocks and self.buffered >= self.size
        self.buffered -= 1
        self.delivered += 1
        return unblocked

"""The state of a push channel: every subscriber's buffer, the counts and the overflow decisions.

One :class:`PushState` per channel, one :class:`PushSubscription` per subscriber; the anyio
endpoints (``PushChannel``, ``PushSubscriber``) only wait and wake. The state never calls them:
each step returns the waiters it released, and the caller wakes those. ``W`` is whatever a waiter
is to the caller (an event).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from typing import Final, Generic, TypeVar

from ._lag import LagHistogram
from ._values import ChannelStatistics, Message, Overflow, SubscriberStatistics, make_message

__all__ = ["End", "PushState", "PushSubscription"]

T = TypeVar("T")
W = TypeVar("W")


class End(enum.Enum):
    """Why a subscription gets no more messages (once its buffer is drained)."""

    CLOSED = "closed"  # the channel is closed
    UNSUBSCRIBED = "unsubscribed"  # the subscription was closed
    CUT_OFF = "cut_off"  # its overflow policy (DISCONNECT) cut it off


_NOBODY: Final[tuple[()]] = ()
_DROP_OLDEST: Final = Overflow.DROP_OLDEST
_DISCONNECT: Final = Overflow.DISCONNECT


class PushSubscription(Generic[T, W]):
    """One subscriber's bounded buffer, its counts and its overflow policy.

    While it is open, every message offered to it ends up exactly once as delivered, dropped or
    still buffered: ``offered == delivered + dropped + buffered``. A subscriber cut off by
    ``DISCONNECT`` is offered every message published until it is closed, each one dropped.

    ``waiter`` is what its receivers wait on while ``take`` finds nothing and :attr:`end` is
    None: the caller sets it, and the step that gives the subscription a message (or ends it)
    hands it back to be woken.

    ``lag`` is the channel's lag histogram, or None if it does not measure lag.
    """

    __slots__ = (
        "_discarded",
        "_state",
        "blocks",
        "buffer",
        "closed_at",
        "cut_at",
        "delivered",
        "ended",
        "epoch",
        "lag",
        "lives",
        "missed",
        "missed_unknown",
        "policy",
        "size",
        "taken",
        "unsubscribed",
        "waiter",
    )

    def __init__(self, state: PushState[T, W], size: int, policy: Overflow) -> None:
        self._state = state
        self.size = size
        self.policy = policy
        self.blocks = policy is Overflow.BLOCK
        self.buffer: deque[Message[T]] = deque()
        self.waiter: W | None = None
        self.lag = state.lag
        self.delivered = 0
        self.missed = 0  # offered nothing for these: lost before they reached this state
        self.missed_unknown = 0  # times the channel began a new life under it
        # Where new lives begin in what it is offered: (position, epoch), positions counted as
        # ``taken`` counts; ``epoch`` is the life of the last message taken, once one began.
        self.lives: deque[tuple[int, int]] | None = None
        self.taken = 0  # messages taken from the buffer or dropped from its head
        self.epoch: int | None = None
        self._discarded = 0  # dropped, not counting the messages offered after a cut
        self.ended = False  # no message will be added: the buffer drains, then the end
        self.unsubscribed = False
        # Cut off: every message published from ``cut_at`` until the subscription is closed (then
        # ``closed_at``) is dropped for it too, so that its counts add up.
        self.cut_at: int | None = None
        self.closed_at: int | None = None

    @property
    def dropped(self) -> int:
        """Messages offered to it that it lost: to the overflow policy, to its closing with
        messages still buffered, or refused (:meth:`refuse_last`)."""
        if self.cut_at is None:
            return self._discarded
        end = self._state.head if self.closed_at is None else self.closed_at
        return self._discarded + end - self.cut_at

    def take(self) -> tuple[Message[T] | None, W | None]:
        """The oldest buffered message, now delivered (None if there is none: see :attr:`end`),
        and the publishers' waiter if taking it made room for them."""
        buffer = self.buffer
        if not buffer:
            return None, None
        room = None
        if self.blocks and len(buffer) == self.size:
            room = self._state._unblocked()
        self.delivered += 1
        lives = self.lives
        while lives and lives[0][0] == self.taken:  # it begins a new life (the latest, if it
            self.epoch = lives.popleft()[1]  # begins several whose messages were all dropped)
        self.taken += 1
        return buffer.popleft(), room

    def sample_lag(self, now: float) -> None:
        """Its receiver comes back for messages after a wait or a checkpoint: observe how long
        the oldest buffered one has waited since its publish (nothing if none is buffered, or
        while :attr:`lag` is None)."""
        buffer = self.buffer
        if buffer and self.lag is not None:
            self.lag.observe(now - buffer[0].published_at)

    @property
    def end(self) -> End | None:
        """Why no message will be added any more, or None while messages may still come."""
        if not self.ended:
            return None
        if self.cut_at is not None:
            return End.CUT_OFF
        if self.unsubscribed:
            return End.UNSUBSCRIBED
        return End.CLOSED

    def refuse_last(self) -> None:
        """The message ``take`` last returned could not be handed on: dropped, not delivered."""
        self.delivered -= 1
        self._discarded += 1

    def close(self) -> list[W]:
        """Unsubscribe: what is still buffered counts as dropped. Returns the waiters to wake."""
        state = self._state
        woken: list[W] = []
        self.unsubscribed = True
        if self.closed_at is None:
            self.closed_at = state.head
        self._discarded += len(self.buffer)
        room = state._retire(self)  # while the buffer still shows whether it held publishers
        if room is not None:
            woken.append(room)
        self.buffer.clear()
        waiter = self._end()
        if waiter is not None:
            woken.append(waiter)
        return woken

    def _end(self) -> W | None:
        """No message will be added any more: returns the waiter to wake."""
        self.ended = True
        waiter, self.waiter = self.waiter, None
        return waiter

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            delivered=self.delivered,
            dropped=self.dropped,
            missed=self.missed,
            missed_unknown=self.missed_unknown,
            lag=len(self.buffer),
        )


class PushState(Generic[T, W]):
    """A push channel: its subscriptions, the next offset, which publishers must wait, close.

    ``blocked`` says a publish must wait: a BLOCK subscriber's buffer is full (never once
    closed). ``room_waiter`` is what publishers wait on meanwhile: the caller sets it, and the
    step that ends the last block (a take, an unsubscribe, the close) hands it back to be woken.
    ``lag``: the histogram its subscriptions sample delivery lag into, or None.
    """

    def __init__(self, lag: LagHistogram | None = None) -> None:
        self.head = 0  # the offset the next message gets
        self.lag = lag
        self.closed = False
        self.room_waiter: W | None = None
        self._receiving: tuple[PushSubscription[T, W], ...] = ()  # offered every new message
        self._open: set[PushSubscription[T, W]] = set()  # not unsubscribed (maybe draining)
        self._retired_delivered = 0  # by subscriptions closed since
        self._retired_dropped = 0
        self._missed = 0
        self._missed_unknown = 0
        self._blockers = 0  # BLOCK subscriptions whose full buffer holds publishers back
        self.blocked = False  # a publish must wait: _blockers > 0 (never once closed)

    @property
    def receivers(self) -> int:
        """Subscriptions offered every new message now."""
        return len(self._receiving)

    def subscribe(self, size: int, policy: Overflow) -> PushSubscription[T, W]:
        """A subscription offered every message published from now on (none once closed)."""
        subscription = PushSubscription(self, size, policy)
        self._open.add(subscription)
        if self.closed:
            subscription.ended = True
        else:
            self._receiving = (*self._receiving, subscription)
        return subscription

    def publish(self, payload: T, size: int, now: float) -> tuple[Message[T], Sequence[W]]:
        """Offer a new message to every subscription; returns it and the waiters to wake.

        Only while neither :attr:`closed` nor :attr:`blocked`: a publish is all-or-nothing, so
        the caller waits for room before it publishes, never half-way.
        """
        if self.blocked or self.closed:
            raise RuntimeError("publish while the channel is closed or a BLOCK buffer is full")
        message = make_message(self.head, payload, size, now)
        self.head += 1
        woken: list[W] | None = None
        for subscription in self._receiving:
            buffer = subscription.buffer
            space = subscription.size - len(buffer)
            if space:
                buffer.append(message)
                if space == 1 and subscription.blocks:
                    self._blockers += 1
                    self.blocked = True
                waiter = subscription.waiter
            else:
                waiter = self._overflow(subscription, message)
            if waiter is not None:
                subscription.waiter = None
                if woken is None:
                    woken = [waiter]
                else:
                    woken.append(waiter)
        return message, _NOBODY if woken is None else woken

    def skip(self, offset: int) -> None:
        """Offsets from :attr:`head` up to ``offset`` will never be published here (another
        process published them, and they were lost on the way): every subscription receiving
        now counts them as missed. For channels whose messages come from elsewhere."""
        gap = offset - self.head
        if gap <= 0:
            return
        for subscription in self._receiving:
            subscription.missed += gap
        self._missed += gap * len(self._receiving)
        self._advance(offset)

    def restart(self, head: int, epoch: int | None = None) -> None:
        """The channel began a new life, whose next offset is ``head``: every subscription
        receiving now lost an unknown number of messages. With its ``epoch``, each notes where
        the new life begins among the messages it is offered (see ``PushSubscription.epoch``)."""
        for subscription in self._receiving:
            subscription.missed_unknown += 1
            if epoch is not None:
                if subscription.lives is None:
                    subscription.lives = deque()
                position = subscription.taken + len(subscription.buffer)
                subscription.lives.append((position, epoch))
        self._missed_unknown += len(self._receiving)
        self._advance(head)

    def _advance(self, head: int) -> None:
        """Move :attr:`head`, keeping cut-off subscriptions' dropped counts as they are."""
        for subscription in self._open:
            if subscription.cut_at is not None and subscription.closed_at is None:
                subscription._discarded += self.head - subscription.cut_at
                subscription.cut_at = head
        self.head = head

    def _overflow(self, subscription: PushSubscription[T, W], message: Message[T]) -> W | None:
        """Offer ``message`` to a full buffer (not BLOCK's: a publish waits for room first);
        returns the waiter to wake if that ended the subscription."""
        subscription._discarded += 1
        policy = subscription.policy
        if policy is _DROP_OLDEST:
            subscription.buffer.popleft()
            lives = subscription.lives
            taken = subscription.taken
            if lives and lives[0][0] == taken:  # it began a life: the next one begins it now
                epoch = lives.popleft()[1]
                while lives and lives[0][0] == taken:
                    epoch = lives.popleft()[1]
                lives.appendleft((taken + 1, epoch))
            subscription.taken = taken + 1
            subscription.buffer.append(message)
        elif policy is _DISCONNECT:
            subscription.cut_at = self.head
            self._receiving = tuple(s for s in self._receiving if s is not subscription)
            return subscription._end()
        return None

    def _unblocked(self) -> W | None:
        """A full BLOCK buffer got room: the publishers' waiter if that ended the last block."""
        if self.closed:
            return None
        self._blockers -= 1
        if self._blockers:
            return None
        self.blocked = False
        room, self.room_waiter = self.room_waiter, None
        return room

    def _retire(self, subscription: PushSubscription[T, W]) -> W | None:
        """``subscription`` was closed: stop offering it messages, keep its counts, forget it."""
        room = None
        if subscription in self._receiving:
            self._receiving = tuple(s for s in self._receiving if s is not subscription)
            if subscription.blocks and len(subscription.buffer) >= subscription.size:
                room = self._unblocked()
        if subscription in self._open:
            self._open.discard(subscription)
            self._retired_delivered += subscription.delivered
            self._retired_dropped += subscription.dropped
        return room

    def close(self) -> list[W]:
        """Close: subscriptions drain their buffers, then end; publishers stop waiting. Returns
        the waiters to wake."""
        woken: list[W] = []
        if self.closed:
            return woken
        self.closed = True
        receiving, self._receiving = self._receiving, ()
        for subscription in receiving:
            waiter = subscription._end()
            if waiter is not None:
                woken.append(waiter)
        self._blockers = 0
        self.blocked = False
        if self.room_waiter is not None:
            woken.append(self.room_waiter)
            self.room_waiter = None
        return woken

    def statistics(self) -> ChannelStatistics:
        subscriptions = self._open
        return ChannelStatistics(
            published=self.head,
            delivered=self._retired_delivered + sum(s.delivered for s in subscriptions),
            dropped=self._retired_dropped + sum(s.dropped for s in subscriptions),
            missed=self._missed,
            missed_unknown=self._missed_unknown,
            subscribers=len(self._receiving),
            buffered=sum(len(s.buffer) for s in subscriptions),
        )

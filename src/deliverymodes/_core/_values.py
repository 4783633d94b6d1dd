"""Value objects: messages, batches, settings and statistics. Pure data, frozen and validated."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Final, Generic, Literal, TypeVar

import attrs

from .._defaults import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_WAIT,
    DEFAULT_RETENTION_MESSAGES,
)
from ._checks import count_validator, seconds_validator

__all__ = [
    "EARLIEST",
    "LATEST",
    "UNSET",
    "Batch",
    "Batching",
    "ChannelStatistics",
    "Message",
    "Overflow",
    "Release",
    "Retention",
    "Start",
    "SubscriberStatistics",
    "Unset",
]

T = TypeVar("T")


class Unset(enum.Enum):
    """Type of :data:`UNSET`."""

    UNSET = "unset"


#: "Use the channel's batching for this setting" (``None`` already means "no limit").
UNSET: Final[Literal[Unset.UNSET]] = Unset.UNSET


class Release(enum.Enum):
    """Why a long poll answered. When several hold at once, the first in this order is reported."""

    MIN_MESSAGES = "min_messages"
    MIN_BYTES = "min_bytes"
    MAX_WAIT = "max_wait"
    CLOSED = "closed"


class Overflow(enum.Enum):
    """What a push channel does when one subscriber's buffer is full."""

    #: ``publish`` waits until every subscriber has room (backpressure).
    BLOCK = "block"
    #: The full subscriber loses its oldest buffered message to make room; counted as dropped.
    DROP_OLDEST = "drop_oldest"
    #: The full subscriber does not get the new message; counted as dropped.
    DROP_NEWEST = "drop_newest"
    #: The full subscriber is cut off: it drains its buffer, then ``receive`` raises SlowConsumer.
    DISCONNECT = "disconnect"


class Start(enum.Enum):
    """Symbolic start positions for a cursor."""

    EARLIEST = "earliest"
    LATEST = "latest"


#: The oldest retained offset.
EARLIEST: Final[Literal[Start.EARLIEST]] = Start.EARLIEST
#: The next offset to be published: only messages published from now on.
LATEST: Final[Literal[Start.LATEST]] = Start.LATEST


@attrs.frozen
class Message(Generic[T]):
    """One published message.

    ``offset`` is its position in the channel (0, 1, 2, … in publish order), ``size`` its payload's
    size in bytes as the channel's sizer measured it, ``published_at`` the wall-clock time
    (``time.time()``) at which it was published.
    """

    offset: int
    payload: T
    size: int
    published_at: float


_new = object.__new__
# The slot descriptors of Message's four fields, set directly by make_message.
_set_offset, _set_payload, _set_size, _set_published_at = (
    getattr(Message, name).__set__ for name in ("offset", "payload", "size", "published_at")
)


def make_message(offset: int, payload: T, size: int, published_at: float) -> Message[T]:
    """``Message(offset, payload, size, published_at)``, a quarter faster: it fills the slots
    directly instead of going through the frozen ``__init__`` (for the library's hot paths)."""
    message: Message[T] = _new(Message)
    _set_offset(message, offset)
    _set_payload(message, payload)
    _set_size(message, size)
    _set_published_at(message, published_at)
    return message


def make_messages(
    offsets: Iterable[int],
    payloads: Iterable[T],
    sizes: Iterable[int],
    published_at: Iterable[float],
) -> list[Message[T]]:
    """Messages from parallel sequences (of the same length), as :func:`make_message` makes
    each, with its lookups made once for them all."""
    new, message_class = _new, Message
    set_offset, set_payload, set_size, set_time = (
        _set_offset, _set_payload, _set_size, _set_published_at
    )  # fmt: skip
    messages: list[Message[T]] = []
    append = messages.append
    for offset, payload, size, time in zip(offsets, payloads, sizes, published_at, strict=True):
        message = new(message_class)
        set_offset(message, offset)
        set_payload(message, payload)
        set_size(message, size)
        set_time(message, time)
        append(message)
    return messages


@attrs.frozen
class Batch(Generic[T]):
    """The answer to a poll or long poll.

    ``cursor`` is the offset to ask for next; ``missed`` counts the messages between the requested
    cursor and the first one returned that retention had already evicted; ``closed`` says the
    channel is closed and nothing will come after this batch; ``reason`` says why a long poll was
    released (``None`` for a plain poll). ``epoch`` is the channel's life that the offsets and the
    cursor belong to (0: not known); ``missed_unknown`` says the requested cursor was from another
    life, so that an unknown number of messages was lost before this batch (``missed`` counts only
    those lost in this life).
    """

    messages: tuple[Message[T], ...]
    cursor: int
    missed: int = 0
    closed: bool = False
    reason: Release | None = None
    epoch: int = 0
    missed_unknown: bool = False


@attrs.frozen
class Retention:
    """How much history a poll or long-poll channel keeps; ``None`` means no limit on that axis.

    A message larger than ``max_bytes`` is evicted at once (every reader sees it as missed), so the
    retained bytes never exceed ``max_bytes``. ``max_age`` is in seconds of wall-clock time.
    """

    max_messages: int | None = attrs.field(
        default=DEFAULT_RETENTION_MESSAGES, validator=count_validator(1, optional=True)
    )
    max_bytes: int | None = attrs.field(default=None, validator=count_validator(0, optional=True))
    max_age: float | None = attrs.field(default=None, validator=seconds_validator(optional=True))

    @classmethod
    def unbounded(cls) -> Retention:
        """Keep everything: the user's explicit choice, never the default."""
        return cls(max_messages=None, max_bytes=None, max_age=None)


@attrs.frozen
class Batching:
    """When a long poll answers, and how large its batch may be.

    It answers as soon as the messages pending from its cursor reach ``min_messages``, or their
    bytes reach ``min_bytes`` (when set); otherwise once ``max_wait`` seconds have passed (never,
    with ``None``), or at once when the channel closes. A batch holds at most ``max_messages``
    messages and ``max_bytes`` bytes, except that one message larger than ``max_bytes`` is returned
    alone so a reader always makes progress. ``min_messages`` is capped by ``max_messages``.
    """

    min_messages: int = attrs.field(default=1, validator=count_validator(1))
    min_bytes: int | None = attrs.field(default=None, validator=count_validator(0, optional=True))
    max_wait: float | None = attrs.field(
        default=DEFAULT_MAX_WAIT, validator=seconds_validator(optional=True)
    )
    max_messages: int | None = attrs.field(
        default=DEFAULT_MAX_BATCH_MESSAGES, validator=count_validator(1, optional=True)
    )
    max_bytes: int | None = attrs.field(
        default=DEFAULT_MAX_BATCH_BYTES, validator=count_validator(1, optional=True)
    )


@attrs.frozen(kw_only=True)
class ChannelStatistics:
    """What a channel has done, the same fields in every mode (zero where a mode has no such cost).

    - ``published``: messages published.
    - ``delivered``: messages handed to readers (push: received; poll: returned in batches).
    - ``dropped``: push deliveries lost to an overflow policy (one per subscriber that lost it).
    - ``missed``: messages readers asked for that retention had already evicted.
    - ``missed_unknown``: reads from a cursor of another life of the channel (an epoch before a
      restart), each of which lost an unknown number of messages.
    - ``subscribers``: subscriptions open now.
    - ``retained_messages``, ``retained_bytes``: history kept now (poll and long poll).
    - ``buffered``: messages waiting in push subscribers' buffers now.
    - ``polls``, ``empty_polls``: poll requests answered, and those answered with no message.
    - ``waiting_polls``: long polls waiting right now.
    """

    published: int = 0
    delivered: int = 0
    dropped: int = 0
    missed: int = 0
    missed_unknown: int = 0
    subscribers: int = 0
    retained_messages: int = 0
    retained_bytes: int = 0
    buffered: int = 0
    polls: int = 0
    empty_polls: int = 0
    waiting_polls: int = 0


@attrs.frozen(kw_only=True)
class SubscriberStatistics:
    """What one subscriber has done: the same fields, with the same meaning, on every transport.

    - ``delivered``: messages it handed to the application.
    - ``dropped``: messages its overflow policy lost for it (push; over TCP, the offsets skipped
      between the messages it received). An HTTP event stream reports every gap as ``missed``,
      whatever its cause, so its ``dropped`` stays 0.
    - ``missed``: messages retention evicted before it read them (poll and long poll), that were
      published while it was disconnected (a remote push subscriber), or any gap an HTTP event
      stream reported.
    - ``missed_unknown``: times it lost an unknown number of messages (the channel restarted in a
      new life while it was away).
    - ``lag``: messages waiting for it now: its buffer, plus what is retained past its cursor for
      a local poll or long-poll subscriber. A remote one counts only what it received and has not
      handed over: what the server holds for it is not known without asking.
    - ``polls``, ``empty_polls``: requests it made, and those that came back empty (0 for push;
      for an HTTP event stream, its connections and those that ended without a message).
    """

    delivered: int = 0
    dropped: int = 0
    missed: int = 0
    missed_unknown: int = 0
    lag: int = 0
    polls: int = 0
    empty_polls: int = 0

"""The values of the wire protocol: frame kinds, codes, sentinels and the events frames carry.

``docs/wire-protocol.md`` describes every frame; ``_encode`` and ``_decode`` turn these events
into bytes and back. Plain values: no I/O.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import attrs

from .._exceptions import ErrorCode

__all__ = [
    "DEFAULT",
    "EARLIEST_CURSOR",
    "LATEST_CURSOR",
    "MAX_ERROR_TEXT",
    "MIN_FRAME_SIZE",
    "NO_LIMIT",
    "PROTOCOL_VERSION",
    "Batch",
    "Cancel",
    "Close",
    "ConnectionEnded",
    "Credit",
    "End",
    "EndReason",
    "Error",
    "ErrorCode",
    "Event",
    "Hello",
    "Keepalive",
    "Kind",
    "LongPoll",
    "Poll",
    "Publish",
    "Published",
    "Push",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Welcome",
    "WireMessage",
]

PROTOCOL_VERSION = 3

#: The smallest maximum frame size an end may announce: room for any control frame and an error.
MIN_FRAME_SIZE = 1024
#: Error texts are cut to this many bytes of UTF-8, so an ERROR frame always fits.
MAX_ERROR_TEXT = 512

#: Sentinels for the signed 64-bit setting fields: "use the channel's setting", "no limit".
DEFAULT = -1
NO_LIMIT = -2
#: Sentinels for a cursor field.
EARLIEST_CURSOR = -1
LATEST_CURSOR = -2


class Kind(enum.IntEnum):
    """The frame kinds, by the byte that identifies them."""

    HELLO = 0x01
    WELCOME = 0x02
    PUBLISH = 0x10
    PUBLISHED = 0x11
    SUBSCRIBE = 0x12
    SUBSCRIBED = 0x13
    CREDIT = 0x14
    UNSUBSCRIBE = 0x15
    PUSH = 0x16
    END = 0x17
    POLL = 0x20
    LONG_POLL = 0x21
    BATCH = 0x22
    ERROR = 0x30
    KEEPALIVE = 0x31
    CLOSE = 0x32
    CANCEL = 0x33


class EndReason(enum.IntEnum):
    """Why a push subscription ended (END frames)."""

    CHANNEL_CLOSED = 1
    SLOW_CONSUMER = 2
    UNSUBSCRIBED = 3
    MESSAGE_TOO_LARGE = 4  # the next message cannot fit in a frame the client accepts


class WireMessage(NamedTuple):
    """A message as it travels: its payload still encoded by the codec."""

    offset: int
    published_at: float
    size: int
    data: bytes


# -- events ----------------------------------------------------------------------------------------


@attrs.frozen
class Hello:
    """Client → server, first frame: the protocol version and the largest frame it accepts."""

    version: int
    max_frame_size: int


@attrs.frozen
class Welcome:
    """Server → client, answer to HELLO: the version and the largest frame the server accepts."""

    version: int
    max_frame_size: int


@attrs.frozen
class Publish:
    """Client → server: publish ``data`` (encoded by the codec) to channel ``channel``."""

    request: int
    channel: str
    data: bytes


@attrs.frozen
class Published:
    """Server → client: the message a PUBLISH became."""

    request: int
    offset: int
    size: int
    published_at: float


@attrs.frozen
class Subscribe:
    """Client → server: a push subscription, numbered ``subscription`` by the client.

    ``buffer_size`` and ``overflow`` (0 = the channel's; 1-4 = ``Overflow`` BLOCK, DROP_OLDEST,
    DROP_NEWEST, DISCONNECT) configure the server-side subscriber; ``window`` is how many messages
    the server may send before the client grants more with CREDIT.
    """

    request: int
    subscription: int
    channel: str
    buffer_size: int
    overflow: int
    window: int


@attrs.frozen
class Subscribed:
    """Server → client: the subscription exists; messages published from now on will come.

    ``epoch`` is the channel's life and ``head`` the offset of the first message this
    subscription can receive.
    """

    request: int
    subscription: int
    epoch: int = 0
    head: int = 0


@attrs.frozen
class Credit:
    """Client → server: the client consumed ``messages`` more; the server may send as many."""

    subscription: int
    messages: int


@attrs.frozen
class Unsubscribe:
    """Client → server: end a push subscription (answered by END with reason UNSUBSCRIBED)."""

    subscription: int


@attrs.frozen
class Push:
    """Server → client: messages for a push subscription, in offset order."""

    subscription: int
    messages: tuple[WireMessage, ...]


@attrs.frozen
class End:
    """Server → client: a push subscription ended; nothing more will come for it."""

    subscription: int
    reason: EndReason


@attrs.frozen
class Poll:
    """Client → server: a poll, answered at once by BATCH.

    ``cursor``: an offset, or -1 EARLIEST, -2 LATEST; ``epoch``: the channel's life the cursor
    belongs to (0: not known). Settings: -1 = the channel's, -2 = no limit.
    """

    request: int
    channel: str
    cursor: int
    max_messages: int = DEFAULT
    max_bytes: int = DEFAULT
    epoch: int = 0


@attrs.frozen
class LongPoll:
    """Client → server: a long poll, answered by BATCH when its thresholds or its wait are met.

    Settings as in :class:`Poll`; ``max_wait_ms`` in milliseconds (the server clamps it).
    """

    request: int
    channel: str
    cursor: int
    min_messages: int = DEFAULT
    min_bytes: int = DEFAULT
    max_wait_ms: int = DEFAULT
    max_messages: int = DEFAULT
    max_bytes: int = DEFAULT
    epoch: int = 0


@attrs.frozen
class Batch:
    """Server → client: the answer to POLL or LONG_POLL (``reason`` 0 for a plain poll).

    ``epoch`` is the channel's life its offsets and ``cursor`` belong to; ``missed_unknown`` says
    the request's cursor was from another life (an unknown number of messages was lost).
    """

    request: int
    cursor: int
    missed: int
    closed: bool
    reason: int
    messages: tuple[WireMessage, ...]
    epoch: int = 0
    missed_unknown: bool = False


def _short_text(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_ERROR_TEXT:
        return text
    return data[: MAX_ERROR_TEXT - 3].decode("utf-8", "ignore") + "..."


@attrs.frozen
class Error:
    """Either way: request ``request`` failed (0: the connection itself, which then closes).

    ``message`` is cut to ``MAX_ERROR_TEXT`` bytes of UTF-8.
    """

    request: int
    code: ErrorCode
    message: str = attrs.field(converter=_short_text)


@attrs.frozen
class Cancel:
    """Client → server: the client gave up on request ``request``.

    A long poll still waiting is withdrawn, and so is a publish still waiting for room: either is
    answered with ``ERROR`` ``CANCELLED``. A request already answered, or unknown, is ignored.
    """

    request: int


@attrs.frozen
class Keepalive:
    """Either way: nothing to say, the connection is alive. No answer is expected."""


@attrs.frozen
class Close:
    """Either way: the sender is done; the receiver finishes and closes the connection."""


@attrs.frozen
class ConnectionEnded:
    """Not a frame: the byte stream from the peer ended (``receive_data(b"")``), as wsproto's
    ``CloseConnection``. ``mid_frame`` says it ended inside a frame."""

    mid_frame: bool = False


Event = (
    Hello
    | Welcome
    | Publish
    | Published
    | Subscribe
    | Subscribed
    | Credit
    | Unsubscribe
    | Push
    | End
    | Poll
    | LongPoll
    | Batch
    | Error
    | Keepalive
    | Close
    | Cancel
)

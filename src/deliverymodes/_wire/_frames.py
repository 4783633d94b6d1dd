"""Frames of the wire protocol: their kinds, the events they carry, and their byte layout.

Every frame is ``length:u32 kind:u8 body``, big-endian, where ``length`` counts the kind byte and
the body. ``docs/wire-protocol.md`` describes every body; this module is the reference encoder and
decoder. Pure functions and values: no I/O.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

from .._exceptions import ProtocolError

__all__ = [
    "MAX_ERROR_TEXT",
    "MIN_FRAME_SIZE",
    "PROTOCOL_VERSION",
    "Batch",
    "Cancel",
    "Close",
    "Credit",
    "End",
    "EndReason",
    "Error",
    "ErrorCode",
    "Event",
    "FrameDecoder",
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
    "batch_flags",
    "encode",
    "encode_batch",
    "encode_push",
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


class ErrorCode(enum.IntEnum):
    """Stable error codes carried by ERROR frames."""

    MALFORMED_FRAME = 1  # a body that does not parse; the connection is closed
    FRAME_TOO_LARGE = 2  # a length beyond the receiver's limit; the connection is closed
    UNKNOWN_FRAME_KIND = 3  # a kind byte this version does not know; the connection is closed
    PROTOCOL_VIOLATION = 4  # a frame in the wrong direction or state; the connection is closed
    UNKNOWN_CHANNEL = 10
    UNSUPPORTED = 11  # the channel does not deliver in the mode asked for
    BAD_ARGUMENT = 12  # a cursor out of range, a threshold out of range…
    BAD_PAYLOAD = 13  # the codec could not decode the payload
    CHANNEL_CLOSED = 14
    TOO_MANY_SUBSCRIPTIONS = 15
    UNKNOWN_SUBSCRIPTION = 16
    TOO_MANY_REQUESTS = 17  # too many long polls waiting on this connection
    INTERNAL = 18  # the server failed to answer; the request may be retried
    MESSAGE_TOO_LARGE = 19  # the next message cannot fit in a frame the client accepts
    CANCELLED = 20  # withdrawn by the client's CANCEL


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


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_HEADER = struct.Struct(">IB")
_MESSAGE = struct.Struct(">QdII")
_POLL_TAIL = struct.Struct(">qQqq")  # cursor, epoch, max_messages, max_bytes
_BATCH = struct.Struct(">IQQQBB")  # request, epoch, cursor, missed, flags, reason
_CLOSED_FLAG, _MISSED_UNKNOWN_FLAG = 1, 2
_PUBLISHED = struct.Struct(">IQId")
_SUBSCRIBE_TAIL = struct.Struct(">IBI")
_END = struct.Struct(">IB")
_ERROR = struct.Struct(">IH")
_WELCOME = struct.Struct(">HI")
_PAIR = struct.Struct(">II")
_LONG_POLL_TAIL = struct.Struct(">qQqqqqq")  # cursor, epoch, then the five settings
_SUBSCRIBED = struct.Struct(">IIQQ")


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


# -- encoding --------------------------------------------------------------------------------------


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"text longer than 65535 bytes in UTF-8: {value[:40]!r}…")
    return _U16.pack(len(data)) + data


def _messages(messages: tuple[WireMessage, ...] | list[tuple[int, float, int, bytes]]) -> bytes:
    """The messages section: a count, every message's fixed header, then every payload.

    Headers first and payloads after (rather than interleaved) let a decoder read all the
    headers in one ``struct`` call.
    """
    pack = _MESSAGE.pack
    headers = [pack(offset, at, size, len(data)) for offset, at, size, data in messages]
    return b"".join([_U32.pack(len(messages)), *headers, *[m[3] for m in messages]])


def encode_push(subscription: int, messages: list[tuple[int, float, int, bytes]]) -> bytes:
    """A PUSH frame straight from ``(offset, published_at, size, data)`` tuples (the hot path)."""
    body = _messages(messages)
    return _HEADER.pack(len(body) + 5, Kind.PUSH) + _U32.pack(subscription) + body


def batch_flags(closed: bool, missed_unknown: bool) -> int:
    """The flags byte of a BATCH frame."""
    return (_CLOSED_FLAG if closed else 0) | (_MISSED_UNKNOWN_FLAG if missed_unknown else 0)


def encode_batch(
    head: tuple[int, int, int, int, int, int], messages: list[tuple[int, float, int, bytes]]
) -> bytes:
    """A BATCH frame from its ``(request, epoch, cursor, missed, flags, reason)`` and
    ``(offset, published_at, size, data)`` tuples, without event objects (the hot path)."""
    body = _BATCH.pack(*head) + _messages(messages)
    return _HEADER.pack(len(body) + 1, Kind.BATCH) + body


_ENCODERS: dict[type, Callable[[Any], tuple[Kind, bytes]]] = {
    Push: lambda e: (Kind.PUSH, _U32.pack(e.subscription) + _messages(e.messages)),
    Batch: lambda e: (
        Kind.BATCH,
        _BATCH.pack(
            e.request,
            e.epoch,
            e.cursor,
            e.missed,
            batch_flags(e.closed, e.missed_unknown),
            e.reason,
        )
        + _messages(e.messages),
    ),
    Publish: lambda e: (Kind.PUBLISH, _U32.pack(e.request) + _text(e.channel) + e.data),
    Published: lambda e: (
        Kind.PUBLISHED,
        _PUBLISHED.pack(e.request, e.offset, e.size, e.published_at),
    ),
    Credit: lambda e: (Kind.CREDIT, _PAIR.pack(e.subscription, e.messages)),
    Poll: lambda e: (
        Kind.POLL,
        _U32.pack(e.request)
        + _text(e.channel)
        + _POLL_TAIL.pack(e.cursor, e.epoch, e.max_messages, e.max_bytes),
    ),
    LongPoll: lambda e: (
        Kind.LONG_POLL,
        _U32.pack(e.request)
        + _text(e.channel)
        + _LONG_POLL_TAIL.pack(
            e.cursor,
            e.epoch,
            e.min_messages,
            e.min_bytes,
            e.max_wait_ms,
            e.max_messages,
            e.max_bytes,
        ),
    ),
    Subscribe: lambda e: (
        Kind.SUBSCRIBE,
        _PAIR.pack(e.request, e.subscription)
        + _text(e.channel)
        + _SUBSCRIBE_TAIL.pack(e.buffer_size, e.overflow, e.window),
    ),
    Subscribed: lambda e: (
        Kind.SUBSCRIBED,
        _SUBSCRIBED.pack(e.request, e.subscription, e.epoch, e.head),
    ),
    Unsubscribe: lambda e: (Kind.UNSUBSCRIBE, _U32.pack(e.subscription)),
    End: lambda e: (Kind.END, _END.pack(e.subscription, e.reason)),
    Error: lambda e: (Kind.ERROR, _ERROR.pack(e.request, e.code) + _text(e.message)),
    Hello: lambda e: (Kind.HELLO, _WELCOME.pack(e.version, e.max_frame_size)),
    Welcome: lambda e: (Kind.WELCOME, _WELCOME.pack(e.version, e.max_frame_size)),
    Keepalive: lambda e: (Kind.KEEPALIVE, b""),
    Close: lambda e: (Kind.CLOSE, b""),
    Cancel: lambda e: (Kind.CANCEL, _U32.pack(e.request)),
}


def encode(event: Event) -> bytes:
    """The bytes of one frame carrying ``event``.

    Raises ``ValueError`` for a field the layout cannot hold (a negative count, text over 64 KiB).
    """
    encoder = _ENCODERS.get(type(event))
    if encoder is None:
        raise TypeError(f"not a wire event: {event!r}")
    try:
        kind, body = encoder(event)
    except struct.error as error:
        raise ValueError(f"{type(event).__name__} has a field out of range: {error}") from None
    return _HEADER.pack(len(body) + 1, kind) + body


# -- decoding --------------------------------------------------------------------------------------


class _Reader:
    """Reads fields from one frame (its body starts after the kind byte); any shortfall is a
    MALFORMED_FRAME."""

    __slots__ = ("frame", "position")

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.position = 1

    def unpack(self, layout: struct.Struct) -> tuple[int | float, ...]:
        try:
            values = layout.unpack_from(self.frame, self.position)
        except struct.error:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame body is too short") from None
        self.position += layout.size
        return values

    def number(self, layout: struct.Struct) -> int:
        (value,) = self.unpack(layout)
        return int(value)

    def take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.frame):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame body is too short")
        data = self.frame[self.position : end]
        self.position = end
        return data

    def text(self) -> str:
        data = self.take(self.number(_U16))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "text is not UTF-8") from None

    def rest(self) -> bytes:
        return self.take(len(self.frame) - self.position)

    def messages(self) -> tuple[WireMessage, ...]:
        count = self.number(_U32)
        frame, position = self.frame, self.position
        headers_end = position + count * _MESSAGE.size
        if headers_end > len(frame):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"{count} messages cannot fit")
        make = tuple.__new__  # WireMessage(...) without its Python-level __new__ (hot path)
        messages: list[WireMessage] = []
        start = headers_end
        for offset, published_at, size, length in _MESSAGE.iter_unpack(frame[position:headers_end]):
            end = start + length
            messages.append(make(WireMessage, (offset, published_at, size, frame[start:end])))
            start = end
        if start > len(frame):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "payloads run past the frame")
        self.position = start
        return tuple(messages)

    def done(self) -> None:
        if self.position != len(self.frame):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "unexpected bytes after the frame body")


def _error(reader: _Reader) -> Error:
    request, code = _ints(reader, _ERROR)
    message = reader.text()
    try:
        return Error(request, ErrorCode(code), message)
    except ValueError:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"unknown error code {code}") from None


def _end(subscription: int, reason: int) -> End:
    try:
        return End(subscription, EndReason(reason))
    except ValueError:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"unknown end reason {reason}") from None


def _float(value: float) -> float:
    if math.isnan(value):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "a time field is NaN")
    return value


def _batch(reader: _Reader) -> Batch:
    request, epoch, cursor, missed, flags, reason = (int(v) for v in reader.unpack(_BATCH))
    if flags > _CLOSED_FLAG | _MISSED_UNKNOWN_FLAG or reason > 4:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "bad flags or release reason")
    closed, missed_unknown = bool(flags & _CLOSED_FLAG), bool(flags & _MISSED_UNKNOWN_FLAG)
    messages = reader.messages()
    return Batch(request, cursor, missed, closed, reason, messages, epoch, missed_unknown)


def _published(reader: _Reader) -> Published:
    request, offset, size, published_at = reader.unpack(_PUBLISHED)
    return Published(int(request), int(offset), int(size), _float(published_at))


def _poll(reader: _Reader) -> Poll:
    request, channel = reader.number(_U32), reader.text()
    cursor, epoch, max_messages, max_bytes = (int(v) for v in reader.unpack(_POLL_TAIL))
    return Poll(request, channel, cursor, max_messages, max_bytes, epoch)


def _long_poll(reader: _Reader) -> LongPoll:
    request, channel = reader.number(_U32), reader.text()
    cursor, epoch, min_messages, min_bytes, max_wait_ms, max_messages, max_bytes = (
        int(v) for v in reader.unpack(_LONG_POLL_TAIL)
    )
    return LongPoll(
        request,
        channel,
        cursor,
        min_messages,
        min_bytes,
        max_wait_ms,
        max_messages,
        max_bytes,
        epoch,
    )


def _subscribe(reader: _Reader) -> Subscribe:
    request, subscription = (int(v) for v in reader.unpack(_PAIR))
    channel = reader.text()
    buffer_size, overflow, window = (int(v) for v in reader.unpack(_SUBSCRIBE_TAIL))
    return Subscribe(request, subscription, channel, buffer_size, overflow, window)


def _ints(reader: _Reader, layout: struct.Struct) -> list[int]:
    return [int(value) for value in reader.unpack(layout)]


_DECODERS: dict[Kind, Callable[[_Reader], Event]] = {
    Kind.PUSH: lambda r: Push(r.number(_U32), r.messages()),
    Kind.BATCH: _batch,
    Kind.PUBLISH: lambda r: Publish(r.number(_U32), r.text(), r.rest()),
    Kind.PUBLISHED: _published,
    Kind.CREDIT: lambda r: Credit(*_ints(r, _PAIR)),
    Kind.POLL: _poll,
    Kind.LONG_POLL: _long_poll,
    Kind.SUBSCRIBE: _subscribe,
    Kind.SUBSCRIBED: lambda r: Subscribed(*_ints(r, _SUBSCRIBED)),
    Kind.UNSUBSCRIBE: lambda r: Unsubscribe(r.number(_U32)),
    Kind.END: lambda r: _end(*_ints(r, _END)),
    Kind.ERROR: _error,
    Kind.HELLO: lambda r: Hello(*_ints(r, _WELCOME)),
    Kind.WELCOME: lambda r: Welcome(*_ints(r, _WELCOME)),
    Kind.KEEPALIVE: lambda r: Keepalive(),
    Kind.CLOSE: lambda r: Close(),
    Kind.CANCEL: lambda r: Cancel(r.number(_U32)),
}


class FrameDecoder:
    """Bytes in, events out: buffers partial frames, checks sizes and kinds (h11 style).

    Call ``receive_data`` with whatever arrived, then ``next_event`` until it returns None.
    ``max_frame_size`` bounds what it will buffer for one frame (its length field), so a peer
    cannot make it hold more. Frames before a bad one are returned first; the bad one raises
    :class:`ProtocolError`, and so does every later call: the connection must close.
    """

    def __init__(self, max_frame_size: int) -> None:
        if max_frame_size < 1:
            raise ValueError(f"max_frame_size must be >= 1, got {max_frame_size}")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._position = 0
        self._broken: ProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        """Add bytes that arrived from the peer."""
        if self._position:
            del self._buffer[: self._position]
            self._position = 0
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next complete event, or None until more bytes arrive."""
        if self._broken is not None:
            raise self._broken
        buffer, position = self._buffer, self._position
        if len(buffer) - position < 4:
            return None
        try:
            length = self._frame_length(buffer, position)
            end = position + 4 + length
            if len(buffer) < end:
                return None
            self._position = end
            return _decode(bytes(buffer[position + 4 : end]))
        except ProtocolError as error:
            self._broken = error
            raise

    def _frame_length(self, buffer: bytearray, position: int) -> int:
        (length,) = _U32.unpack_from(buffer, position)
        if length > self.max_frame_size:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE,
                f"frame of {length} bytes exceeds the limit of {self.max_frame_size}",
            )
        if length == 0:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame without a kind byte")
        return int(length)

    @property
    def buffered(self) -> int:
        """Bytes held for frames not yet returned."""
        return len(self._buffer) - self._position


def _decode(frame: bytes) -> Event:
    try:
        kind = Kind(frame[0])
    except ValueError:
        raise ProtocolError(
            ErrorCode.UNKNOWN_FRAME_KIND, f"unknown frame kind 0x{frame[0]:02x}"
        ) from None
    reader = _Reader(frame)
    event = _DECODERS[kind](reader)
    reader.done()
    return event

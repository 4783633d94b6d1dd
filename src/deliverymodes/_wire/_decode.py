"""Bytes to events: a frame decoder that buffers partial frames and refuses broken ones."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from .._exceptions import ProtocolError
from ._events import (
    Batch,
    Cancel,
    Close,
    Credit,
    End,
    EndReason,
    Error,
    ErrorCode,
    Event,
    Hello,
    Keepalive,
    Kind,
    LongPoll,
    Poll,
    Publish,
    Published,
    Push,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Welcome,
    WireMessage,
)
from ._layout import (
    BATCH,
    CLOSED_FLAG,
    END,
    ERROR,
    LONG_POLL_TAIL,
    MESSAGE,
    MISSED_UNKNOWN_FLAG,
    PAIR,
    POLL_TAIL,
    PUBLISHED,
    SUBSCRIBE_TAIL,
    SUBSCRIBED,
    U16,
    U32,
    WELCOME,
)

__all__ = ["FrameDecoder"]


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
        data = self.take(self.number(U16))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "text is not UTF-8") from None

    def rest(self) -> bytes:
        return self.take(len(self.frame) - self.position)

    def messages(self) -> tuple[WireMessage, ...]:
        count = self.number(U32)
        frame, position = self.frame, self.position
        headers_end = position + count * MESSAGE.size
        if headers_end > len(frame):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"{count} messages cannot fit")
        make = tuple.__new__  # WireMessage(...) without its Python-level __new__ (hot path)
        messages: list[WireMessage] = []
        start = headers_end
        for offset, published_at, size, length in MESSAGE.iter_unpack(frame[position:headers_end]):
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
    request, code = _ints(reader, ERROR)
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
    request, epoch, cursor, missed, flags, reason = (int(v) for v in reader.unpack(BATCH))
    if flags > CLOSED_FLAG | MISSED_UNKNOWN_FLAG or reason > 4:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "bad flags or release reason")
    closed, missed_unknown = bool(flags & CLOSED_FLAG), bool(flags & MISSED_UNKNOWN_FLAG)
    messages = reader.messages()
    return Batch(request, cursor, missed, closed, reason, messages, epoch, missed_unknown)


def _published(reader: _Reader) -> Published:
    request, offset, size, published_at = reader.unpack(PUBLISHED)
    return Published(int(request), int(offset), int(size), _float(published_at))


def _poll(reader: _Reader) -> Poll:
    request, channel = reader.number(U32), reader.text()
    cursor, epoch, max_messages, max_bytes = (int(v) for v in reader.unpack(POLL_TAIL))
    return Poll(request, channel, cursor, max_messages, max_bytes, epoch)


def _long_poll(reader: _Reader) -> LongPoll:
    request, channel = reader.number(U32), reader.text()
    cursor, epoch, min_messages, min_bytes, max_wait_ms, max_messages, max_bytes = (
        int(v) for v in reader.unpack(LONG_POLL_TAIL)
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
    request, subscription = (int(v) for v in reader.unpack(PAIR))
    channel = reader.text()
    buffer_size, overflow, window = (int(v) for v in reader.unpack(SUBSCRIBE_TAIL))
    return Subscribe(request, subscription, channel, buffer_size, overflow, window)


def _ints(reader: _Reader, layout: struct.Struct) -> list[int]:
    return [int(value) for value in reader.unpack(layout)]


_DECODERS: dict[Kind, Callable[[_Reader], Event]] = {
    Kind.PUSH: lambda r: Push(r.number(U32), r.messages()),
    Kind.BATCH: _batch,
    Kind.PUBLISH: lambda r: Publish(r.number(U32), r.text(), r.rest()),
    Kind.PUBLISHED: _published,
    Kind.CREDIT: lambda r: Credit(*_ints(r, PAIR)),
    Kind.POLL: _poll,
    Kind.LONG_POLL: _long_poll,
    Kind.SUBSCRIBE: _subscribe,
    Kind.SUBSCRIBED: lambda r: Subscribed(*_ints(r, SUBSCRIBED)),
    Kind.UNSUBSCRIBE: lambda r: Unsubscribe(r.number(U32)),
    Kind.END: lambda r: _end(*_ints(r, END)),
    Kind.ERROR: _error,
    Kind.HELLO: lambda r: Hello(*_ints(r, WELCOME)),
    Kind.WELCOME: lambda r: Welcome(*_ints(r, WELCOME)),
    Kind.KEEPALIVE: lambda r: Keepalive(),
    Kind.CLOSE: lambda r: Close(),
    Kind.CANCEL: lambda r: Cancel(r.number(U32)),
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
        (length,) = U32.unpack_from(buffer, position)
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

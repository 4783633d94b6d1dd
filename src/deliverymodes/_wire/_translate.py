"""Core values ↔ wire values, both directions: the one place each mapping is written.

The server reads requests with the ``*_from_wire`` functions and writes answers with the others;
the client does the reverse with the same tables. What the server refuses is raised as
:class:`RequestRefused` with the wire error code to answer; what the client is told by an ERROR or
END frame becomes the exception a local channel would raise (:func:`error_for`,
:func:`end_error`). Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core import (
    EARLIEST,
    LATEST,
    MAX_EPOCH,
    UNSET,
    Batch,
    Message,
    Overflow,
    Release,
    Start,
    check_epoch,
    check_optional_count,
    make_message,
)
from .._exceptions import (
    ChannelClosed,
    ConnectionLost,
    DeliveryError,
    ErrorCode,
    ProtocolError,
    RemoteError,
    SlowConsumer,
)
from ._events import DEFAULT, EARLIEST_CURSOR, LATEST_CURSOR, NO_LIMIT, EndReason, WireMessage
from ._events import Batch as WireBatch

__all__ = [
    "BAD_ARGUMENTS",
    "BAD_PAYLOADS",
    "UNREACHABLE",
    "Refusals",
    "RequestRefused",
    "batch_from_wire",
    "cursor_from_wire",
    "end_error",
    "end_reason",
    "epoch_from_wire",
    "error_for",
    "messages_from_wire",
    "overflow_code",
    "overflow_from_wire",
    "release_code",
    "release_from_wire",
    "setting_from_wire",
    "wire_cursor",
    "wire_epoch",
    "wire_setting",
]


class RequestRefused(Exception):
    """A request the server answers with an ERROR frame (``code``, text); the connection goes on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Refusals:
    """Around the work on a channel for one request: what the channel raises becomes the
    :class:`RequestRefused` answering it (a closed channel ``CHANNEL_CLOSED``, a bad value
    ``invalid``); anything else goes on as it is."""

    __slots__ = ("invalid",)

    def __init__(self, invalid: ErrorCode) -> None:
        self.invalid = invalid

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, ChannelClosed):
            raise RequestRefused(ErrorCode.CHANNEL_CLOSED, "the channel is closed") from None
        if isinstance(error, (TypeError, ValueError)):
            raise RequestRefused(self.invalid, str(error)) from None


#: For a request whose values the channel checks (a poll's cursor, a long poll's thresholds).
BAD_ARGUMENTS = Refusals(ErrorCode.BAD_ARGUMENT)
#: For a publish, whose payload the channel checks.
BAD_PAYLOADS = Refusals(ErrorCode.BAD_PAYLOAD)


class _Unreachable:
    """Around a channel's own call only (never the connection's I/O, whose ``ConnectionLost``
    ends the connection): a channel that cannot reach where it is kept (a Redis channel while
    Redis is unreachable) refuses that request with ``INTERNAL``; the connection goes on."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, ConnectionLost):
            raise RequestRefused(
                ErrorCode.INTERNAL, f"the channel cannot answer now: {error}"
            ) from None


UNREACHABLE = _Unreachable()


# -- overflow policies: SUBSCRIBE's overflow byte (0: the channel's) -------------------------------

_OVERFLOW_CODES = {
    Overflow.BLOCK: 1,
    Overflow.DROP_OLDEST: 2,
    Overflow.DROP_NEWEST: 3,
    Overflow.DISCONNECT: 4,
}
_OVERFLOWS = {code: overflow for overflow, code in _OVERFLOW_CODES.items()}


def overflow_code(overflow: Overflow | None) -> int:
    """SUBSCRIBE's overflow byte for ``overflow`` (None: the channel's own, 0)."""
    return 0 if overflow is None else _OVERFLOW_CODES[overflow]


def overflow_from_wire(code: int) -> Overflow | None:
    """The policy SUBSCRIBE's overflow byte asks for (None: the channel's own)."""
    if code == 0:
        return None
    overflow = _OVERFLOWS.get(code)
    if overflow is None:
        raise RequestRefused(ErrorCode.BAD_ARGUMENT, f"unknown overflow {code}")
    return overflow


# -- release reasons: BATCH's reason byte (0: a plain poll) ---------------------------------------

_RELEASE_CODES = {
    Release.MIN_MESSAGES: 1,
    Release.MIN_BYTES: 2,
    Release.MAX_WAIT: 3,
    Release.CLOSED: 4,
}
_RELEASES = {code: release for release, code in _RELEASE_CODES.items()}


def release_code(reason: Release | None) -> int:
    """BATCH's reason byte for ``reason`` (None, a plain poll: 0)."""
    return 0 if reason is None else _RELEASE_CODES[reason]


def release_from_wire(code: int) -> Release | None:
    """The release reason BATCH's reason byte stands for (0: None)."""
    return _RELEASES.get(code)


# -- cursors, epochs and settings ------------------------------------------------------------------


def wire_cursor(cursor: int | Start, name: str = "cursor") -> int:
    """A cursor field for ``cursor`` (an offset, EARLIEST or LATEST); raises for anything else."""
    if cursor is EARLIEST:
        return EARLIEST_CURSOR
    if cursor is LATEST:
        return LATEST_CURSOR
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        kind = type(cursor).__name__
        raise TypeError(f"{name} must be an int, EARLIEST or LATEST, not {kind}")
    if cursor < 0:
        raise ValueError(f"{name} must be >= 0, got {cursor}")
    return cursor


def cursor_from_wire(value: int) -> int | Start:
    """The cursor a cursor field stands for."""
    if value == EARLIEST_CURSOR:
        return EARLIEST
    if value == LATEST_CURSOR:
        return LATEST
    if value < 0:
        message = f"cursor must be an offset >= 0, -1 (EARLIEST) or -2 (LATEST), got {value}"
        raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
    return value


def wire_epoch(epoch: int | None) -> int:
    """An epoch field: 0 for none."""
    return 0 if epoch is None else check_epoch("epoch", epoch)


def epoch_from_wire(value: int) -> int | None:
    """The epoch an epoch field stands for (0: none)."""
    if value > MAX_EPOCH:
        message = f"epoch must be <= {MAX_EPOCH} (2**53 - 1), got {value}"
        raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
    return value or None


def wire_setting(name: str, value: object, *, minimum: int) -> int:
    """A setting field: -1 (DEFAULT) for ``UNSET``, -2 (NO_LIMIT) for None, else the count."""
    if value is UNSET:
        return DEFAULT
    checked = check_optional_count(name, value, minimum=minimum)
    return NO_LIMIT if checked is None else checked


def setting_from_wire(
    name: str, value: int, default: object, *, minimum: int = 1, no_limit: bool = True
) -> Any:
    """A setting field's value: ``default`` for -1, None ("no limit") for -2 where allowed."""
    if value == DEFAULT:
        return default
    if value == NO_LIMIT and no_limit:
        return None
    if value < minimum:
        allowed = f">= {minimum}, -1 (the default)" + (" or -2 (no limit)" if no_limit else "")
        raise RequestRefused(ErrorCode.BAD_ARGUMENT, f"{name} must be {allowed}, got {value}")
    return value


# -- messages and batches --------------------------------------------------------------------------


def messages_from_wire(
    messages: tuple[WireMessage, ...], decode: Callable[[bytes], Any]
) -> tuple[Message[Any], ...]:
    """The messages of a PUSH or BATCH, their payloads decoded by ``decode`` (a codec's)."""
    try:
        return tuple(
            [make_message(offset, decode(data), size, at) for offset, at, size, data in messages]
        )
    except ValueError as error:
        raise ProtocolError(ErrorCode.BAD_PAYLOAD, f"cannot decode a payload: {error}") from None


def batch_from_wire(batch: WireBatch, decode: Callable[[bytes], Any]) -> Batch[Any]:
    """The batch a BATCH frame carries."""
    return Batch(
        messages_from_wire(batch.messages, decode),
        batch.cursor,
        batch.missed,
        batch.closed,
        release_from_wire(batch.reason),
        batch.epoch,
        batch.missed_unknown,
    )


# -- errors and ends -------------------------------------------------------------------------------


def error_for(code: ErrorCode, message: str) -> DeliveryError | ValueError:
    """The exception a local channel would raise for the refusal an ERROR frame carries."""
    if code is ErrorCode.CHANNEL_CLOSED:
        return ChannelClosed(message)
    if code is ErrorCode.BAD_ARGUMENT:
        return ValueError(message)
    return RemoteError(code, message)


def end_reason(error: BaseException) -> EndReason | None:
    """Why a subscription ends, for what its server-side subscriber raised (None: not an end)."""
    if isinstance(error, ChannelClosed):
        return EndReason.CHANNEL_CLOSED
    if isinstance(error, SlowConsumer):
        return EndReason.SLOW_CONSUMER
    return None


def end_error(reason: EndReason) -> DeliveryError:
    """What a remote push subscriber raises once it read everything before an END."""
    if reason is EndReason.SLOW_CONSUMER:
        return SlowConsumer("disconnected by the server: its buffer overflowed")
    if reason is EndReason.MESSAGE_TOO_LARGE:
        return RemoteError(
            ErrorCode.MESSAGE_TOO_LARGE,
            "the next message is larger than this connection's max_frame_size allows",
        )
    if reason is EndReason.CHANNEL_CLOSED:
        return ChannelClosed("the channel is closed")
    return ChannelClosed("this subscription is closed")

"""Events to bytes: the reference encoder of every frame, and two hot-path shortcuts."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ._events import (
    Batch,
    Cancel,
    Close,
    Credit,
    End,
    Error,
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
    HEADER,
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

__all__ = ["batch_flags", "encode", "encode_batch", "encode_push"]


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"text longer than 65535 bytes in UTF-8: {value[:40]!r}…")
    return U16.pack(len(data)) + data


def _messages(messages: tuple[WireMessage, ...] | list[tuple[int, float, int, bytes]]) -> bytes:
    """The messages section: a count, every message's fixed header, then every payload.

    Headers first and payloads after (rather than interleaved) let a decoder read all the
    headers in one ``struct`` call.
    """
    pack = MESSAGE.pack
    headers = [pack(offset, at, size, len(data)) for offset, at, size, data in messages]
    return b"".join([U32.pack(len(messages)), *headers, *[m[3] for m in messages]])


def encode_push(subscription: int, messages: list[tuple[int, float, int, bytes]]) -> bytes:
    """A PUSH frame straight from ``(offset, published_at, size, data)`` tuples (the hot path)."""
    body = _messages(messages)
    return HEADER.pack(len(body) + 5, Kind.PUSH) + U32.pack(subscription) + body


def batch_flags(closed: bool, missed_unknown: bool) -> int:
    """The flags byte of a BATCH frame."""
    return (CLOSED_FLAG if closed else 0) | (MISSED_UNKNOWN_FLAG if missed_unknown else 0)


def encode_batch(
    head: tuple[int, int, int, int, int, int], messages: list[tuple[int, float, int, bytes]]
) -> bytes:
    """A BATCH frame from its ``(request, epoch, cursor, missed, flags, reason)`` and
    ``(offset, published_at, size, data)`` tuples, without event objects (the hot path)."""
    body = BATCH.pack(*head) + _messages(messages)
    return HEADER.pack(len(body) + 1, Kind.BATCH) + body


_ENCODERS: dict[type, Callable[[Any], tuple[Kind, bytes]]] = {
    Push: lambda e: (Kind.PUSH, U32.pack(e.subscription) + _messages(e.messages)),
    Batch: lambda e: (
        Kind.BATCH,
        BATCH.pack(
            e.request,
            e.epoch,
            e.cursor,
            e.missed,
            batch_flags(e.closed, e.missed_unknown),
            e.reason,
        )
        + _messages(e.messages),
    ),
    Publish: lambda e: (Kind.PUBLISH, U32.pack(e.request) + _text(e.channel) + e.data),
    Published: lambda e: (
        Kind.PUBLISHED,
        PUBLISHED.pack(e.request, e.offset, e.size, e.published_at),
    ),
    Credit: lambda e: (Kind.CREDIT, PAIR.pack(e.subscription, e.messages)),
    Poll: lambda e: (
        Kind.POLL,
        U32.pack(e.request)
        + _text(e.channel)
        + POLL_TAIL.pack(e.cursor, e.epoch, e.max_messages, e.max_bytes),
    ),
    LongPoll: lambda e: (
        Kind.LONG_POLL,
        U32.pack(e.request)
        + _text(e.channel)
        + LONG_POLL_TAIL.pack(
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
        PAIR.pack(e.request, e.subscription)
        + _text(e.channel)
        + SUBSCRIBE_TAIL.pack(e.buffer_size, e.overflow, e.window),
    ),
    Subscribed: lambda e: (
        Kind.SUBSCRIBED,
        SUBSCRIBED.pack(e.request, e.subscription, e.epoch, e.head),
    ),
    Unsubscribe: lambda e: (Kind.UNSUBSCRIBE, U32.pack(e.subscription)),
    End: lambda e: (Kind.END, END.pack(e.subscription, e.reason)),
    Error: lambda e: (Kind.ERROR, ERROR.pack(e.request, e.code) + _text(e.message)),
    Hello: lambda e: (Kind.HELLO, WELCOME.pack(e.version, e.max_frame_size)),
    Welcome: lambda e: (Kind.WELCOME, WELCOME.pack(e.version, e.max_frame_size)),
    Keepalive: lambda e: (Kind.KEEPALIVE, b""),
    Close: lambda e: (Kind.CLOSE, b""),
    Cancel: lambda e: (Kind.CANCEL, U32.pack(e.request)),
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
    return HEADER.pack(len(body) + 1, kind) + body

"""Encoded payloads for a server's frames: shared among connections, and cut to fit a frame."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from .._core import Message
from .._wire import Codec, ErrorCode
from .._wire._translate import RequestRefused

__all__ = ["BATCH_HEAD", "ENTRY", "PUSH_HEAD", "Fitter", "PayloadCache", "TooLarge", "check_codec"]

# Bytes of a frame's length field's count before its messages: the kind byte, the frame's own
# fields and the message count; and bytes of each message's header.
BATCH_HEAD = 1 + 22 + 4
PUSH_HEAD = 1 + 4 + 4
ENTRY = 24
_DATA = itemgetter(3)


def check_codec(codec: object) -> Codec[Any]:
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must have encode() and decode(), not {type(codec).__name__}")
    return codec


class PayloadCache:
    """Encoded payloads of recent messages, shared by a server's connections, so that fan-out
    to many remote readers encodes each message once. With one connection it only encodes."""

    def __init__(self, codec: Codec[Any], size: int = 4096) -> None:
        self._codec = codec
        self._size = size
        self._entries: dict[int, tuple[Message[Any], bytes]] = {}
        self.connections = 0

    def wire_messages(
        self, messages: tuple[Message[Any], ...]
    ) -> list[tuple[int, float, int, bytes]]:
        """``(offset, published_at, size, encoded payload)`` for each of ``messages``."""
        if self.connections < 2:
            encode = self._codec.encode
            return [(m.offset, m.published_at, m.size, encode(m.payload)) for m in messages]
        encoded = self.encoded
        return [(m.offset, m.published_at, m.size, encoded(m)) for m in messages]

    def encoded(self, message: Message[Any]) -> bytes:
        if self.connections < 2:
            return self._codec.encode(message.payload)
        entry = self._entries.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        data = self._codec.encode(message.payload)
        if len(self._entries) >= self._size:
            self._entries.clear()  # cheaper than keeping an order; recent ones come back soon
        self._entries[id(message)] = (message, data)
        return data


class TooLarge(RequestRefused):
    def __init__(self, offset: int, needed: int, limit: int) -> None:
        super().__init__(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"the message at offset {offset} needs a frame of {needed} bytes, over the {limit} "
            f"this connection accepts; ask from offset {offset + 1} to skip it",
        )


class Fitter:
    """Encodes the messages of a batch and keeps as many as fit in one frame the client accepts
    (a channel calls it before it counts the batch); ``wire`` holds the encoded ones."""

    __slots__ = ("_budget", "_cache", "_limit", "wire")

    def __init__(self, cache: PayloadCache, limit: int) -> None:
        self._cache = cache
        self._limit = limit
        self._budget = limit - BATCH_HEAD
        self.wire: list[tuple[int, float, int, bytes]] = []

    def __call__(self, messages: tuple[Message[Any], ...]) -> int:
        try:
            wire = self._cache.wire_messages(messages)
        except Exception:
            wire = self._encode_one_by_one(messages)  # to name the message that failed
        total = ENTRY * len(wire) + sum(map(len, map(_DATA, wire)))
        if total > self._budget:  # rare: keep the first ones that fit
            total = 0
            for count, entry in enumerate(wire):
                total += ENTRY + len(entry[3])
                if total > self._budget:
                    if not count:
                        raise TooLarge(entry[0], BATCH_HEAD + total, self._limit)
                    wire = wire[:count]
                    break
        self.wire = wire
        return len(wire)

    def _encode_one_by_one(
        self, messages: tuple[Message[Any], ...]
    ) -> list[tuple[int, float, int, bytes]]:
        for message in messages:
            try:
                self._cache.encoded(message)
            except Exception as error:
                raise RequestRefused(
                    ErrorCode.INTERNAL,
                    f"the server cannot encode the message at offset {message.offset}: {error}",
                ) from None
        return self._cache.wire_messages(messages)

"""Codecs: how payloads become bytes on the wire and back. JSON by default; never pickle."""

from __future__ import annotations

import json
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["BytesCodec", "Codec", "JsonCodec"]

T = TypeVar("T")


@runtime_checkable
class Codec(Protocol[T]):
    """Turns payloads into bytes and back (msgpack, orjson, protobuf… plug in here).

    ``decode`` raises ``ValueError`` (or a subclass) for bytes it cannot decode; the server answers
    such a publish with a ``BAD_PAYLOAD`` error instead of publishing it.
    """

    def encode(self, payload: T) -> bytes:
        """The bytes that carry ``payload``."""
        ...

    def decode(self, data: bytes) -> T:
        """The payload ``data`` carries; ``ValueError`` if it carries none."""
        ...


class JsonCodec:
    """Compact JSON in UTF-8: anything ``json`` can encode. The default codec."""

    def encode(self, payload: Any) -> bytes:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)  # JSONDecodeError and UnicodeDecodeError are ValueErrors

    def __repr__(self) -> str:
        return "JsonCodec()"


class BytesCodec:
    """Raw bytes: payloads are bytes-like and travel as they are."""

    def encode(self, payload: bytes | bytearray | memoryview) -> bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"BytesCodec encodes bytes-like payloads, not {type(payload).__name__}")
        return bytes(payload)

    def decode(self, data: bytes) -> bytes:
        return data

    def __repr__(self) -> str:
        return "BytesCodec()"

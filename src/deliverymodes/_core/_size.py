"""Measuring payloads in bytes."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["default_sizer", "measure"]

# Made once: json.dumps with options builds a new encoder per call, on every publish.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def default_sizer(payload: Any) -> int:
    """Size of ``payload`` in bytes.

    Exact for bytes-like payloads (their length in bytes) and ``str`` (its UTF-8 length). Any other
    payload is measured as its compact JSON encoding in UTF-8, which is what the default JSON codec
    puts on the wire; a payload JSON cannot encode is measured by the UTF-8 length of its ``repr``.
    """
    kind = type(payload)
    if kind is bytes or kind is bytearray:
        return len(payload)
    if kind is str:
        return len(payload) if payload.isascii() else len(payload.encode("utf-8"))
    if isinstance(payload, (bytes, bytearray)):
        return len(payload)
    if isinstance(payload, str):
        return len(payload.encode("utf-8"))
    if isinstance(payload, memoryview):
        return payload.nbytes
    try:
        text = _COMPACT.encode(payload)
    except (TypeError, ValueError):
        text = repr(payload)
    return len(text.encode("utf-8"))


def measure(sizer: Any, payload: Any) -> int:
    """Call ``sizer`` and check that it gave a usable size, naming it in the error if not."""
    size = sizer(payload)
    if type(size) is int and size >= 0:
        return size
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"sizer must return an int, returned {type(size).__name__}")
    if size < 0:
        raise ValueError(f"sizer must return a size >= 0, returned {size}")
    return int(size)

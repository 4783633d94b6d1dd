"""What the HTTP clients send and read: cursors as query parameters, the JSON answers of an
``HttpApp`` (messages, batches) read strictly, so that garbage raises ``ProtocolError``, and
httpx's transport errors, raised as ``ConnectionLost`` (needs ``httpx``)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from .._core import EARLIEST, LATEST, Batch, Message, Release, Start, make_message
from .._exceptions import ConnectionLost, ProtocolError
from .._wire import ErrorCode, load_json

__all__ = [
    "batch",
    "checked",
    "cursor_parameter",
    "field",
    "json_object",
    "message",
    "parsed",
    "transport_errors",
]

T = TypeVar("T")


def cursor_parameter(cursor: int | Start) -> str:
    """``cursor`` as the ``cursor`` query parameter."""
    if cursor is EARLIEST:
        return "earliest"
    if cursor is LATEST:
        return "latest"
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        raise ValueError(f"cursor must be an offset >= 0, EARLIEST or LATEST, not {cursor!r}")
    return str(cursor)


def field(data: object, name: str, kind: type | tuple[type, ...]) -> Any:
    """``data[name]``, checked to be a ``kind``; ValueError for anything else."""
    if not isinstance(data, dict) or name not in data:
        raise ValueError(f"no {name!r} field")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{name!r} is {type(value).__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{name!r} is negative")
    return value


def message(data: object) -> Message[Any]:
    """A message of a batch or an event (a bytes payload comes as base64)."""
    payload = field(data, "payload", object)
    if isinstance(data, dict) and data.get("encoding") == "base64":
        payload = base64.b64decode(field(data, "payload", str), validate=True)
    return make_message(
        field(data, "offset", int),
        payload,
        field(data, "size", int),
        float(field(data, "published_at", (int, float))),
    )


def batch(data: object) -> Batch[Any]:
    """The answer to a poll or a long poll."""
    reason = data.get("reason") if isinstance(data, dict) else None
    messages = field(data, "messages", list)
    return Batch(
        tuple(message(m) for m in messages),
        field(data, "cursor", int),
        field(data, "missed", int),
        field(data, "closed", bool),
        None if reason is None else Release(reason),
        field(data, "epoch", int),
        field(data, "missed_unknown", bool),
    )


def checked(what: str, read: Callable[[], T]) -> T:
    """``read()``; if the server sent garbage, ProtocolError (never a bare KeyError)."""
    try:
        return read()
    except (ValueError, TypeError) as error:  # binascii.Error is a ValueError
        text = f"the server sent {what} that cannot be read: {error}"
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, text) from None


def parsed(what: str, parse: Callable[[Any], T], data: bytes | str) -> T:
    """``parse`` of the JSON ``data``, checked as by :func:`checked`."""
    return checked(what, lambda: parse(load_json(data)))


def json_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object; TypeError otherwise."""
    if not isinstance(value, dict):
        raise TypeError("not a JSON object")
    return value


@contextmanager
def transport_errors() -> Iterator[None]:
    """Raise ``ConnectionLost`` for a request that could not reach the server or was cut."""
    try:
        yield
    except httpx.TransportError as error:
        raise ConnectionLost(f"HTTP request failed: {error!r}") from error

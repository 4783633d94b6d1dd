"""An HTTP request: its query parameters and headers read strictly, its errors, racing what it
does against the client's disconnect, and its JSON answer."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio

from .._core import EARLIEST, LATEST, MAX_EPOCH, UNSET, Start, Unset
from ._fragments import dumps

__all__ = [
    "HttpError",
    "Receive",
    "Scope",
    "Send",
    "cap",
    "count",
    "cursor",
    "disconnected",
    "epoch",
    "header",
    "last_event_id",
    "parameters",
    "respond",
    "respond_bytes",
    "seconds",
    "threshold",
    "unless_disconnected",
]

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: no sign, space, '_' or other scripts
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NO_LIMIT = -1  # what ``count`` returns for "none"
_JSON = [(b"content-type", b"application/json")]
#: The parameters that take ``none``: no limit (the caps, the wait) or no threshold (bytes).
_NONE_ALLOWED = frozenset({"max_messages", "max_bytes", "min_bytes", "wait"})


class HttpError(Exception):
    """A request refused with ``status`` and a JSON body ``{"error": message}``."""

    def __init__(
        self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parameters(scope: Scope, allowed: frozenset[str]) -> dict[str, str]:
    """The query parameters, each at most once and each among ``allowed``."""
    query = scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True)
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise HttpError(400, f"unknown parameter {_shown(name)}")
        if name in found:
            raise HttpError(400, f"parameter {name!r} is given twice")
        found[name] = value
    return found


def count(params: dict[str, str], name: str, minimum: int) -> int | None:
    """An integer parameter of at least ``minimum`` (``none`` for the caps and ``min_bytes``:
    -1), or None."""
    text = params.get(name)
    if text is None:
        return None
    if text == "none" and name in _NONE_ALLOWED:
        return _NO_LIMIT
    if not _DIGITS.fullmatch(text):
        raise HttpError(400, f"{name} must be an integer >= {minimum}, got {_shown(text)}")
    value = int(text)
    if value < minimum:
        raise HttpError(400, f"{name} must be >= {minimum}, got {value}")
    return value


def cap(value: int | None, default: int) -> int | None:
    """A batch cap from ``count``: the default if absent, None (no cap) for ``none``."""
    if value is None:
        return default
    return None if value == _NO_LIMIT else value


def threshold(value: int | None) -> int | Unset | None:
    """A long-poll threshold from ``count``: UNSET (the channel's) if absent, None for ``none``."""
    if value is None:
        return UNSET
    return None if value == _NO_LIMIT else value


def cursor(text: str | None, name: str = "cursor") -> int | Start | None:
    """A cursor: an offset, ``earliest`` or ``latest``; None if absent."""
    if text is None:
        return None
    if text in ("earliest", "latest"):
        return EARLIEST if text == "earliest" else LATEST
    if not _DIGITS.fullmatch(text):
        raise HttpError(
            400, f"{name} must be an offset, 'earliest' or 'latest', got {_shown(text)}"
        )
    return int(text)


def epoch(text: str | None, name: str = "epoch") -> int | None:
    """An epoch (a channel's life: 1 … 2**53 - 1), or None if absent."""
    if text is None:
        return None
    value = int(text) if _DIGITS.fullmatch(text) else 0
    if not 1 <= value <= MAX_EPOCH:
        message = f"{name} must be a whole number from 1 to {MAX_EPOCH}, got {_shown(text)}"
        raise HttpError(400, message)
    return value


def last_event_id(text: str) -> tuple[int, int | None]:
    """Where a stream resumes after ``Last-Event-ID`` (``epoch:offset`` as the server sent it,
    or a bare offset of the current life), and the epoch it names."""
    epoch_text, colon, offset_text = text.rpartition(":")
    if colon and (not epoch_text or ":" in epoch_text):
        raise HttpError(400, f"Last-Event-ID must be epoch:offset or an offset, got {_shown(text)}")
    life = epoch(epoch_text, "the epoch of Last-Event-ID") if colon else None
    if offset_text == "-1":  # the ready event's id for a stream that starts at offset 0
        return 0, life
    if not _DIGITS.fullmatch(offset_text):
        raise HttpError(400, f"Last-Event-ID must be epoch:offset or an offset, got {_shown(text)}")
    return int(offset_text) + 1, life


def seconds(params: dict[str, str], name: str) -> float | None:
    """A finite, non-negative number of seconds (``none``: infinity); None if absent."""
    text = params.get(name)
    if text is None:
        return None
    if text == "none" and name in _NONE_ALLOWED:
        return math.inf
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise HttpError(400, f"{name} must be a number of seconds >= 0, got {_shown(text)}")
    return value


def header(scope: Scope, name: bytes) -> str | None:
    """The value of header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def disconnected(receive: Receive) -> None:
    """Return when the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T | None:
    """``await work`` unless the client disconnects first (then None, with ``work`` cancelled).

    An exception from ``work`` propagates as it is, not in an exception group.
    """
    result: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await disconnected(receive)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            result.append(await work)
        except Exception as error:
            failure.append(error)
        tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return result[0] if result else None


async def respond(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``body`` as JSON."""
    await respond_bytes(send, status, dumps(body).encode("utf-8"), headers)


async def respond_bytes(
    send: Send, status: int, data: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``data``, JSON already."""
    all_headers = [*_JSON, (b"content-length", str(len(data)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})

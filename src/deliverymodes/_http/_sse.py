"""Server-Sent Events as plain functions: formatting events and parsing a stream (no I/O).

The format is the HTML Living Standard's ``text/event-stream``: lines of ``field: value``, an
empty line ending each event, lines starting with ``:`` being comments.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["ServerSentEvent", "SseParser", "format_comment", "format_event", "format_retry"]

_LINE_BREAK = re.compile("\r\n|\r|\n")  # the three line endings the format knows


@attrs.frozen
class ServerSentEvent:
    """One dispatched event: ``event`` type ("message" unless named), ``data``, last ``id``."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def _field(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} cannot contain a line break")
    return f"{name}: {value}\n"


def format_event(
    data: str, *, event: str | None = None, id: str | None = None, retry: float | None = None
) -> bytes:
    """The bytes of one event. ``data`` may span lines (CR, LF or CRLF); ``retry`` in seconds."""
    parts = []
    if retry is not None:
        parts.append(f"retry: {round(retry * 1000)}\n")
    if id is not None:
        parts.append(_field("id", id))
    if event is not None:
        parts.append(_field("event", event))
    parts.extend(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def format_retry(seconds: float) -> bytes:
    """A ``retry:`` field alone: how long a client waits before it reconnects (no event)."""
    return f"retry: {round(seconds * 1000)}\n\n".encode()


def format_comment(text: str = "") -> bytes:
    """A comment line: ignored by clients, it keeps proxies from closing an idle stream."""
    return f": {text}\n\n".encode() if text else b":\n\n"


#: The largest event (or line) an :class:`SseParser` holds by default: 16 MiB.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024


class SseParser:
    """Bytes of an event stream in, dispatched events out, as the HTML standard describes.

    ``max_event_size`` bounds what it holds for one event: a stream whose line or event grows
    past it makes ``feed`` raise ``ValueError``, so a peer cannot make it hold more.
    """

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if not isinstance(max_event_size, int) or max_event_size < 1:
            raise ValueError(f"max_event_size must be an int >= 1, got {max_event_size!r}")
        self.max_event_size = max_event_size
        self._size = 0  # bytes of the event being gathered
        self._pending = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._first = True

    @property
    def last_event_id(self) -> str | None:
        """The last event ID seen (what a client sends back as ``Last-Event-ID``)."""
        return self._id

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; returns the events they complete."""
        buffer = self._pending + data
        events: list[ServerSentEvent] = []
        start = 0
        while True:
            ends = [i for i in (buffer.find(b"\r", start), buffer.find(b"\n", start)) if i >= 0]
            if not ends:
                break
            end = min(ends)
            if buffer[end : end + 1] == b"\r":
                if end + 1 == len(buffer):
                    break  # a CR at the very end may be half of CRLF: wait for more
                following = end + 2 if buffer[end + 1 : end + 2] == b"\n" else end + 1
            else:
                following = end + 1
            self._size += end - start
            if self._size > self.max_event_size:
                raise ValueError(f"an event of more than {self.max_event_size} bytes")
            line = buffer[start:end].decode("utf-8", errors="replace")
            if self._first:
                line = line.removeprefix("\ufeff")
                self._first = False
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = following
        self._pending = buffer[start:]
        if len(self._pending) + self._size > self.max_event_size:
            raise ValueError(f"an event of more than {self.max_event_size} bytes")
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._size = [], "", 0
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or "message", self._id, self._retry)

"""JSON and Server-Sent Events text of messages and batches, shared by every request."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from .._core import Batch, Message
from ._sse import format_event

__all__ = ["Fragments", "dumps", "gap_json", "message_json"]


def _json_payload(payload: object) -> dict[str, object]:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return {"payload": base64.b64encode(payload).decode("ascii"), "encoding": "base64"}
    return {"payload": payload}


def message_json(message: Message[Any], epoch: int) -> dict[str, object]:
    """A message as the HTTP adapter writes it (bytes payloads in base64, said so), with the
    epoch of its channel's life."""
    return {
        "offset": message.offset,
        "epoch": epoch,
        **_json_payload(message.payload),
        "size": message.size,
        "published_at": message.published_at,
    }


# Made once: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=repr)


def dumps(value: object) -> str:
    return _ENCODER.encode(value)


class Fragments:
    """JSON and SSE text of recent messages and batches, shared by every request and stream: a
    message read by a hundred clients is encoded once, and so is a batch they all receive."""

    def __init__(self, size: int = 4096, batches: int = 64) -> None:
        self._size = size
        self._batches = batches
        # id(message) -> (message, its JSON text, its SSE event or None until asked for)
        self._messages: dict[int, tuple[Message[Any], str, bytes | None]] = {}
        # (kind, id(first message), count, missed, closed, reason) -> (first message, encoding)
        self._encoded: dict[tuple[object, ...], tuple[Message[Any], bytes]] = {}

    def _entry(self, message: Message[Any], epoch: int) -> tuple[Message[Any], str, bytes | None]:
        # A message belongs to one channel, so to one epoch: its id is key enough.
        entry = self._messages.get(id(message))
        if entry is not None and entry[0] is message:
            return entry
        if len(self._messages) >= self._size:
            self._messages.clear()  # cheaper than keeping an order; recent ones come back soon
        entry = (message, dumps(message_json(message, epoch)), None)
        self._messages[id(message)] = entry
        return entry

    def text(self, message: Message[Any], epoch: int) -> str:
        """The message as JSON."""
        return self._entry(message, epoch)[1]

    def event(self, message: Message[Any], epoch: int) -> bytes:
        """The message as one SSE event, its id ``epoch:offset``."""
        entry = self._entry(message, epoch)
        event = entry[2]
        if event is None:
            event = f"id: {epoch}:{message.offset}\ndata: {entry[1]}\n\n".encode()
            self._messages[id(message)] = (message, entry[1], event)
        return event

    def batch(self, batch: Batch[Any]) -> bytes:
        """The batch as JSON, built from the messages' shared texts."""
        return self._shared("json", batch, self._batch)

    def events(self, batch: Batch[Any]) -> bytes:
        """The batch as Server-Sent Events, one chunk: a gap report, then each message."""
        return self._shared("sse", batch, self._events)

    def _shared(self, kind: str, batch: Batch[Any], encode: Callable[[Batch[Any]], bytes]) -> bytes:
        if not batch.messages:
            return encode(batch)
        first = batch.messages[0]
        key = (
            kind,
            id(first),
            len(batch.messages),
            batch.missed,
            batch.missed_unknown,
            batch.closed,
            batch.reason,
        )
        found = self._encoded.get(key)
        if found is not None and found[0] is first:
            return found[1]
        encoded = encode(batch)
        if len(self._encoded) >= self._batches:
            self._encoded.clear()
        self._encoded[key] = (first, encoded)
        return encoded

    def _batch(self, batch: Batch[Any]) -> bytes:
        epoch = batch.epoch
        messages = ",".join([self.text(message, epoch) for message in batch.messages])
        reason = "null" if batch.reason is None else f'"{batch.reason.value}"'
        closed = "true" if batch.closed else "false"
        unknown = "true" if batch.missed_unknown else "false"
        return (
            f'{{"messages":[{messages}],"cursor":{batch.cursor},"epoch":{epoch},'
            f'"missed":{batch.missed},"missed_unknown":{unknown},"closed":{closed},'
            f'"reason":{reason}}}'
        ).encode()

    def _events(self, batch: Batch[Any]) -> bytes:
        chunks = []
        if batch.missed or batch.missed_unknown:
            first = batch.messages[0].offset if batch.messages else batch.cursor
            gap = gap_json(batch.missed, first, batch.epoch, unknown=batch.missed_unknown)
            chunks.append(format_event(gap, event="missed"))
        chunks.extend([self.event(message, batch.epoch) for message in batch.messages])
        return b"".join(chunks)


def gap_json(missed: int, cursor: int, epoch: int, *, unknown: bool = False) -> str:
    """A report of ``missed`` messages lost before offset ``cursor`` of life ``epoch`` (and of
    an unknown number more, lost with an earlier life, if ``unknown``)."""
    more = ',"missed_unknown":true' if unknown else ""
    return f'{{"missed":{missed}{more},"cursor":{cursor},"epoch":{epoch}}}'

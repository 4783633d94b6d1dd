"""What Redis holds and announces for a channel, read: stream entries, notifications, the
epoch, and the scripts' common arguments. Pure functions, but for running a script."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from itertools import accumulate, pairwise
from math import isfinite
from typing import Any, TypeVar

from .._core import MAX_EPOCH, Message, Retention, make_messages
from .._wire import Codec
from ._client import RedisClient
from ._connection import RedisError
from ._scripts import Script

__all__ = [
    "decode_entries",
    "epoch_in",
    "many_decoder",
    "notification_span",
    "offset_of",
    "parse_notification",
    "retention_arguments",
    "run_channel_script",
]

T = TypeVar("T")


def retention_arguments(retention: Retention) -> tuple[str, str, str]:
    """The scripts' ARGV 3-5: max messages, max bytes, max age ('' where unbounded)."""
    return tuple(  # type: ignore[return-value]
        "" if value is None else repr(value)
        for value in (retention.max_messages, retention.max_bytes, retention.max_age)
    )


def many_decoder(codec: Codec[T]) -> Callable[[list[bytes]], list[T]]:
    """The codec's ``decode_many`` if it has one, else ``decode`` for each item."""
    decode_many: Callable[[list[bytes]], list[T]] | None = getattr(codec, "decode_many", None)
    if decode_many is not None:
        return decode_many
    decode = codec.decode
    return lambda items: [decode(item) for item in items]


def decode_entries(
    entries: list[Any], decode_many: Callable[[list[bytes]], list[T]]
) -> list[Message[T]]:
    """Messages from stream entries ``[b'<offset>-1', [b'p', payload, b's', size, b't', time]]``;
    ``ValueError`` (or ``IndexError``, ``TypeError``) if one does not decode."""
    values = decode_many([fields[1] for _, fields in entries])
    sizes = _counts([fields[3] for _, fields in entries])
    times = _times([fields[5] for _, fields in entries])
    offsets: Iterable[int]
    first = int(entries[0][0][:-2]) if entries else 0
    if entries and int(entries[-1][0][:-2]) - first == len(entries) - 1:
        offsets = range(first, first + len(entries))  # consecutive, as the ids are ours
    else:  # not consecutive: each entry says its own
        offsets = [int(id_[:-2]) for id_, _ in entries]
    return make_messages(offsets, values, sizes, times)


async def run_channel_script(
    client: RedisClient,
    script: Script,
    keys: tuple[str, str],
    arguments: tuple[Any, ...],
    *,
    shield: bool = False,
) -> Any:
    """Run one of a channel's scripts; a key of the wrong Redis type is a ``RedisError`` that
    says which key holds what."""
    try:
        return await client.run_script(script, keys, arguments, shield=shield)
    except RedisError as error:
        if not str(error).startswith("WRONGTYPE"):
            raise
        stream, meta = [(await client.execute("TYPE", key)).decode() for key in keys]
        raise RedisError(
            f"the channel's Redis keys hold other types: {keys[0]!r} is a {stream} (needs a"
            f" stream or nothing), {keys[1]!r} is a {meta} (needs a hash or nothing)"
        ) from None


def epoch_in(value: object, meta: str) -> int:
    """The epoch Redis holds in ``meta``; ``RedisError`` if it is not one (1 … 2**53 - 1)."""
    epoch = 0
    if isinstance(value, (bytes, str, int)):
        with contextlib.suppress(ValueError):
            epoch = int(value)
    if not 1 <= epoch <= MAX_EPOCH:
        raise RedisError(f"{meta!r} holds an epoch that is not one: {value!r} (delete the key)")
    return epoch


def _counts(fields: list[bytes]) -> list[int]:
    """Sizes, lengths, offsets: ASCII decimal digits only (no sign, space or underscore)."""
    if not all(map(bytes.isdigit, fields)):
        raise ValueError("a size, length or offset that is not a decimal number")
    return list(map(int, fields))


def _times(fields: list[bytes]) -> list[float]:
    """Publish times: finite, non-negative decimal numbers (an exponent allowed)."""
    if b"".join(fields).translate(None, b"0123456789.eE+-"):
        raise ValueError("a time that is not a decimal number")
    times = list(map(float, fields))
    if not all(map(isfinite, times)) or min(times, default=0.0) < 0:
        raise ValueError("a time that is not a finite number of seconds")
    return times


def notification_span(data: bytes) -> tuple[int, int, int]:
    """``(epoch, first offset, count)`` from a notification's first line; ``ValueError`` if it
    has none of that form."""
    newline = data.find(b"\n")
    fields = data[:newline].split(b" ") if newline > 0 else []
    if len(fields) != 3:
        raise ValueError("no first line of three fields")
    epoch, first, count = _counts(fields)
    if not 1 <= epoch <= MAX_EPOCH or count < 1:
        raise ValueError(f"an epoch or count out of range: {data[:newline]!r}")
    return epoch, first, count


def parse_notification(data: bytes) -> tuple[int, int, list[int], list[float], list[bytes]]:
    """``(epoch, first offset, sizes, times, payloads)`` from a notification:
    ``<epoch> <first offset> <count>``, a newline; ``<size> <time> <length>`` for each message,
    separated by spaces, a newline; then the payloads, each ``length`` bytes, with nothing
    between or after them. Integers are ASCII decimal digits; times finite decimal numbers.
    ``ValueError`` if ``data`` is anything else."""
    epoch, first, count = notification_span(data)
    begin = data.find(b"\n") + 1
    newline = data.find(b"\n", begin)
    fields = data[begin:newline].split(b" ") if newline >= 0 else []
    if len(fields) != 3 * count:
        raise ValueError(f"{len(fields)} numbers for {count} messages")
    sizes = _counts(fields[0::3])
    times = _times(fields[1::3])
    lengths = _counts(fields[2::3])
    if newline + 1 + sum(lengths) != len(data):
        raise ValueError(f"payloads of {sum(lengths)} bytes where {len(data) - newline - 1} are")
    ends = list(accumulate(lengths, initial=newline + 1))
    payloads = [data[start:end] for start, end in pairwise(ends)]
    return epoch, first, sizes, times, payloads


def offset_of(entry: list[Any]) -> int:
    """The offset of a stream entry (its id is ``<offset>-1``); -1 if it is not one of ours."""
    try:
        return int(entry[0].split(b"-")[0])
    except (ValueError, IndexError, TypeError, AttributeError):
        return -1

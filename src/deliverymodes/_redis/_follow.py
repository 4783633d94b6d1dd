"""Following a Redis channel: its notifications, in offset order, with no gap left silent.

A :class:`Follower` is the one reader per channel per process. It takes the channel's Pub/Sub
notifications and hands each message to its sink (a push channel's subscribers, or a log
channel's local view of the stream) exactly once, in offset order. A notification that skips
ahead (the Pub/Sub link dropped, or this process fell behind) makes it read the gap from the
stream; what the stream no longer holds is reported to the sink as skipped. A new epoch (Redis
lost its data) restarts the sink in the new life.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import hiredis

from .._core import Message, Retention, make_message, make_messages, new_epoch
from .._exceptions import ConnectionLost
from .._wire import Codec
from ._client import RedisClient
from ._connection import RedisError
from ._records import (
    decode_entries,
    epoch_in,
    many_decoder,
    notification_span,
    offset_of,
    parse_notification,
    retention_arguments,
    run_channel_script,
)
from ._scripts import READ
from ._sink import Sink

__all__ = ["Follower"]

_log = logging.getLogger("deliverymodes.channel")

T = TypeVar("T")

#: Entries one catch-up read asks for at a time.
_CHUNK = 1000


class _ReadAhead:
    """A read made by a task of its own, whose failure its result raises (not the task)."""

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: list[Any] = []
        self._error: Exception | None = None

    async def run(
        self, read: Callable[[int, int], Awaitable[list[Any]]], known: int, start: int
    ) -> None:
        try:
            self._value = await read(known, start)
        except Exception as error:  # raised by result(), as the read itself would raise it
            self._error = error
        finally:
            self._done.set()

    async def result(self) -> list[Any]:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Follower(Generic[T]):
    """The reader of one channel in this process: notifications in, messages out in order."""

    def __init__(
        self,
        client: RedisClient,
        key: str,
        codec: Codec[T],
        retention: Retention,
        sink: Sink[T],
        *,
        start_latest: bool,
    ) -> None:
        self.client = client
        self.keys: tuple[str, str] = (key, key + ":meta")
        self._codec = codec
        self._decode_many = many_decoder(codec)
        self._retention = retention_arguments(retention)
        self._sink = sink
        self._start = "latest" if start_latest else "earliest"
        self._lock = anyio.Lock()
        self._asked = self._answered = 0  # catch-ups asked for, and served by a read
        self._starting = False
        self._stopped = False  # it may still be told of a resumption it was listening for
        self.live = False  # subscribed and caught up: what it has is what Redis has

    async def start(self) -> None:
        """Read the channel while subscribing, then catch up; ``ConnectionLost`` if Redis
        cannot be reached in time, ``RedisError`` if it refuses (a login, a key of another
        type)."""
        failed: list[BaseException] = []

        async def subscribe() -> None:
            try:
                await self.client.listen(self.keys[0].encode(), self)
            except (ConnectionLost, RedisError) as error:
                failed.append(error)

        self._starting = True
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(subscribe)  # a connection of its own: meanwhile, read
                try:
                    await self.catch_up()  # over the command connection: fails at once
                except (ConnectionLost, RedisError) as error:
                    failed.insert(0, error)
                    group.cancel_scope.cancel()
            if failed:
                raise failed[0]
            if not self.live:
                await self.catch_up()
                self.live = True
        except BaseException:  # failed or cancelled: the client forgets this listener
            with anyio.CancelScope(shield=True), contextlib.suppress(ConnectionLost):
                await self.stop()  # bounded by the client's timeout
            raise
        finally:
            self._starting = False

    async def stop(self) -> None:
        self.live = False
        self._stopped = True
        await self.client.unlisten(self.keys[0].encode(), self)

    # -- the listener ----------------------------------------------------------------------------

    async def notified(self, data: bytes) -> None:
        """A notification: the messages of one publish (see :func:`parse_notification`)."""
        sink = self._sink
        try:
            epoch, first, count = notification_span(data)
        except ValueError:
            pass
        else:
            if epoch == sink.epoch and first + count <= sink.head:
                return  # nothing new: this process published them, or read them from the stream
        lock = self._lock
        try:  # no checkpoint when the lock is free: the messages of one read stay together
            lock.acquire_nowait()
        except anyio.WouldBlock:
            await lock.acquire()
        try:
            try:
                epoch, first, sizes, times, payloads = parse_notification(data)
            except ValueError as error:
                # Not one of ours (or damaged): the stream says what was published.
                _log.warning("channel %r got a notification it cannot read (%s): reading the"
                             " stream instead", self.keys[0], error)  # fmt: skip
                await self._catch_up()
            else:
                if epoch != sink.epoch or first > sink.head:
                    await self._catch_up()  # a gap, or a new life: the stream has it all
                else:
                    await self._take(first, sizes, times, payloads)
        except (ConnectionLost, RedisError) as error:
            self.live = False
            _log.warning("channel %r could not read a gap from Redis: %s", self.keys[0], error)
        finally:
            lock.release()

    async def _take(
        self, first: int, sizes: list[int], times: list[float], payloads: list[bytes]
    ) -> None:
        """Hand the sink the messages of a notification from offset ``first`` (at most its
        head) that it does not have yet."""
        sink = self._sink
        skip = sink.head - first
        if skip >= len(payloads):
            return
        if sink.idle:
            sink.skipped(first + len(payloads))
            return
        offsets = range(first + skip, first + len(payloads))
        if skip:  # the first ones are had already
            payloads, sizes, times = payloads[skip:], sizes[skip:], times[skip:]
        try:
            values = self._decode_many(payloads)
            messages = make_messages(offsets, values, sizes, times)
        except ValueError:
            decode = self._codec.decode  # one by one, to skip those that do not decode
            messages = []
            for offset, payload, size, published_at in zip(
                offsets, payloads, sizes, times, strict=True
            ):
                try:
                    messages.append(make_message(offset, decode(payload), size, published_at))
                except ValueError as error:
                    _log.warning("channel %r: message %d does not decode, skipped: %s",
                                 self.keys[0], offset, error)  # fmt: skip
                    if messages:
                        await sink.received(messages)
                        messages = []
                    sink.skipped(offset + 1)
        if messages:
            await sink.received(messages)

    async def resumed(self) -> None:
        if self._stopped:
            return
        opening = self._starting  # then the opening catches up too, and reports its failure
        try:
            try:
                await self.catch_up()
            except ConnectionLost:
                # After Redis came back, the command connection may be the dead one of before,
                # which nothing had read since: the next attempt opens another.
                await self.catch_up()
        except (ConnectionLost, RedisError) as error:
            if not (opening or self._stopped):
                _log.warning("channel %r could not catch up with Redis: %s", self.keys[0], error)
        else:
            self.live = not self._stopped

    def interrupted(self) -> None:
        self.live = False

    # -- reading the stream ----------------------------------------------------------------------

    async def catch_up(self) -> None:
        """Read from the sink's head to the stream's, in chunks; ``ConnectionLost`` or
        ``RedisError`` if Redis cannot be read.

        Callers waiting together share a read: one that began after a call was made serves it
        (a poll sees what was published before it asked; a resumption, what was published
        before it subscribed)."""
        self._asked += 1
        asked = self._asked
        async with self._lock:
            if self._answered >= asked:
                return
            serves = self._asked
            await self._catch_up()
            self._answered = max(self._answered, serves)

    async def _read(self, known: int | None, start: int) -> list[Any]:
        """One read from offset ``start`` of life ``known`` (None: not known yet): ``[epoch,
        head, first, bytes, retained, begin, entries]`` as the READ script gives them. Without
        ``max_age`` to apply, and when the channel has a life, it reads with plain commands in
        one transaction (Redis's own XRANGE, not a script's copy of it: several times faster
        for large reads); else with the script, which also begins a new life and says which
        key holds what."""
        latest = known is None and self._start == "latest"
        if self._retention[2] == "" and not latest:
            stream, meta = self.keys
            since = "-" if known is None else f"{start}-1"
            *_, done = await self.client.execute_many(
                ("MULTI",),
                ("HMGET", meta, "epoch", "head", "bytes"),
                ("XRANGE", stream, "-", "+", "COUNT", 1),
                ("XRANGE", stream, since, "+", "COUNT", _CHUNK),
                ("XLEN", stream),
                ("EXEC",),
            )
            if isinstance(done, list) and not any(isinstance(r, hiredis.ReplyError) for r in done):
                (epoch, head, retained_bytes), oldest, entries, retained = done
                if (
                    epoch is not None
                    and head is not None
                    and head.isdigit()
                    and (known is None or epoch == b"%d" % known)
                ):
                    head = int(head)
                    first = offset_of(oldest[0]) if oldest else head
                    begin = first if known is None else max(start, first)
                    return [epoch, head, first, int(retained_bytes or 0), retained, begin, entries]
        return await self._read_by_script(known, start)

    async def _read_by_script(self, known: int | None, start: int) -> list[Any]:
        result: list[Any] = await run_channel_script(
            self.client,
            READ,
            self.keys,
            (
                str(new_epoch()),
                repr(time.time()),
                *self._retention,
                self._start if known is None else str(start),
                _CHUNK,
                "" if known is None else str(known),
            ),
        )
        return result

    async def _catch_up(self) -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as group:  # for reading ahead
            try:
                await self._read_all(group)
            except Exception as error:  # raised as it is, not in the task group's wrapping
                failure = error
            group.cancel_scope.cancel()  # a read ahead not needed after all
        if failure is not None:
            raise failure

    async def _read_all(self, group: anyio.abc.TaskGroup) -> None:
        """Read from the sink's head until it has what the stream had; each chunk after the
        first is asked for before the one before it decodes (Redis prepares it meanwhile)."""
        sink = self._sink
        read = await self._read(sink.epoch, sink.head)
        while True:
            known = sink.epoch
            epoch, head, _first, _bytes, _retained, begin, entries = read
            epoch = epoch_in(epoch, self.keys[1])
            if epoch != known:
                sink.restarted(epoch, begin)
            elif begin > sink.head:
                sink.skipped(begin)
            after = offset_of(entries[-1]) + 1 if entries else head
            ahead = None
            if len(entries) == _CHUNK and after < head:
                ahead = _ReadAhead()
                group.start_soon(ahead.run, self._read, epoch, after)
                await anyio.lowlevel.checkpoint()  # it sends its read
            await self._deliver(self._decoded(entries))
            if entries and sink.head < after:
                sink.skipped(after)  # the last entries did not decode
            if ahead is None or sink.head >= head:
                if sink.head < head:  # the stream's last entries were deleted: lost
                    sink.skipped(head)
                return
            read = await ahead.result()

    async def _deliver(self, messages: list[Message[T]]) -> None:
        """Hand the sink the messages it does not have yet, in runs at consecutive offsets
        from its head; a gap between them (entries that did not decode) is skipped."""
        sink = self._sink
        if not messages:
            return
        head = sink.head
        first, last = messages[0].offset, messages[-1].offset
        if first == head and last - first == len(messages) - 1:
            await sink.received(messages)  # the usual read: all new, none missing
            return
        run: list[Message[T]] = []  # messages at consecutive offsets from the sink's head
        for message in messages:
            if message.offset < sink.head + len(run):
                continue
            if message.offset > sink.head + len(run):  # entries before it did not decode
                if run:
                    await sink.received(run)
                    run = []
                sink.skipped(message.offset)
            run.append(message)
        if run:
            await sink.received(run)

    def _decoded(self, entries: list[Any]) -> list[Message[T]]:
        try:
            return decode_entries(entries, self._decode_many)
        except (ValueError, IndexError, TypeError):
            # Entries that do not decode (written by something else) are a gap for the sink:
            # counted as missed, logged once per read, never read again.
            messages: list[Message[T]] = []
            bad = []
            for entry in entries:
                try:
                    messages.extend(decode_entries([entry], self._decode_many))
                except (ValueError, IndexError, TypeError) as error:
                    bad.append((entry[0], error))
            _log.warning(
                "channel %r: %d stream entries do not decode, skipped (the first: %r, %s)",
                self.keys[0],
                len(bad),
                *bad[0],
            )
            return messages

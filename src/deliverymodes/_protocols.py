"""The protocols application code is written against (Publisher, Subscriber, Channel), and the
serving protocols adapters use to serve a channel (ServedLog, ServedLongPoll, ServedPush).

They are runtime-checkable ``typing.Protocol`` classes, so in-process channels, remote endpoints
and user classes satisfy them without inheriting from anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from typing_extensions import Self

from ._core import (
    Batch,
    Batching,
    ChannelStatistics,
    Message,
    Overflow,
    Start,
    SubscriberStatistics,
)

__all__ = [
    "Channel",
    "Fit",
    "Publisher",
    "ServedLog",
    "ServedLongPoll",
    "ServedPush",
    "ServedSubscription",
    "Subscriber",
]

T = TypeVar("T")


class _AsyncResource(Protocol):
    """Closed with ``await aclose()``, or by leaving ``async with``."""

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Publisher(Protocol[T]):
    """Something messages can be published to."""

    async def publish(self, payload: T) -> Message[T]:
        """Publish ``payload``; returns the message with its offset. Raises ChannelClosed."""
        ...


@runtime_checkable
class Subscriber(_AsyncResource, Protocol[T]):
    """A reader of a channel's messages, in offset order, without duplicates.

    ``receive()`` raises ``ChannelClosed`` once the channel is closed and everything buffered for
    this subscriber has been received; ``async for`` ends quietly at that point instead.
    """

    async def receive(self) -> Message[T]:
        """The next message, waiting for it if need be."""
        ...

    def __aiter__(self) -> AsyncIterator[Message[T]]: ...

    async def aclose(self) -> None:
        """End the subscription; messages not yet received are discarded."""
        ...

    def statistics(self) -> SubscriberStatistics:
        """What this subscriber has done so far."""
        ...


@runtime_checkable
class Channel(Publisher[T], _AsyncResource, Protocol[T]):
    """A publisher that readers can subscribe to; closing it ends every subscription."""

    def subscribe(self) -> Subscriber[T]:
        """A new subscription, live from this call: ``async with ch.subscribe() as sub``."""
        ...

    async def aclose(self) -> None:
        """Close the channel: wake every waiter; readers drain what they have, then end."""
        ...

    def statistics(self) -> ChannelStatistics:
        """What the channel has done so far."""
        ...


# -- serving ---------------------------------------------------------------------------------------


class Fit(Protocol):
    """How many of a batch's messages a transport can carry (its frame size)."""

    def __call__(self, messages: tuple[Message[Any], ...], /) -> int:
        """Given the messages a read would return, the count to keep. It may raise to refuse
        the batch; nothing is counted then."""
        ...


@runtime_checkable
class ServedLog(Protocol[T]):
    """A channel with history, as adapters serve it to readers that poll from a cursor.

    A cursor is an offset, ``EARLIEST`` or ``LATEST``; ``epoch`` is the life of the channel an
    offset belongs to (None: this one). An offset of another life is read as offset 0 of this
    one (what retention evicted since counts as missed) with ``missed_unknown`` set; an offset
    beyond ``head`` in this life is a ``ValueError``, as are caps out of range.
    """

    @property
    def epoch(self) -> int:
        """This life of the channel (1 … 2**53 - 1)."""
        ...

    @property
    def head(self) -> int:
        """The offset the next published message will get (where ``LATEST`` reads from)."""
        ...

    @property
    def earliest(self) -> int:
        """The oldest retained offset (where ``EARLIEST`` reads from)."""
        ...

    def statistics(self) -> ChannelStatistics:
        """What the channel has done so far."""
        ...

    async def serve_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        max_messages: int | None,
        max_bytes: int | None,
        fit: Fit | None = None,
    ) -> Batch[T]:
        """A plain poll: what is retained from ``cursor`` within the caps (None: no cap), at once
        (its ``reason`` is None). ``fit`` cuts the batch to what the transport can carry."""
        ...

    async def wait_closed(self) -> None:
        """Return once the channel is closed (at once if it is): how a reader that pauses
        between polls notices the end without waiting out its pause."""
        ...


@runtime_checkable
class ServedLongPoll(ServedLog[T], Protocol[T]):
    """A channel with history that can hold a poll until its batch is worth sending."""

    @property
    def batching(self) -> Batching:
        """The thresholds and caps a long poll uses where its reader sets none of its own."""
        ...

    def serve_long_poll_nowait(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
    ) -> Batch[T]:
        """The long poll's batch if it can be answered now without waiting (its thresholds are
        met, its ``max_wait`` is 0 or the channel is closed); else raise ``anyio.WouldBlock``,
        having counted nothing. A channel that needs I/O to answer may always raise."""
        ...

    async def serve_long_poll(
        self,
        cursor: int | Start,
        *,
        epoch: int | None = None,
        batching: Batching,
        fit: Fit | None = None,
        until: Callable[[], Awaitable[object]] | None = None,
    ) -> Batch[T] | None:
        """A long poll: wait until ``batching``'s thresholds release it, then its batch.

        With ``until``, await ``until()`` meanwhile and give up if it returns first: None,
        nothing counted (how an adapter watches its client without a task of its own). Cancelled
        while it waits, it counts nothing either.
        """
        ...


@runtime_checkable
class ServedSubscription(Protocol[T]):
    """One push subscription, as an adapter forwards it. A subscription whose channel can
    begin a new life under it may also have ``epoch`` (see ``PushSubscriber.epoch``), which the
    HTTP app reads to report the new life."""

    async def receive(self) -> Message[T]:
        """The next message, waiting for it; ``ChannelClosed`` once the channel is closed and
        the buffer drained, ``SlowConsumer`` once the overflow policy cut this subscriber off."""
        ...

    def receive_nowait(self) -> Message[T]:
        """The next buffered message; ``anyio.WouldBlock`` if there is none yet (and the same
        errors as ``receive``)."""
        ...

    def refuse_last(self) -> None:
        """The message last received could not be passed on (too large for the transport):
        count it as dropped, not delivered."""
        ...

    async def aclose(self) -> None:
        """End the subscription; what is still buffered counts as dropped."""
        ...


@runtime_checkable
class ServedPush(Protocol[T]):
    """A push channel, as adapters serve it to subscribers over a transport."""

    @property
    def epoch(self) -> int:
        """This life of the channel (1 … 2**53 - 1)."""
        ...

    @property
    def head(self) -> int:
        """The offset the next published message will get: where a subscription made now
        starts."""
        ...

    @property
    def buffer_size(self) -> int:
        """A subscriber's buffer, where it asks for none of its own."""
        ...

    @property
    def overflow(self) -> Overflow:
        """What happens when a subscriber's buffer is full, where it asks for nothing else."""
        ...

    def statistics(self) -> ChannelStatistics:
        """What the channel has done so far."""
        ...

    def subscribe(
        self, *, buffer_size: int | None = None, overflow: Overflow | None = None
    ) -> ServedSubscription[T]:
        """A subscription receiving every message published from now on."""
        ...

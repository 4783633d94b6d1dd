"""The protocols application code is written against: Publisher, Subscriber and Channel.

They are runtime-checkable ``typing.Protocol`` classes, so in-process channels, remote endpoints
and user classes satisfy them without inheriting from anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from typing_extensions import Self

from ._core import ChannelStatistics, Message, SubscriberStatistics

__all__ = ["Channel", "Publisher", "Subscriber"]

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

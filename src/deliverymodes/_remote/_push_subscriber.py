"""A push subscription on a server, read through a ``Remote`` like a local one: the server's
messages arrive in its buffer, credit goes back as they are read, and it is made again after the
connection comes back, with what was lost meanwhile counted."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio
from typing_extensions import Self

from .._core import Message, make_message
from .._exceptions import (
    ConnectionLost,
    DeliveryError,
    ProtocolError,
)
from .._pushed import PushedSubscriber
from .._wire import (
    Credit,
    EndReason,
    ErrorCode,
    Event,
    Subscribe,
    Subscribed,
    Unsubscribe,
    WireMessage,
)
from .._wire._translate import end_error

if TYPE_CHECKING:
    from ._client import RemotePushChannel

__all__ = ["RemotePushSubscriber"]

T = TypeVar("T")


class RemotePushSubscriber(PushedSubscriber[T, WireMessage]):
    """A push subscription on a server, read like a local one; ``receive()`` raises
    ``ChannelClosed`` at the end, ``SlowConsumer`` if the server cut it off.

    When the connection drops and comes back, the subscription is made again; the messages
    published in between count as ``missed`` (or ``missed_unknown``, if the channel began a new
    life), and offsets skipped while subscribed (the server's overflow policy) as ``dropped``.
    """

    def __init__(
        self, channel: RemotePushChannel[T], buffer_size: int, overflow: int, window: int
    ) -> None:
        super().__init__()
        remote = channel._remote
        self._channel = channel
        self._remote = remote
        self._buffer_size = buffer_size
        self._overflow = overflow
        self._window = window
        self._waiting: anyio.Event | None = None
        self._confirmed = False
        self._refusal: BaseException | None = None
        self._expected: int | None = None  # the offset the next pushed message should have
        self.epoch: int | None = None  # the channel's life, once the server confirmed
        self._consumed = 0  # since the last CREDIT
        self._decode = remote.codec.decode
        self.number = remote._number()
        channel._subscribers.add(self)
        remote._add_subscription(self)  # sent now, or when the connection comes back

    @property
    def subscribed(self) -> bool:
        """True while the server has the subscription on the current connection (False while
        the connection is being made again, until the server confirms it anew)."""
        return self._confirmed

    def _request(self, number: int) -> Event:
        name = self._channel.name
        return Subscribe(number, self.number, name, self._buffer_size, self._overflow, self._window)

    def _answer(self, reply: Event | None, error: BaseException | None) -> None:
        """The server's answer to SUBSCRIBE (or the connection's end before it)."""
        if isinstance(reply, Subscribed):
            if self.epoch is not None and reply.epoch != self.epoch:
                self._missed_unknown += 1  # a new life of the channel: offsets start anew
            elif self._expected is not None and reply.head > self._expected:
                self._missed += reply.head - self._expected  # published while disconnected
            self.epoch, self._expected = reply.epoch or None, reply.head
            self._confirmed = True
        elif not isinstance(error, ConnectionLost):  # a refusal (a drop: made again later)
            self._refusal = error
        self._wake()

    def _disconnected(self) -> None:
        self._confirmed = False
        self._consumed = 0  # the next subscription starts with a full window

    async def wait_subscribed(self) -> None:
        """Wait until the server confirms the subscription (raises its refusal, if any)."""
        try:
            while not self._confirmed:
                self._raise_if_over()
                if self._waiting is None:
                    self._waiting = anyio.Event()
                await self._waiting.wait()
        except BaseException:
            # Refused, failed, or given up waiting (cancelled). UNSUBSCRIBE follows SUBSCRIBE on
            # the wire, so a subscription the server makes anyway ends at once; one it refused
            # is unknown to it, and it ignores the request.
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise

    def _raise_if_over(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        super()._raise_if_over()

    async def __aenter__(self) -> Self:
        await self.wait_subscribed()
        return self

    def _deliver(self, messages: tuple[WireMessage, ...]) -> None:
        expected = self._expected
        end = messages[-1].offset + 1
        if expected is not None:  # offsets skipped: messages the policy dropped for it
            self._dropped += end - expected - len(messages)
        self._expected = end
        self._buffer.extend(messages)
        self._wake()

    def _end(self, reason: EndReason) -> None:
        self._ended = end_error(reason)
        self._wake()

    def _fail(self, error: DeliveryError) -> None:
        if self._ended is None:
            self._ended = error
        self._wake()

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.set()
            self._waiting = None

    async def _more(self) -> None:
        if self._waiting is None:
            self._waiting = anyio.Event()
        await self._waiting.wait()

    def _handed(self, item: WireMessage) -> Message[T]:
        """Grant credit for it, decode it."""
        offset, published_at, size, data = item
        self._consumed += 1
        if self._consumed * 2 >= self._window and self._ended is None:
            self._remote._send(Credit(self.number, self._consumed))
            self._consumed = 0
        try:
            payload = self._decode(data)
        except ValueError as error:
            message = f"cannot decode a payload: {error}"
            raise ProtocolError(ErrorCode.BAD_PAYLOAD, message) from None
        return make_message(offset, payload, size, published_at)

    async def aclose(self) -> None:
        """Unsubscribe on the server; messages not yet received are discarded."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._channel._retire(self)
        if self._remote._drop_subscription(self):
            self._remote._send(Unsubscribe(self.number))
        self._wake()

"""Push subscriptions for a served connection: each forwarded by a task, within its credit."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio

from .._core import Message, Overflow
from .._exceptions import ChannelClosed, ConnectionLost, SlowConsumer
from .._wire import End, EndReason, ErrorCode, Subscribe, Subscribed
from .._wire._translate import RequestRefused, end_reason, overflow_from_wire
from ._payloads import ENTRY, PUSH_HEAD
from ._served_base import ConnectionBase, OpenSubscription, quoted

__all__ = ["PushServing"]

_log = logging.getLogger("deliverymodes.server")


class PushServing(ConnectionBase):
    """SUBSCRIBE, CREDIT and UNSUBSCRIBE, and the tasks that push to each subscription."""

    def _subscribe(self, event: Subscribe, work: anyio.abc.TaskGroup) -> None:
        channel = self._channel(event.channel).push
        self._wire.check(event)
        if channel is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{quoted(event.channel)} is not a push channel"
            )
        overflow = overflow_from_wire(event.overflow)
        largest = max(self._limits.max_buffer_size, channel.buffer_size)
        if event.buffer_size > largest:
            message = f"buffer_size may be at most {largest} here, got {event.buffer_size}"
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
        blocks = overflow is Overflow.BLOCK
        if blocks and channel.overflow is not Overflow.BLOCK:
            raise RequestRefused(
                ErrorCode.BAD_ARGUMENT,
                "overflow BLOCK holds back the publisher: only a channel that blocks takes it",
            )
        head = channel.head  # the first offset the subscription can receive
        subscriber = channel.subscribe(buffer_size=event.buffer_size or None, overflow=overflow)
        subscription = OpenSubscription(event.subscription, subscriber)
        self._subscriptions[event.subscription] = subscription
        subscribed = Subscribed(event.request, event.subscription, channel.epoch, head)
        self._reply(self._wire.send(subscribed))
        work.start_soon(self._forward, subscription)

    def _unsubscribe(self, number: int) -> None:
        subscription = self._subscriptions.get(number)
        if subscription is not None:  # else it ended already: its END crossed this request
            subscription.scope.cancel()

    async def _forward(self, subscription: OpenSubscription) -> None:
        """Push the subscription's messages, coalesced, within the credit the client gave.

        Messages taken from the subscriber are always written: when the subscription ends
        (channel closed, cut off) in the middle of a batch, the batch still goes, then END.
        """
        subscriber = subscription.subscriber
        reason: EndReason | None = EndReason.UNSUBSCRIBED
        try:
            with subscription.scope:
                try:
                    while True:
                        while not self._wire.credit(subscription.number):
                            await subscription.wait_for_credit()
                        await self._writer.wait_for_room()
                        ended = self._push(subscription, await subscriber.receive())
                        if ended is not None:
                            reason = ended
                            break
                except (ChannelClosed, SlowConsumer) as error:
                    reason = end_reason(error)
                except ConnectionLost:
                    pass
        except Exception as error:  # a payload the codec cannot encode
            _log.exception("a push subscription failed")
            self._fail(ErrorCode.INTERNAL, f"the server failed: {error!r}")
            reason = None
        if reason is EndReason.SLOW_CONSUMER:
            _log.info("subscription %d was cut off: a slow consumer", subscription.number)
        del self._subscriptions[subscription.number]
        await subscriber.aclose()
        if reason is not None:
            with contextlib.suppress(ConnectionLost):  # the connection may be going away
                self._send(End(subscription.number, reason))

    def _push(self, subscription: OpenSubscription, first: Message[Any]) -> EndReason | None:
        """Write ``first`` and what else is buffered, within the credit, in frames that fit the
        client; returns why the subscription ends, if it does."""
        subscriber = subscription.subscriber
        encoded = self._cache.encoded
        budget = self._wire.peer_max_frame_size - PUSH_HEAD
        frames: list[bytes] = []
        batch: list[tuple[int, float, int, bytes]] = []
        total = sent = 0
        credit = self._wire.credit(subscription.number)
        ended: EndReason | None = None
        message = first
        while True:
            data = encoded(message)
            cost = ENTRY + len(data)
            if cost > budget:  # it can never be sent to this client
                subscriber.refuse_last()
                ended = EndReason.MESSAGE_TOO_LARGE
                break
            if total + cost > budget:
                frames.append(self._wire.push(subscription.number, batch))
                batch, total = [], 0
            batch.append((message.offset, message.published_at, message.size, data))
            total += cost
            sent += 1
            if sent >= credit:
                break
            try:
                message = subscriber.receive_nowait()
            except anyio.WouldBlock:
                break
            except (ChannelClosed, SlowConsumer) as error:
                ended = end_reason(error)
                break
        if batch:
            frames.append(self._wire.push(subscription.number, batch))
        if frames:
            self._writer.write(b"".join(frames))
        return ended

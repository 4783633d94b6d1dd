"""The protocols: every channel satisfies them, and one consumer runs against every model."""

from __future__ import annotations

from types import TracebackType

import anyio
import pytest
from typing_extensions import Self

from deliverymodes import (
    Channel,
    LongPollChannel,
    Message,
    PollChannel,
    Publisher,
    PushChannel,
    Subscriber,
    SubscriberStatistics,
)


def make_channels() -> list[Channel[str]]:
    return [PushChannel[str](), PollChannel[str](), LongPollChannel[str]()]


@pytest.mark.parametrize("channel", make_channels(), ids=lambda c: type(c).__name__)
async def test_channels_and_subscribers_satisfy_the_protocols(channel: Channel[str]) -> None:
    assert isinstance(channel, Channel)
    assert isinstance(channel, Publisher)
    async with channel, channel.subscribe() as subscriber:
        assert isinstance(subscriber, Subscriber)
        assert not isinstance(subscriber, Publisher)


async def consume(subscriber: Subscriber[str], count: int) -> list[str]:
    """Application code: knows only the Subscriber protocol."""
    got = []
    async for message in subscriber:
        got.append(message.payload)
        if len(got) == count:
            break
    return got


async def test_one_consumer_runs_unchanged_against_every_model() -> None:
    for channel in make_channels():
        async with channel, channel.subscribe() as subscriber:
            for word in ("one", "two", "three"):
                await channel.publish(word)
            with anyio.fail_after(5):
                assert await consume(subscriber, 3) == ["one", "two", "three"]
            stats = channel.statistics()
            assert (stats.published, stats.delivered) == (3, 3)


class ListSubscriber:
    """A user class that satisfies Subscriber without inheriting from anything."""

    def __init__(self, payloads: list[str]) -> None:
        self._messages = [Message(i, p, len(p), 0.0) for i, p in enumerate(payloads)]

    async def receive(self) -> Message[str]:
        return self._messages.pop(0)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message[str]:
        if not self._messages:
            raise StopAsyncIteration
        return await self.receive()

    async def aclose(self) -> None:
        self._messages.clear()

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(lag=len(self._messages))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def test_user_classes_satisfy_the_protocol_structurally() -> None:
    subscriber = ListSubscriber(["a", "b"])
    assert isinstance(subscriber, Subscriber)
    assert await consume(subscriber, 2) == ["a", "b"]
    assert not isinstance(object(), Subscriber)

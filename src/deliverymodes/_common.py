"""Small pieces the anyio-layer channels and subscribers share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from typing_extensions import Self

from ._core import Message, SubscriberStatistics
from ._exceptions import ChannelClosed

__all__ = ["AsyncCloseable", "SubscriberIteration", "check_sizer", "publish_at_once"]

T = TypeVar("T")


def check_sizer(sizer: object) -> Callable[[Any], int]:
    if not callable(sizer):
        raise TypeError(f"sizer must be callable (payload -> bytes), not {type(sizer).__name__}")
    return sizer


class AsyncCloseable(ABC):
    """``async with obj`` returns obj and awaits ``obj.aclose()`` on the way out."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the resource."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class SubscriberIteration(AsyncCloseable, Generic[T]):
    """``async for message in subscriber``: ``receive()`` until the channel is closed."""

    @abstractmethod
    async def receive(self) -> Message[T]:
        """The next message; raises ChannelClosed at the end."""

    @abstractmethod
    def statistics(self) -> SubscriberStatistics:
        """What this subscriber has done so far."""

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message[T]:
        try:
            return await self.receive()
        except ChannelClosed:
            raise StopAsyncIteration from None


def publish_at_once(channel: object, payload: Any) -> Message[Any] | None:
    """The message, if ``channel`` can publish ``payload`` without waiting (its
    ``publish_nowait``); else None, and the caller publishes with ``await publish``."""
    publish_nowait = getattr(channel, "publish_nowait", None)
    if publish_nowait is None:
        return None
    try:
        message: Message[Any] = publish_nowait(payload)
    except anyio.WouldBlock:
        return None
    return message


def running_on_trio() -> bool:
    """Whether the calling task runs on trio (sniffio comes with trio: without it, trio is not
    installed either)."""
    try:
        import sniffio  # noqa: PLC0415 - trio needs it, asyncio does not
    except ImportError:
        return False
    return sniffio.current_async_library() == "trio"

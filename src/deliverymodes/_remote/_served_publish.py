"""Publishing for a served connection, reading on while a publish waits for room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._common import publish_at_once
from .._core import Message
from .._exceptions import ProtocolError
from .._wire import Cancel, Close, ConnectionEnded, Credit, ErrorCode, Event, Publish, Published
from .._wire._translate import BAD_PAYLOADS, UNREACHABLE, RequestRefused
from ._served_base import ConnectionBase, quoted

__all__ = ["PublishServing"]


class PublishServing(ConnectionBase):
    """PUBLISH: into the channel at once, or waiting for room while the client is read on."""

    async def _publish(self, event: Publish) -> None:
        channel = self._channel(event.channel).channel
        publish = getattr(channel, "publish", None)
        if publish is None:
            raise RequestRefused(
                ErrorCode.UNSUPPORTED, f"{quoted(event.channel)} takes no publishes"
            )
        self._wire.check(event)
        try:
            payload = self._codec.decode(event.data)
        except Exception as error:  # codecs refuse with ValueError; any failure is a refusal
            raise RequestRefused(ErrorCode.BAD_PAYLOAD, f"cannot decode payload: {error}") from None
        with BAD_PAYLOADS:
            message = publish_at_once(channel, payload)
            if message is None:
                message = await self._publish_waiting(publish, payload, event.request)
        if message is None:
            if not self._gone:  # withdrawn by CANCEL (else nobody is left to tell)
                raise RequestRefused(ErrorCode.CANCELLED, "the publish was withdrawn")
            return
        published = Published(event.request, message.offset, message.size, message.published_at)
        self._reply(self._wire.send(published))

    async def _publish_waiting(
        self, publish: Callable[[Any], Awaitable[Message[Any]]], payload: Any, request: int
    ) -> Message[Any] | None:
        """Publish, waiting for room, while reading on: the client's leaving or a CANCEL of
        ``request`` withdraws the publish (it then reaches no one and takes no offset)."""
        for event in self._ahead:
            if isinstance(event, Cancel) and event.request == request:
                self._ahead.remove(event)  # cancelled before it started: never publish it
                return None
        await self._flush_replies()  # earlier answers go out before the wait
        published: list[Message[Any]] = []
        failed: list[Exception] = []
        self._publishing = request  # still set if the server is stopped meanwhile
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                try:
                    with UNREACHABLE:
                        published.append(await publish(payload))
                except Exception as error:
                    failed.append(error)
                tg.cancel_scope.cancel()

            tg.start_soon(run)
            await self._read_ahead(request)
            tg.cancel_scope.cancel()
        self._publishing = None
        if failed:
            raise failed[0]
        return published[0] if published else None

    async def _read_ahead(self, request: int) -> None:
        """Go on reading while a publish waits, so that the client's end of stream and a CANCEL
        of ``request`` are seen. Returns when either comes; events read meanwhile are kept in
        order for later (CREDIT excepted: granted at once). Stops reading after
        ``max_frame_size`` bytes, or at CLOSE."""
        connection = self._wire
        while True:
            try:
                while (event := connection.next_event()) is not None:
                    if isinstance(event, ConnectionEnded):
                        self._gone = True
                        return
                    if isinstance(event, Cancel) and event.request == request:
                        return
                    if isinstance(event, Credit):
                        # A grant answers nothing, so it need not wait its turn: the pushes it
                        # allows may be what makes room for this very publish.
                        self._credited(event.subscription)
                        continue
                    self._ahead.append(event)
                    if isinstance(event, Close):
                        # The client is done: its subscriptions end now, so that they cannot
                        # hold its own publish back; the publish is still answered.
                        self._end_subscriptions()
                        await anyio.sleep_forever()
            except ProtocolError as error:
                self._ahead.append(error)
                await anyio.sleep_forever()
            if self._ahead_bytes >= self._limits.max_frame_size:
                await anyio.sleep_forever()  # enough read ahead: wait for the publish
            data = await self._receive()
            self._ahead_bytes += len(data)
            connection.receive_data(data)

    def _next_event(self) -> Event:
        """The next event read ahead (or the protocol error met there, raised in its turn)."""
        event = self._ahead.popleft()
        if not self._ahead:
            self._ahead_bytes = 0
        if isinstance(event, ProtocolError):
            raise event
        return event

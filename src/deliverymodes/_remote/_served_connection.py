"""One served wire connection: a pump between its byte stream and its ``ServerConnection``."""

from __future__ import annotations

import contextlib
import logging

import anyio
from anyio.abc import SocketAttribute
from anyio.lowlevel import checkpoint

from .._defaults import COOPERATIVE_BUDGET
from .._exceptions import ConnectionLost, ProtocolError
from .._wire import (
    Cancel,
    Close,
    ConnectionEnded,
    Credit,
    End,
    EndReason,
    Error,
    ErrorCode,
    Event,
    Hello,
    LongPoll,
    Poll,
    Publish,
    State,
    Subscribe,
    Unsubscribe,
)
from .._wire._translate import RequestRefused
from ._served_polls import PollServing
from ._served_publish import PublishServing
from ._served_pushes import PushServing

__all__ = ["ServedConnection"]

_log = logging.getLogger("deliverymodes.server")
_REQUESTS = (Publish, Poll, LongPoll, Subscribe)  # the frames counted as requests


class ServedConnection(PublishServing, PollServing, PushServing):
    """One client connection: reads requests, answers them, pushes to its subscriptions."""

    async def run(self) -> None:
        self._cache.connections += 1
        counts = self._counts
        counts.connections += 1
        counts.connections_opened += 1
        peer = self._stream.extra(SocketAttribute.remote_address, "a stream")
        _log.debug("connection from %s opened", peer)
        try:
            await self._run()
        except Exception:  # a fault must end this connection alone, never the whole server
            _log.exception("a connection failed")
        finally:
            self._cache.connections -= 1
            counts.connections -= 1
            _log.debug("connection from %s closed", peer)

    async def _run(self) -> None:
        going_away = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write_then_stop, tg.cancel_scope)
                tg.start_soon(self._expect_hello)
                if self._limits.keepalive_interval is not None:
                    tg.start_soon(self._watch_liveness, tg.cancel_scope)
                async with anyio.create_task_group() as work:  # long polls, subscriptions
                    with self._reading, contextlib.suppress(ConnectionLost):
                        await self._read(work)
                    if self._close_received or self._fatal is not None:
                        self._wind_down()  # what came before is answered
                    else:
                        work.cancel_scope.cancel()  # the client is gone
                if self._fatal is not None:
                    with contextlib.suppress(ConnectionLost):
                        self._send(self._fatal)
                self._writer.finish()
        except anyio.get_cancelled_exc_class():
            going_away = True  # the server is being stopped
            raise
        finally:
            with anyio.CancelScope(shield=True):
                farewell = self._farewell() if going_away else b""
                for subscription in list(self._subscriptions.values()):
                    await subscription.subscriber.aclose()
                self._subscriptions.clear()
                if farewell and not self._writer.interrupted:
                    # Bounded: a client that stopped reading cannot be told.
                    with anyio.move_on_after(1), contextlib.suppress(Exception):
                        await self._stream.send(farewell)
                await self._stream.aclose()

    def _farewell(self) -> bytes:
        """What a server being stopped says last: every request still waiting answered (long
        polls at once, a publish waiting for room withdrawn), every subscription ended, then
        CLOSE, so that the client knows all and connects again rather than fails."""
        frames: list[bytes] = []
        if self._publishing is not None:
            withdrawn = "the server is going away"
            frames.append(self._refusal(self._publishing, ErrorCode.CANCELLED, withdrawn))
        for request, waiting in list(self._waiting.items()):
            fitter = self._fitter()
            try:
                frames.append(self._batch_frame(request, waiting.answer_at_once(fitter), fitter))
            except RequestRefused as error:
                frames.append(self._refusal(request, error.code, str(error)))
            except anyio.WouldBlock:  # the channel cannot answer without awaiting
                frames.append(self._refusal(request, ErrorCode.CANCELLED, "going away"))
        self._waiting.clear()
        ended = [End(number, EndReason.UNSUBSCRIBED) for number in self._subscriptions]
        frames += [self._wire.send(end) for end in ended]
        frames.append(self._wire.send(Close()))
        return b"".join(frames)

    async def _watch_liveness(self, scope: anyio.CancelScope) -> None:
        """End the connection when the client has been silent for ``keepalive_misses``
        keepalive intervals while the server was reading (a cable pulled, a host gone)."""
        interval = self._limits.keepalive_interval
        assert interval is not None
        limit = interval * self._limits.keepalive_misses
        while True:
            await anyio.sleep_until(self._last_heard + limit)
            if not self._receiving or self._wire.state is State.HANDSHAKE:
                # Busy, or not reading: no judgement (before HELLO, the handshake timeout is).
                self._last_heard = anyio.current_time()
                continue
            if anyio.current_time() >= self._last_heard + limit:
                _log.info("a client was silent for %g s: taken for gone", limit)
                scope.cancel()
                return

    async def _expect_hello(self) -> None:
        await anyio.sleep(self._limits.handshake_timeout)
        if self._wire.state is State.HANDSHAKE:
            timeout = self._limits.handshake_timeout
            self._fail(ErrorCode.PROTOCOL_VIOLATION, f"no HELLO within {timeout:g} s")

    async def _write_then_stop(self, scope: anyio.CancelScope) -> None:
        try:
            await self._writer.run()
        except ConnectionLost:
            pass
        finally:
            scope.cancel()  # the writer is done or the stream broke: stop everything

    async def _read(self, work: anyio.abc.TaskGroup) -> None:
        connection, writer, limit = self._wire, self._writer, self._limits.write_buffer_size
        while True:
            try:
                event = self._next_event() if self._ahead else connection.next_event()
                if event is None:
                    await self._flush_replies()  # the answers to one read, in one write
                    connection.receive_data(await self._receive())
                    continue
                if isinstance(event, ConnectionEnded):
                    return
                if isinstance(event, Close):
                    await self._flush_replies()
                    self._close_received = True
                    return
                if isinstance(event, Error):  # the client failed and is closing
                    _log.info("a client reported %s: %s", event.code.name, event.message)
                    return
                if writer.full or self._replies_size >= limit:
                    await self._flush_replies()
                    await writer.wait_for_room()  # a client that does not read is not read
                await self._handle(event, work)
            except ProtocolError as error:
                if error.code is not ErrorCode.INTERNAL:  # INTERNAL was logged where it failed
                    _log.info("a client broke the protocol (%s): %s", error.code.name, error)
                await self._flush_replies()
                self._fatal = Error(0, error.code, str(error))
                return
            if self._gone:
                return
            self._budget -= 1
            if not self._budget:
                self._budget = COOPERATIVE_BUDGET
                await checkpoint()

    async def _handle(self, event: Event, work: anyio.abc.TaskGroup) -> None:
        request = getattr(event, "request", 0)
        if isinstance(event, _REQUESTS):
            self._counts.requests += 1
        try:
            if isinstance(event, Hello):
                self._reply(self._wire.welcome())
                self._writer.keepalive_armed = True
            elif isinstance(event, Publish):
                await self._publish(event)
            elif isinstance(event, Poll):
                await self._poll(event)
            elif isinstance(event, LongPoll):
                self._start_long_poll(event, work)
            elif isinstance(event, Subscribe):
                self._subscribe(event, work)
            elif isinstance(event, Credit):
                self._credited(event.subscription)
            elif isinstance(event, Unsubscribe):
                self._unsubscribe(event.subscription)
            elif isinstance(event, Cancel):
                self._cancel(event.request)
            # KEEPALIVE needs no answer.
        except RequestRefused as error:
            self._reply(self._refusal(request, error.code, str(error)))
        except (ProtocolError, ConnectionLost):
            raise
        except Exception as error:  # a payload the codec cannot encode, a channel that failed
            _log.exception("a request failed")
            raise ProtocolError(ErrorCode.INTERNAL, f"the server failed: {error!r}") from None

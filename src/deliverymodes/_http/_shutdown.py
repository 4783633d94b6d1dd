"""Ending an app's streams together when it closes, and noticing the signals that stop a server.

ASGI servers wait for open responses to finish before they send the lifespan's shutdown event,
so an app with streams open would hold a server's shutdown up until its graceful timeout. An app
that sees the signal itself (SIGTERM, SIGINT), beside the server's own handler, can end its
streams at once instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import anyio

from .._common import running_on_trio

__all__ = ["GOODBYE_TIMEOUT", "Closing", "SignalWatch", "waker"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Longest a closing app tries to say goodbye on one stream (a client may have stopped reading).
GOODBYE_TIMEOUT = 1.0


class Closing:
    """The streams and waits of an app that end together when it closes."""

    def __init__(self) -> None:
        self.closed = False
        self._scopes: set[anyio.CancelScope] = set()
        self._ended: anyio.Event | None = None

    @contextmanager
    def scope(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that the app's closing cancels (at once, if it is closed already)."""
        with anyio.CancelScope() as scope:
            if self.closed:
                scope.cancel()
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)
                if not self._scopes and self._ended is not None:
                    self._ended.set()

    def close(self) -> None:
        self.closed = True
        for scope in list(self._scopes):
            scope.cancel()

    async def wait_ended(self) -> None:
        """Wait until nothing that the closing cancelled is still running."""
        while self._scopes:
            self._ended = anyio.Event()
            await self._ended.wait()


class SignalWatch:
    """Notices SIGINT and SIGTERM before the handlers already there (a server's): they are held
    back until ``finish()``, so that the app ends its streams before the server starts its own
    shutdown (and waits for them). A signal with no handler (its default: end the process) acts
    at ``finish()`` too."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._installed: dict[int, tuple[Callable[[int, FrameType | None], None], Any]] = {}
        self._held: list[tuple[int, FrameType | None]] = []
        self._finished = False
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only
        for number in _SIGNALS:
            before = signal.getsignal(number)

            def handler(received: int, frame: FrameType | None) -> None:
                if self._finished:
                    self._pass_on(received, frame)
                else:
                    self._held.append((received, frame))
                    self._wake()

            signal.signal(number, handler)
            self._installed[number] = (handler, before)

    def _pass_on(self, number: int, frame: FrameType | None) -> None:
        before = self._installed[number][1] if number in self._installed else signal.SIG_DFL
        if callable(before):
            before(number, frame)
        elif before == signal.SIG_DFL:
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)

    def restore(self) -> None:
        """Put the handlers back as they were."""
        for number, (handler, before) in self._installed.items():
            if signal.getsignal(number) is handler:
                signal.signal(number, before)

    def finish(self) -> None:
        """Let the signals held back act, as they would have without the app."""
        self._finished = True
        held, self._held = self._held, []
        for number, frame in held:
            self._pass_on(number, frame)


def waker(event: anyio.Event) -> Callable[[], None]:
    """A function that sets ``event`` from a signal handler: it only asks the event loop of the
    calling task (asyncio's or trio's) to do so, which both allow from a signal handler."""
    if running_on_trio():
        import trio  # noqa: PLC0415 - only when it runs this task

        token = trio.lowlevel.current_trio_token()

        def wake_trio() -> None:
            token.run_sync_soon(event.set)

        return wake_trio
    import asyncio  # noqa: PLC0415

    loop = asyncio.get_running_loop()

    def wake_asyncio() -> None:
        loop.call_soon_threadsafe(event.set)

    return wake_asyncio

"""One ASGI application serving channels over HTTP: publish, poll, long poll, SSE, WebSocket.

This module holds the app's settings, its lifespan and its routing; each endpoint is served by a
module of its own: ``_publish``, ``_polls`` (poll and long poll), ``_events`` (Server-Sent
Events) and ``_websocket``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack

import anyio

from .._core import check_count, check_seconds
from .._defaults import (
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SSE_RETRY,
)
from .._exceptions import AccessDenied
from .._server_statistics import ServerCounts, ServerStatistics
from .._serving import Served, ServedChannels
from ._events import serve_events, serve_goodbye
from ._fragments import Fragments
from ._metrics import METRICS_NAME, MetricsPage
from ._polls import serve_poll
from ._publish import serve_publish
from ._request import HttpError, Receive, Scope, Send, parameters, respond
from ._shutdown import Closing, SignalWatch, waker
from ._statuses import refusals
from ._websocket import serve_websocket

__all__ = ["HttpApp"]

_log = logging.getLogger("deliverymodes.http")

Authorize = Callable[[Scope, str, str], "bool | Awaitable[bool]"]

#: Longest a signal is held back while the app ends its streams, and how long the server is
#: given to write their last bytes out before the signal acts.
_GRACE, _SETTLE = 1.0, 0.05
_CLIENT_ERRORS = frozenset({400, 413})  # requests that break the protocol: logged


class HttpApp:
    """A pure ASGI application exposing ``channels`` (name → channel) in every model.

    - ``POST /{name}``: publish (JSON, text or raw bytes by content type).
    - ``GET /{name}?cursor=N&max_messages=…&max_bytes=…``: poll, answered at once.
    - the same with ``wait=S`` (and ``min_messages``, ``min_bytes``): long poll.
    - ``GET /{name}/events``: Server-Sent Events, resumable with ``Last-Event-ID``.
    - WebSocket ``/{name}/ws``: push (and publish, by sending text frames).
    - with ``metrics=True``, ``GET /metrics``: the channels' statistics and the app's own
      :meth:`statistics` in the Prometheus text format (needs ``prometheus-client``); no channel
      may then be named "metrics".

    ``authorize(scope, channel, action)`` (action: "publish", "poll" or "subscribe"; "metrics"
    with channel "" for ``/metrics``) may return False (403) or raise :class:`AccessDenied`; it
    may be a coroutine function. Mount it anywhere: Starlette, FastAPI, Quart, or a bare ASGI
    server.

    ``lifespan``, a function returning an async context manager (``@asynccontextmanager``), is
    entered when the ASGI lifespan starts, before the server is told the app started, and left
    when it shuts down, after the app closed and before the server is told: where to open the
    channels (and their Redis client) and close them, in the one task anyio needs.
    """

    def __init__(
        self,
        channels: Mapping[str, object],
        *,
        authorize: Authorize | None = None,
        max_wait: float = DEFAULT_MAX_LONG_POLL_WAIT,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        retry: float = DEFAULT_SSE_RETRY,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        shutdown_on_signals: bool = True,
        metrics: bool = False,
        lifespan: Callable[[], AbstractAsyncContextManager[object]] | None = None,
    ) -> None:
        self._served = ServedChannels(channels)
        if any("/" in name or not name for name in channels):
            raise ValueError("channel names must be non-empty and contain no '/'")
        if not isinstance(metrics, bool):
            raise TypeError(f"metrics must be a bool, not {metrics!r}")
        if metrics and METRICS_NAME in channels:
            raise ValueError(
                f"a channel named {METRICS_NAME!r} cannot be served with metrics=True:"
                f" /{METRICS_NAME} is the metrics endpoint"
            )
        self.authorize = authorize
        self.max_wait = check_seconds("max_wait", max_wait)
        self.keepalive_interval = check_seconds("keepalive_interval", keepalive_interval)
        self.retry = check_seconds("retry", retry)
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.max_body_size = check_count("max_body_size", max_body_size)
        if not isinstance(shutdown_on_signals, bool):
            raise TypeError(f"shutdown_on_signals must be a bool, not {shutdown_on_signals!r}")
        self.shutdown_on_signals = shutdown_on_signals
        if lifespan is not None and not callable(lifespan):
            raise TypeError(
                f"lifespan must be a function returning an async context manager, not {lifespan!r}"
            )
        self.lifespan = lifespan
        self._fragments = Fragments()
        self._closing = Closing()
        self._counts = ServerCounts()
        self._metrics = MetricsPage(self) if metrics else None

    @property
    def channels(self) -> Mapping[str, object]:
        """The channels served, by name (the mapping given, still the caller's)."""
        return self._served.channels

    @property
    def metrics(self) -> bool:
        """Whether ``GET /metrics`` is served."""
        return self._metrics is not None

    def statistics(self) -> ServerStatistics:
        """What the app has served since it was made: requests and WebSockets open now, and
        counted (see :class:`ServerStatistics`)."""
        return self._counts.statistics()

    @property
    def closed(self) -> bool:
        """True once the app is closed: its streams ended, new requests refused (503)."""
        return self._closing.closed

    async def aclose(self) -> None:
        """End everything open at once: event streams end cleanly (after a ``retry:`` hint),
        waiting long polls are answered with what they have, WebSockets are closed with 1001
        (going away), publishes waiting for room are withdrawn (503). Requests that come after
        get 503, WebSockets 1001, until a lifespan starts it again. Called on the lifespan's
        shutdown, and on SIGTERM or SIGINT when ``shutdown_on_signals`` (the channels themselves
        stay open)."""
        self._closing.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            return
        counts = self._counts
        counts.connections_opened += 1
        counts.requests += 1
        counts.connections += 1
        try:
            if kind == "http":
                await self._http(scope, receive, send)
            else:
                await serve_websocket(self, scope, receive, send)
        finally:
            counts.connections -= 1

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Startup and shutdown; meanwhile, close at once on SIGTERM or SIGINT, before the
        server waits for the streams that would otherwise hold its shutdown up."""
        signalled = anyio.Event()
        watch: SignalWatch | None = None

        async def close_on_signal() -> None:
            await signalled.wait()
            await self.aclose()
            assert watch is not None
            with anyio.move_on_after(_GRACE):
                await self._closing.wait_ended()
                await anyio.sleep(_SETTLE)  # the server writes out what the streams sent last
            watch.finish()  # now the server's own handler (or the default) acts

        async with anyio.create_task_group() as tg, AsyncExitStack() as opened:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.closed:  # served again (a new server run): open again
                        self._closing = Closing()
                    if self.lifespan is not None:
                        try:
                            await opened.enter_async_context(self.lifespan())
                        except Exception as error:
                            _log.exception("the lifespan failed to start")
                            failed = {"type": "lifespan.startup.failed", "message": repr(error)}
                            await send(failed)
                            return
                    if self.shutdown_on_signals:
                        watch = SignalWatch(waker(signalled))
                        tg.start_soon(close_on_signal)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    if watch is not None:
                        watch.restore()
                    # Before the server is told, which may then end this task; not under a
                    # shield: the contexts were entered outside one (anyio's scopes nest).
                    await opened.aclose()
                    tg.cancel_scope.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, scope: Scope) -> tuple[str, Served, str]:
        """The channel a request is for, and its kind: "channel", "events" or "ws"."""
        path, parts = _path(scope)
        if len(parts) == 1:
            kind = "channel"
        elif len(parts) == 2 and parts[1] in ("events", "ws"):
            kind = parts[1]
        else:
            raise HttpError(404, f"no such path: {path[:100]}")
        # With metrics on, a channel added to the mapping under the endpoint's name is not served.
        reserved = self._metrics is not None and parts[0] == METRICS_NAME
        channel = None if reserved else self._served.get(parts[0])
        if channel is None:
            raise HttpError(404, f"no channel named {parts[0][:100]!r}")
        return parts[0], channel, kind

    async def _check_access(self, scope: Scope, name: str, action: str) -> None:
        if self.authorize is None:
            return
        with refusals(only=(AccessDenied,)):  # a failing hook is the server's failure
            allowed = self.authorize(scope, name, action)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        if not allowed:
            what = "read the metrics" if action == "metrics" else f"{action} on {name!r}"
            raise HttpError(403, f"not allowed to {what}")

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if self._metrics is not None and _path(scope)[1] == [METRICS_NAME]:
                await self._serve_metrics(scope, self._metrics, send)
                return
            name, channel, kind = self._route(scope)
            if self.closed:
                if kind == "events" and scope["method"] == "GET":
                    self._counts.refused += 1  # a stream that ends at once: come back later
                    await serve_goodbye(self, send)
                    return
                raise HttpError(503, "the server is shutting down", [(b"retry-after", b"3")])
            method = scope["method"]
            if kind == "ws":
                if method == "GET":
                    upgrade = [(b"upgrade", b"websocket")]
                    raise HttpError(426, "this path takes WebSocket connections", upgrade)
                raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
            if kind == "events":
                if method != "GET":
                    raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET")])
                await self._check_access(scope, name, "subscribe")
                await serve_events(self, scope, receive, send, channel)
            elif method == "POST":
                await self._check_access(scope, name, "publish")
                await serve_publish(self, scope, receive, send, channel)
            elif method == "GET":
                await self._check_access(scope, name, "poll")
                await serve_poll(self, scope, receive, send, channel, name=name)
            else:
                raise HttpError(405, f"{method} not allowed", [(b"allow", b"GET, POST")])
        except HttpError as error:
            self._counts.refused += 1
            if error.status in _CLIENT_ERRORS:
                _log.info("a bad request (%d): %s", error.status, error.message)
            await respond(send, error.status, {"error": error.message}, error.headers)

    async def _serve_metrics(self, scope: Scope, page: MetricsPage, send: Send) -> None:
        if self.closed:
            raise HttpError(503, "the server is shutting down", [(b"retry-after", b"3")])
        if scope["method"] != "GET":
            raise HttpError(405, f"{scope['method']} not allowed", [(b"allow", b"GET")])
        parameters(scope, frozenset())
        await self._check_access(scope, "", "metrics")
        await page.serve(send)


def _path(scope: Scope) -> tuple[str, list[str]]:
    """A request's path below the app's root, and its non-empty segments."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path, [part for part in path.split("/") if part]

"""Channels over HTTP: an ASGI application (poll, long poll, SSE, WebSocket) and its clients."""

from .._exceptions import AccessDenied
from ._app import HttpApp
from ._sse import ServerSentEvent, SseParser, format_comment, format_event

__all__ = [
    "AccessDenied",
    "HttpApp",
    "ServerSentEvent",
    "SseParser",
    "format_comment",
    "format_event",
]

"""What a server has done: the same shape for every adapter that accepts connections.

A server keeps plain integer counts as it opens and ends connections and answers requests
(nothing per message); ``statistics()`` takes a frozen snapshot of them.
"""

from __future__ import annotations

import attrs

__all__ = ["ServerCounts", "ServerStatistics"]


@attrs.frozen(kw_only=True)
class ServerStatistics:
    """What a server has done since it was created, the same fields for every server (zero
    where a server has no such thing).

    Levels now:

    - ``connections``: connections open (for ``HttpApp``: HTTP requests being answered, event
      streams and long polls included, and WebSockets open; for the TCP server: wire
      connections).
    - ``event_streams``: of those, Server-Sent Event streams open.
    - ``websockets``: of those, WebSockets open (accepted and not closed).

    Counts since the server was created:

    - ``connections_opened``: connections received (``HttpApp``: HTTP requests, WebSocket
      handshakes included; the TCP server: connections accepted).
    - ``requests``: requests received (``HttpApp``: HTTP requests, WebSocket handshakes
      included, and the frames WebSockets send, each a publish; the TCP server: PUBLISH, POLL,
      LONG_POLL and SUBSCRIBE frames).
    - ``refused``: requests answered with an error (``HttpApp``: a 4xx or 5xx status, a WebSocket
      closed at once or a frame answered with an error; the TCP server: an ERROR answering a
      request, except the one confirming the client's own CANCEL).
    """

    connections: int = 0
    event_streams: int = 0
    websockets: int = 0
    connections_opened: int = 0
    requests: int = 0
    refused: int = 0


class ServerCounts:
    """The counts behind :class:`ServerStatistics`, changed in place by the serving code.

    Give one to ``serve_tcp`` (``serve_unix``, ``serve_listener``, ``serve``) as ``counts=`` to
    read what the server did: ``counts.statistics()``, or
    ``ChannelCollector(channels, servers={"tcp": counts})``. One may be shared by several
    servers, which then count together.
    """

    __slots__ = (
        "connections",
        "connections_opened",
        "event_streams",
        "refused",
        "requests",
        "websockets",
    )

    def __init__(self) -> None:
        self.connections = 0
        self.event_streams = 0
        self.websockets = 0
        self.connections_opened = 0
        self.requests = 0
        self.refused = 0

    def statistics(self) -> ServerStatistics:
        """A snapshot of the counts now."""
        return ServerStatistics(
            connections=self.connections,
            event_streams=self.event_streams,
            websockets=self.websockets,
            connections_opened=self.connections_opened,
            requests=self.requests,
            refused=self.refused,
        )

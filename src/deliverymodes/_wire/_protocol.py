"""The two ends of a wire connection as sans-IO state machines (think h11).

Bytes in with ``receive_data``, events out with ``next_event``; events in with ``send``, bytes
out. They check framing, the handshake and which side may send what; what a request *means* is
left to the code that drives them (the server and client in ``deliverymodes``, or yours).
"""

from __future__ import annotations

import enum

from .._exceptions import ProtocolError
from ._frames import (
    MIN_FRAME_SIZE,
    PROTOCOL_VERSION,
    Batch,
    Cancel,
    Close,
    Credit,
    End,
    Error,
    ErrorCode,
    Event,
    FrameDecoder,
    Hello,
    Keepalive,
    LongPoll,
    Poll,
    Publish,
    Published,
    Push,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Welcome,
    encode,
)

__all__ = ["ClientProtocol", "ServerProtocol", "State"]

_FROM_CLIENT = (
    Error,
    Hello,
    Publish,
    Subscribe,
    Credit,
    Unsubscribe,
    Poll,
    LongPoll,
    Cancel,
    Keepalive,
    Close,
)
_REQUESTS = (Publish, Subscribe, Poll, LongPoll, Cancel)
_FROM_SERVER = (Welcome, Published, Subscribed, Push, End, Batch, Error, Keepalive, Close)


class State(enum.Enum):
    """Where a connection is: before the handshake, open, or closed by one side."""

    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class _Protocol:
    _receives: tuple[type, ...]
    _sends: tuple[type, ...]

    def __init__(self, max_frame_size: int) -> None:
        if max_frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be >= {MIN_FRAME_SIZE}, got {max_frame_size}")
        self._decoder = FrameDecoder(max_frame_size)
        self.state = State.HANDSHAKE
        self.peer_max_frame_size = max_frame_size

    @property
    def max_frame_size(self) -> int:
        """The largest frame this end accepts."""
        return self._decoder.max_frame_size

    def receive_data(self, data: bytes) -> None:
        """Add bytes that arrived from the peer."""
        self._decoder.receive_data(data)

    def next_event(self) -> Event | None:
        """The next event from the peer, or None until more bytes arrive.

        Raises :class:`ProtocolError` for bytes that break the protocol: send its code in an
        ``Error(0, …)`` frame and close the connection.
        """
        event = self._decoder.next_event()
        if event is None:
            return None
        if not isinstance(event, self._receives):
            raise ProtocolError(
                ErrorCode.PROTOCOL_VIOLATION,
                f"{type(event).__name__.upper()} frames do not travel in this direction",
            )
        if self.state is State.CLOSED:
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "frame after CLOSE")
        self._received(event)
        return event

    def _received(self, event: Event) -> None:
        if isinstance(event, Close):
            self.state = State.CLOSED

    def send(self, event: Event) -> bytes:
        """The bytes to send for ``event``; raises ``TypeError`` if this end may not send it."""
        if not isinstance(event, self._sends):
            raise TypeError(f"this end does not send {type(event).__name__} frames")
        if isinstance(event, Close):
            self.state = State.CLOSED
        return encode(event)


def _peer_max_frame_size(size: int) -> int:
    if size < MIN_FRAME_SIZE:
        raise ProtocolError(
            ErrorCode.PROTOCOL_VIOLATION,
            f"max_frame_size {size} is below the minimum of {MIN_FRAME_SIZE}",
        )
    return size


class ServerProtocol(_Protocol):
    """The serving end: expects HELLO first, then requests; sends WELCOME, answers and pushes."""

    _receives = _FROM_CLIENT
    _sends = _FROM_SERVER

    def _received(self, event: Event) -> None:
        if self.state is State.HANDSHAKE:
            if not isinstance(event, Hello):
                raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "the first frame must be HELLO")
            if event.version != PROTOCOL_VERSION:
                raise ProtocolError(
                    ErrorCode.PROTOCOL_VIOLATION,
                    f"protocol version {event.version} is not supported (this server speaks "
                    f"{PROTOCOL_VERSION})",
                )
            self.peer_max_frame_size = _peer_max_frame_size(event.max_frame_size)
            self.state = State.OPEN
        elif isinstance(event, Hello):
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "HELLO sent twice")
        elif isinstance(event, Error) and event.request != 0:
            raise ProtocolError(
                ErrorCode.PROTOCOL_VIOLATION, "an ERROR from a client must carry request 0"
            )
        elif isinstance(event, _REQUESTS) and event.request == 0:
            kind = type(event).__name__.upper()
            raise ProtocolError(
                ErrorCode.PROTOCOL_VIOLATION, f"{kind} with request number 0, which is reserved"
            )
        else:
            super()._received(event)

    def welcome(self) -> bytes:
        """The WELCOME frame answering the client's HELLO."""
        return self.send(Welcome(PROTOCOL_VERSION, self.max_frame_size))


class ClientProtocol(_Protocol):
    """The connecting end: sends HELLO first, then requests; expects WELCOME, answers and pushes."""

    _receives = _FROM_SERVER
    _sends = _FROM_CLIENT

    def hello(self) -> bytes:
        """The HELLO frame that opens the connection."""
        return self.send(Hello(PROTOCOL_VERSION, self.max_frame_size))

    def _received(self, event: Event) -> None:
        if self.state is State.HANDSHAKE:
            if isinstance(event, Welcome):
                self.peer_max_frame_size = _peer_max_frame_size(event.max_frame_size)
                self.state = State.OPEN
                return
            if not (isinstance(event, Error) and event.request == 0):
                raise ProtocolError(
                    ErrorCode.PROTOCOL_VIOLATION, "the server's first frame must be WELCOME"
                )
        elif isinstance(event, Welcome):
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "WELCOME sent twice")
        super()._received(event)

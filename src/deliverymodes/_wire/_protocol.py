"""The framing and handshake of a wire connection's two ends (think h11), under the connection
objects.

Bytes in with ``receive_data``, events out with ``next_event``; events in with ``send``, bytes
out. They check framing, the handshake and which side may send what; what requests *mean*
(numbers open, subscriptions, credit, limits) is tracked by ``ServerConnection`` and
``ClientConnection``, built on them.
"""

from __future__ import annotations

from .._exceptions import ProtocolError
from ._decode import FrameDecoder
from ._encode import encode
from ._events import (
    MIN_FRAME_SIZE,
    PROTOCOL_VERSION,
    Cancel,
    Close,
    Error,
    ErrorCode,
    Event,
    Hello,
    LongPoll,
    Poll,
    Publish,
    Subscribe,
    Welcome,
)
from ._state import CONNECTION_TRANSITIONS, FROM_CLIENT, FROM_SERVER, State, frame_name

__all__ = ["ClientProtocol", "FrameProtocol", "ServerProtocol", "State"]


class FrameProtocol:
    """Framing, the handshake, and which side may send what; the state moves as ``_state`` says."""

    _receives: tuple[type, ...]
    _sends: tuple[type, ...]

    def __init__(self, max_frame_size: int) -> None:
        if max_frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be >= {MIN_FRAME_SIZE}, got {max_frame_size}")
        self._decoder = FrameDecoder(max_frame_size)
        self.state = State.HANDSHAKE
        self.peer_max_frame_size = max_frame_size
        # Who closed: after the peer's CLOSE (or ERROR 0) nothing more may come from it; after
        # this end's CLOSE nothing more may go, but the peer still answers what it was asked.
        self._peer_closed = False
        self._closed_here = False

    @property
    def max_frame_size(self) -> int:
        """The largest frame this end accepts."""
        return self._decoder.max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as events (part of a frame, or more)."""
        return self._decoder.buffered

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
                f"{frame_name(type(event))} frames do not travel in this direction",
            )
        if self._peer_closed:
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "frame after CLOSE or ERROR 0")
        self._received(event)
        return event

    def _received(self, event: Event) -> None:
        if isinstance(event, Error) and event.request:
            return  # an answer to one request: the connection goes on
        self.state = CONNECTION_TRANSITIONS[self.state].get(type(event), self.state)
        if self.state is State.CLOSED and isinstance(event, (Close, Error)):
            self._peer_closed = True

    def send(self, event: Event) -> bytes:
        """The bytes to send for ``event``; raises ``TypeError`` if this end may not send it."""
        if not isinstance(event, self._sends):
            raise TypeError(f"this end does not send {type(event).__name__} frames")
        if self._closed_here:
            raise RuntimeError(f"{frame_name(type(event))} after this end's CLOSE")
        if isinstance(event, Close):
            self.state = CONNECTION_TRANSITIONS[self.state][Close]
            self._closed_here = True
        frame = encode(event)
        if len(frame) > self.peer_max_frame_size:
            raise ValueError(
                f"a {frame_name(type(event))} frame of {len(frame)} bytes is larger than the"
                f" peer's max_frame_size of {self.peer_max_frame_size}"
            )
        return frame


def _peer_max_frame_size(size: int) -> int:
    if size < MIN_FRAME_SIZE:
        raise ProtocolError(
            ErrorCode.PROTOCOL_VIOLATION,
            f"max_frame_size {size} is below the minimum of {MIN_FRAME_SIZE}",
        )
    return size


class ServerProtocol(FrameProtocol):
    """The serving end: expects HELLO first, then requests; sends WELCOME, answers and pushes."""

    _receives = FROM_CLIENT
    _sends = FROM_SERVER

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
            super()._received(event)
        elif isinstance(event, Hello):
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "HELLO sent twice")
        elif isinstance(event, Error) and event.request != 0:
            raise ProtocolError(
                ErrorCode.PROTOCOL_VIOLATION, "an ERROR from a client must carry request 0"
            )
        elif isinstance(event, (Publish, Subscribe, Poll, LongPoll, Cancel)) and event.request == 0:
            kind = frame_name(type(event))
            raise ProtocolError(
                ErrorCode.PROTOCOL_VIOLATION, f"{kind} with request number 0, which is reserved"
            )
        else:
            super()._received(event)

    def welcome(self) -> bytes:
        """The WELCOME frame answering the client's HELLO."""
        return self.send(Welcome(PROTOCOL_VERSION, self.max_frame_size))


class ClientProtocol(FrameProtocol):
    """The connecting end: sends HELLO first, then requests; expects WELCOME, answers and pushes."""

    _receives = FROM_SERVER
    _sends = FROM_CLIENT

    def hello(self) -> bytes:
        """The HELLO frame that opens the connection."""
        return self.send(Hello(PROTOCOL_VERSION, self.max_frame_size))

    def _received(self, event: Event) -> None:
        if self.state is State.HANDSHAKE:
            if isinstance(event, Welcome):
                self.peer_max_frame_size = _peer_max_frame_size(event.max_frame_size)
            elif not (isinstance(event, Error) and event.request == 0):
                raise ProtocolError(
                    ErrorCode.PROTOCOL_VIOLATION, "the server's first frame must be WELCOME"
                )
        elif isinstance(event, Welcome):
            raise ProtocolError(ErrorCode.PROTOCOL_VIOLATION, "WELCOME sent twice")
        super()._received(event)

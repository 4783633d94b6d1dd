"""What the two connection objects share: bytes in, end of stream as an event, requests and
subscriptions moved through the tables of ``_state``."""

from __future__ import annotations

from .._exceptions import ErrorCode, ProtocolError
from ._events import ConnectionEnded, Event
from ._protocol import FrameProtocol
from ._state import CONNECTION_TRANSITIONS, SUBSCRIPTION_TRANSITIONS, State, Subscription

__all__ = ["Connection"]


class Connection:
    """The part of a connection object that does not depend on its side."""

    def __init__(self, protocol: FrameProtocol) -> None:
        self._protocol = protocol
        self._ended = False  # the peer's byte stream ended
        self._end_told = False  # and ``ConnectionEnded`` was given out
        self._requests: dict[int, Event] = {}  # open requests: number → the frame that opened it
        self._subscriptions: dict[int, Subscription] = {}
        self._credit: dict[int, int] = {}  # messages the server may still push, per subscription

    @property
    def state(self) -> State:
        """Where the connection is: ``HANDSHAKE``, ``OPEN`` or ``CLOSED``."""
        return self._protocol.state

    @property
    def max_frame_size(self) -> int:
        """The largest frame this end accepts."""
        return self._protocol.max_frame_size

    @property
    def peer_max_frame_size(self) -> int:
        """The largest frame the peer accepts (this end's own until the handshake tells)."""
        return self._protocol.peer_max_frame_size

    @property
    def open_requests(self) -> frozenset[int]:
        """The numbers of the requests sent and not yet answered."""
        return frozenset(self._requests)

    @property
    def subscriptions(self) -> dict[int, Subscription]:
        """The open push subscriptions, by number (a copy)."""
        return dict(self._subscriptions)

    def credit(self, subscription: int) -> int:
        """How many more messages the server may push to ``subscription`` (0 if not open)."""
        return self._credit.get(subscription, 0)

    def receive_data(self, data: bytes) -> None:
        """Add bytes that arrived from the peer; ``b""`` says its stream ended."""
        if not data:
            self._ended = True
        elif not self._ended:
            self._protocol.receive_data(data)

    def _next_frame(self) -> Event | ConnectionEnded | None:
        """The next frame, ``ConnectionEnded`` once after the last one, or None."""
        event = self._protocol.next_event()
        if event is not None or not self._ended or self._end_told:
            return event
        self._end_told = True
        self._protocol.state = CONNECTION_TRANSITIONS[self.state][ConnectionEnded]
        return ConnectionEnded(mid_frame=self._protocol.buffered > 0)

    def _move(self, subscription: int, frame: type) -> Subscription | None:
        """Move ``subscription`` as ``frame`` does; ``KeyError`` if the tables do not allow it."""
        moved = SUBSCRIPTION_TRANSITIONS[self._subscriptions.get(subscription), frame]
        if moved is None:
            del self._subscriptions[subscription]
            self._credit.pop(subscription, None)
        else:
            self._subscriptions[subscription] = moved
        return moved


def violation(message: str) -> ProtocolError:
    """The fatal error for a frame the state machines do not allow."""
    return ProtocolError(ErrorCode.PROTOCOL_VIOLATION, message)

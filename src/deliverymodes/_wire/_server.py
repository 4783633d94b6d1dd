"""The serving end of a wire connection as a sans-IO object: what the client's requests mean.

``ServerConnection`` takes the client's bytes and gives events; it tracks the requests open on
the connection, the long polls held waiting, the push subscriptions and their credit, and the
connection's limits, and refuses what they do not allow. Answers go out through it, so that every
request gets one answer and no subscription gets more than its credit. What a request does to a
channel is left to the code that drives it (``deliverymodes``' TCP server, or yours).
"""

from __future__ import annotations

from .._exceptions import ErrorCode
from ._connection import Connection, violation
from ._encode import encode_batch, encode_push
from ._events import (
    PROTOCOL_VERSION,
    Batch,
    Cancel,
    ConnectionEnded,
    Credit,
    End,
    Event,
    LongPoll,
    Publish,
    Push,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Welcome,
    WireMessage,
)
from ._protocol import ServerProtocol
from ._state import ANSWERS, REQUESTS, SUBSCRIPTION_TRANSITIONS, frame_name
from ._translate import RequestRefused

__all__ = ["FRAME_OVERHEAD", "ServerConnection"]

#: A BATCH frame's fields before its messages: request, epoch, cursor, missed, flags, reason.
BatchHead = tuple[int, int, int, int, int, int]

#: Room left in a frame for everything but payloads: a message's payload may be at most
#: ``max_frame_size - FRAME_OVERHEAD`` bytes, so that it fits a PUSH or BATCH frame alone.
FRAME_OVERHEAD = 64


class ServerConnection(Connection):
    """One client's connection, seen from the server, with no I/O.

    Feed it with ``receive_data`` (``b""`` at the end of the stream) and read ``next_event``
    until None. ``check`` and ``hold`` refuse a request the limits do not allow (raising
    :class:`RequestRefused`, to be answered with ``send(Error(...))``); ``send``, ``batch`` and
    ``push`` give the bytes of answers and pushes. Frames that change nothing (a CREDIT, CANCEL
    or UNSUBSCRIBE for what is no longer open) are taken in silently.
    """

    def __init__(
        self, *, max_frame_size: int, max_subscriptions: int, max_waiting_polls: int
    ) -> None:
        super().__init__(ServerProtocol(max_frame_size))
        self.max_subscriptions = max_subscriptions
        self.max_waiting_polls = max_waiting_polls
        self._held: set[int] = set()  # long polls waiting to be released

    @property
    def waiting(self) -> int:
        """How many long polls are held waiting."""
        return len(self._held)

    def next_event(self) -> Event | ConnectionEnded | None:
        """The next event from the client, or None until more bytes arrive.

        Raises :class:`ProtocolError` for what breaks the protocol: send ``Error(0, code, …)``
        and close. After the end of the stream, ``ConnectionEnded`` comes once.
        """
        while True:
            event = self._next_frame()
            if isinstance(event, REQUESTS):
                opened = self._requests.get(event.request)
                if opened is not None:
                    raise violation(
                        f"request number {event.request} is in use by a "
                        f"{frame_name(type(opened))} still unanswered"
                    )
                self._requests[event.request] = event
            elif isinstance(event, Credit):
                if event.subscription not in self._subscriptions:
                    continue  # it ended: its END crossed the CREDIT
                self._move(event.subscription, Credit)
                self._credit[event.subscription] += event.messages
            elif isinstance(event, Unsubscribe):
                if event.subscription not in self._subscriptions:
                    continue  # it ended already: its END crossed the UNSUBSCRIBE
                self._move(event.subscription, Unsubscribe)
            elif isinstance(event, Cancel) and event.request not in self._requests:
                continue  # answered already, or never asked
            return event

    def welcome(self) -> bytes:
        """The WELCOME frame answering the client's HELLO."""
        return self._protocol.send(Welcome(PROTOCOL_VERSION, self.max_frame_size))

    def check(self, event: Publish | Subscribe) -> None:
        """Raise :class:`RequestRefused` if this connection's limits refuse ``event``."""
        if isinstance(event, Publish):
            limit = self.max_frame_size - FRAME_OVERHEAD
            if len(event.data) > limit:
                message = f"payload of {len(event.data)} bytes exceeds {limit}"
                raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
            return
        if event.subscription in self._subscriptions:
            message = f"subscription {event.subscription} is already open"
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, message)
        if len(self._subscriptions) >= self.max_subscriptions:
            message = f"this connection already has {len(self._subscriptions)} subscriptions"
            raise RequestRefused(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message)
        if event.window < 1:
            raise RequestRefused(ErrorCode.BAD_ARGUMENT, "window must be >= 1")

    def hold(self, request: int) -> None:
        """Keep long poll ``request`` waiting; :class:`RequestRefused` if too many already are."""
        if not isinstance(self._requests.get(request), LongPoll):
            raise RuntimeError(f"request {request} is not an open long poll")  # noqa: TRY004
        if len(self._held) >= self.max_waiting_polls:
            message = f"{len(self._held)} long polls are already waiting on this connection"
            raise RequestRefused(ErrorCode.TOO_MANY_REQUESTS, message)
        self._held.add(request)

    def send(self, event: Event) -> bytes:
        """The bytes of ``event``; an answer closes its request, SUBSCRIBED opens a subscription
        with the window asked for, END closes one. ``RuntimeError`` for what may not be sent."""
        if isinstance(event, Push):
            return self.push(event.subscription, list(event.messages))
        request = getattr(event, "request", 0)
        if request:  # an answer (an ERROR for request 0 is about the connection)
            opened = self._answer(request, type(event))
            if isinstance(event, Subscribed):
                assert isinstance(opened, Subscribe)
                if opened.subscription != event.subscription:
                    raise RuntimeError(f"SUBSCRIBE {request} asked for another subscription")
                self._allow(event.subscription, Subscribed)
                self._credit[event.subscription] = opened.window
        elif isinstance(event, End):
            self._allow(event.subscription, End)
        return self._protocol.send(event)

    def batch(
        self,
        head: tuple[int, int, int, int, int, int],
        messages: list[tuple[int, float, int, bytes]],
    ) -> bytes:
        """A BATCH answering request ``head[0]`` (see ``encode_batch``), without event objects."""
        self._answer(head[0], Batch)
        return encode_batch(head, messages)

    def push(
        self, subscription: int, messages: list[tuple[int, float, int, bytes]] | list[WireMessage]
    ) -> bytes:
        """A PUSH of ``messages`` to ``subscription``, spending as much of its credit."""
        credit = self._credit.get(subscription)
        state = self._subscriptions.get(subscription)
        if credit is None or (state, Push) not in SUBSCRIPTION_TRANSITIONS:
            raise RuntimeError(f"subscription {subscription} is not open")
        if len(messages) > credit:
            raise RuntimeError(f"{len(messages)} messages exceed the credit of {credit}")
        self._credit[subscription] = credit - len(messages)
        return encode_push(subscription, messages)  # type: ignore[arg-type]

    def _answer(self, request: int, answer: type) -> Event:
        """Close ``request`` with an answer of type ``answer``; returns what opened it."""
        opened = self._requests.get(request)
        if opened is None or answer not in ANSWERS[type(opened)]:
            raise RuntimeError(f"request {request} is not open for a {answer.__name__} answer")
        del self._requests[request]
        self._held.discard(request)
        return opened

    def _allow(self, subscription: int, frame: type) -> None:
        try:
            self._move(subscription, frame)
        except KeyError:
            raise RuntimeError(f"no {frame.__name__} for subscription {subscription} now") from None

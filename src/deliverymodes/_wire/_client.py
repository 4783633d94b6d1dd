"""The connecting end of a wire connection as a sans-IO object: requests and their answers.

``ClientConnection`` gives the bytes of the client's requests and takes the server's bytes in; it
tracks the requests open on the connection (an answer to anything else is a protocol violation),
the ones the client withdrew (their answer is taken in silently), the push subscriptions and the
credit the server may still spend on each. Waiting for answers is left to the code that drives it
(``deliverymodes``' ``Remote``, or yours).
"""

from __future__ import annotations

from ._connection import Connection, violation
from ._events import (
    PROTOCOL_VERSION,
    Batch,
    Cancel,
    ConnectionEnded,
    Credit,
    End,
    Error,
    Event,
    Hello,
    Published,
    Push,
    Subscribe,
    Subscribed,
    Unsubscribe,
)
from ._protocol import ClientProtocol
from ._state import ANSWERS, REQUESTS, SUBSCRIPTION_TRANSITIONS, frame_name

__all__ = ["ClientConnection"]

_ANSWER_KINDS = (Published, Batch, Subscribed, Error)


class ClientConnection(Connection):
    """One connection to a server, seen from the client, with no I/O.

    ``hello`` gives the first bytes to send; ``send`` the bytes of each request, CREDIT, CANCEL
    or UNSUBSCRIBE. Feed what the server sends to ``receive_data`` (``b""`` at the end of the
    stream) and read ``next_event`` until None. A request numbered like one still open raises
    ``RuntimeError``; an answer to no open request, a PUSH beyond the credit or for no open
    subscription raise :class:`ProtocolError` (send ``Error(0, …)`` and close).
    """

    def __init__(self, max_frame_size: int) -> None:
        super().__init__(ClientProtocol(max_frame_size))
        self._withdrawn: set[int] = set()  # open requests the client gave up on
        # Subscriptions asked for and not yet answered: the credit they will start with.
        self._asked: dict[int, int] = {}
        self._unsubscribed: set[int] = set()  # of those, the ones already asked to end
        self._hello_sent = False

    def hello(self) -> bytes:
        """The HELLO frame that opens the connection."""
        if self._hello_sent:
            raise RuntimeError("HELLO was sent already")
        self._hello_sent = True
        return self._protocol.send(Hello(PROTOCOL_VERSION, self.max_frame_size))

    def credit(self, subscription: int) -> int:
        """How many more messages the server may push to ``subscription`` (for one asked for
        and not yet answered: how many it may push once it confirms)."""
        asked = self._asked.get(subscription)
        return super().credit(subscription) if asked is None else asked

    def send(self, event: Event) -> bytes:
        """The bytes of ``event``, noting what it opens, withdraws or grants."""
        self._check_sendable(event)
        frame = self._protocol.send(event)  # refuses a frame too long before anything is noted
        if isinstance(event, REQUESTS):
            if event.request in self._requests:
                raise RuntimeError(f"request {event.request} is still open")
            if isinstance(event, Subscribe):
                number = event.subscription
                if number in self._subscriptions or number in self._asked:
                    raise RuntimeError(f"subscription {number} is open already")
                self._asked[number] = event.window
            self._requests[event.request] = event
        elif isinstance(event, Cancel):
            if event.request in self._requests:
                self._withdrawn.add(event.request)
        elif isinstance(event, Credit):
            number = event.subscription
            if number in self._subscriptions:
                self._move(number, Credit)
                self._credit[number] += event.messages
            elif number in self._asked:
                self._asked[number] += event.messages
        elif isinstance(event, Unsubscribe):
            number = event.subscription
            if number in self._subscriptions:
                self._move(number, Unsubscribe)
            elif number in self._asked:
                self._unsubscribed.add(number)
        return frame

    def _check_sendable(self, event: Event) -> None:
        """``RuntimeError`` for what a client may never send, whatever else is open."""
        if not self._hello_sent:
            raise RuntimeError("send hello() first")
        number = getattr(event, "request", None)
        if isinstance(event, Error):
            if number:
                raise RuntimeError("a client sends ERROR only for the connection (request 0)")
        elif number == 0:
            raise RuntimeError(f"{frame_name(type(event))} with request number 0 (reserved)")

    def next_event(self) -> Event | ConnectionEnded | None:
        """The next event from the server, or None until more bytes arrive.

        Answers to withdrawn requests are taken in silently. After the end of the stream,
        ``ConnectionEnded`` comes once.
        """
        while True:
            event = self._next_frame()
            if isinstance(event, _ANSWER_KINDS) and event.request:
                if self._answered(event):
                    continue
            elif isinstance(event, Push):
                self._pushed(event.subscription, len(event.messages))
            elif isinstance(event, End):
                if (self._subscriptions.get(event.subscription), End) not in (
                    SUBSCRIPTION_TRANSITIONS
                ):
                    raise violation(f"END for subscription {event.subscription}, not open")
                self._move(event.subscription, End)
            return event

    def _answered(self, event: Published | Batch | Subscribed | Error) -> bool:
        """Close the request ``event`` answers; True if the client had withdrawn it."""
        request, kind = event.request, type(event)
        opened = self._requests.pop(request, None)
        if opened is None:
            raise violation(f"{frame_name(kind)} for request {request}, which is not open")
        if kind not in ANSWERS[type(opened)]:
            raise violation(
                f"{frame_name(kind)} does not answer {frame_name(type(opened))} {request}"
            )
        if isinstance(opened, Subscribe):
            window = self._asked.pop(opened.subscription)
            ending = opened.subscription in self._unsubscribed
            self._unsubscribed.discard(opened.subscription)
            if isinstance(event, Subscribed):
                if event.subscription != opened.subscription:
                    raise violation(f"SUBSCRIBED {request} names another subscription")
                self._move(opened.subscription, Subscribed)
                self._credit[opened.subscription] = window
                if ending:
                    self._move(opened.subscription, Unsubscribe)
        if request in self._withdrawn:
            self._withdrawn.discard(request)
            return True
        return False

    def _pushed(self, subscription: int, count: int) -> None:
        state = self._subscriptions.get(subscription)
        if (state, Push) not in SUBSCRIPTION_TRANSITIONS:
            raise violation(f"PUSH for subscription {subscription}, which is not open")
        credit = self._credit[subscription]
        if count > credit:
            raise violation(f"PUSH of {count} messages beyond a credit of {credit}")
        self._credit[subscription] = credit - count

"""Every state and transition of a wire connection, written as data (think h11's ``_state.py``).

Three machines run in each connection, the same on both ends:

- the connection: ``HANDSHAKE`` until HELLO/WELCOME, ``OPEN``, then ``CLOSED`` once either side
  said CLOSE, failed with an ERROR for request 0, or the byte stream ended;
- each request, from the frame that opens it until the one answer that closes it
  (:data:`ANSWERS`); a client may withdraw one with CANCEL, which still gets its one answer;
- each push subscription, from SUBSCRIBED to END (:data:`SUBSCRIPTION_TRANSITIONS`), with the
  credit the client granted and the server spends.

``ServerConnection`` and ``ClientConnection`` look transitions up here; what is not here is
refused.
"""

from __future__ import annotations

import enum

from ._events import (
    Batch,
    Cancel,
    Close,
    ConnectionEnded,
    Credit,
    End,
    Error,
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
)

__all__ = [
    "ANSWERS",
    "CONNECTION_TRANSITIONS",
    "FROM_CLIENT",
    "FROM_SERVER",
    "REQUESTS",
    "SUBSCRIPTION_TRANSITIONS",
    "State",
    "Subscription",
    "frame_name",
]


class State(enum.Enum):
    """Where a connection is: before the handshake, open, or closed by one side."""

    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"

    # Members are singletons: hash them by identity, at C speed (looked up per frame).
    __hash__ = object.__hash__


#: The frames each side sends.
FROM_CLIENT = (
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
FROM_SERVER = (Welcome, Published, Subscribed, Push, End, Batch, Error, Keepalive, Close)

#: The connection: what moves it on, from either side. ``Error`` here is one for request 0.
CONNECTION_TRANSITIONS: dict[State, dict[type, State]] = {
    State.HANDSHAKE: {
        Hello: State.OPEN,
        Welcome: State.OPEN,
        Error: State.CLOSED,
        Close: State.CLOSED,
        ConnectionEnded: State.CLOSED,
    },
    State.OPEN: {
        Error: State.CLOSED,
        Close: State.CLOSED,
        ConnectionEnded: State.CLOSED,
    },
    State.CLOSED: {Error: State.CLOSED, Close: State.CLOSED, ConnectionEnded: State.CLOSED},
}

#: The frames that open a request, and the answers that close one of each kind.
REQUESTS = (Publish, Poll, LongPoll, Subscribe)
ANSWERS: dict[type, tuple[type, ...]] = {
    Publish: (Published, Error),
    Poll: (Batch, Error),
    LongPoll: (Batch, Error),
    Subscribe: (Subscribed, Error),
}


def frame_name(kind: type) -> str:
    """The name a frame kind has in the docs: ``LongPoll`` is ``LONG_POLL``."""
    name = kind.__name__
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(name)).upper()


class Subscription(enum.Enum):
    """A push subscription: pushing, or asked to end (UNSUBSCRIBE sent, END not yet)."""

    ACTIVE = "active"
    ENDING = "ending"

    __hash__ = object.__hash__  # as State's: looked up per PUSH


#: A subscription's life, by the frame that crosses (None: not open). Missing pairs are refused.
SUBSCRIPTION_TRANSITIONS: dict[tuple[Subscription | None, type], Subscription | None] = {
    (None, Subscribed): Subscription.ACTIVE,
    (Subscription.ACTIVE, Push): Subscription.ACTIVE,
    (Subscription.ENDING, Push): Subscription.ENDING,
    (Subscription.ACTIVE, Credit): Subscription.ACTIVE,
    (Subscription.ENDING, Credit): Subscription.ENDING,
    (Subscription.ACTIVE, Unsubscribe): Subscription.ENDING,
    (Subscription.ENDING, Unsubscribe): Subscription.ENDING,
    (Subscription.ACTIVE, End): None,
    (Subscription.ENDING, End): None,
}

"""Exceptions raised by deliverymodes.

::

    DeliveryError            base of what the library raises about delivery
    ├── ChannelClosed        the channel (or this subscription) is closed; nothing more will come
    ├── SlowConsumer         a push subscriber fell behind and was cut off (Overflow.DISCONNECT)
    ├── ProtocolError        the peer sent bytes that break the wire protocol (``code`` says how)
    ├── RemoteError          the peer refused a request with an error frame (``code``, message)
    ├── ConnectionLost       the transport under a remote channel failed or closed
    └── AccessDenied         the server refused access (HTTP 401 or 403; an ``authorize`` hook)

Misuse of the API (a bad argument) raises the built-in ``ValueError`` or ``TypeError`` with a
message naming the argument, never a ``DeliveryError``. :class:`ErrorCode` (the codes of the wire
protocol's ERROR frames, which ``ProtocolError`` and ``RemoteError`` carry) lives here so that the
exceptions import nothing from the wire protocol.
"""

from __future__ import annotations

import enum

__all__ = [
    "AccessDenied",
    "ChannelClosed",
    "ConnectionLost",
    "DeliveryError",
    "ErrorCode",
    "ProtocolError",
    "RemoteError",
    "SlowConsumer",
]


class ErrorCode(enum.IntEnum):
    """Stable error codes carried by ERROR frames."""

    MALFORMED_FRAME = 1  # a body that does not parse; the connection is closed
    FRAME_TOO_LARGE = 2  # a length beyond the receiver's limit; the connection is closed
    UNKNOWN_FRAME_KIND = 3  # a kind byte this version does not know; the connection is closed
    PROTOCOL_VIOLATION = 4  # a frame in the wrong direction or state; the connection is closed
    UNKNOWN_CHANNEL = 10
    UNSUPPORTED = 11  # the channel does not deliver in the mode asked for
    BAD_ARGUMENT = 12  # a cursor out of range, a threshold out of range…
    BAD_PAYLOAD = 13  # the codec could not decode the payload
    CHANNEL_CLOSED = 14
    TOO_MANY_SUBSCRIPTIONS = 15
    UNKNOWN_SUBSCRIPTION = 16
    TOO_MANY_REQUESTS = 17  # too many long polls waiting on this connection
    INTERNAL = 18  # the server failed to answer; the request may be retried
    MESSAGE_TOO_LARGE = 19  # the next message cannot fit in a frame the client accepts
    CANCELLED = 20  # withdrawn by the client's CANCEL


class DeliveryError(Exception):
    """Base class of the errors deliverymodes raises about delivery itself."""


class ChannelClosed(DeliveryError):
    """The channel is closed: publishing fails, and readers have received everything there was."""


class SlowConsumer(DeliveryError):
    """A push subscriber's buffer overflowed under ``Overflow.DISCONNECT`` and it was cut off.

    The subscriber still receives everything buffered before the overflow; only then does
    ``receive()`` raise this.
    """


class ProtocolError(DeliveryError):
    """The peer sent something that breaks the wire protocol; the connection cannot go on.

    ``code`` is the :class:`ErrorCode` sent to the peer in the error frame before closing.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class RemoteError(DeliveryError):
    """The peer answered a request with an error frame: ``code`` (an :class:`ErrorCode`) and text.

    A remote ``CHANNEL_CLOSED`` is raised as :class:`ChannelClosed` instead, as a local channel
    would.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.text = message


class ConnectionLost(DeliveryError):
    """The byte stream under a remote channel broke or was closed."""


class AccessDenied(DeliveryError):
    """Access refused with ``status`` 401 (who are you?) or 403, and a message.

    An ``HttpApp``'s ``authorize`` hook raises it to refuse a request; the HTTP clients raise it
    when the server refused theirs.
    """

    def __init__(self, status: int = 403, message: str = "forbidden") -> None:
        if status not in (401, 403):
            raise ValueError(f"status must be 401 or 403, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message

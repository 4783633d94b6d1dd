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
message naming the argument, never a ``DeliveryError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._wire._frames import ErrorCode

__all__ = [
    "AccessDenied",
    "ChannelClosed",
    "ConnectionLost",
    "DeliveryError",
    "ProtocolError",
    "RemoteError",
    "SlowConsumer",
]


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

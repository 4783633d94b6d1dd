"""Exceptions raised by deliverymodes.

::

    DeliveryError            base of what the library raises about delivery
    ├── ChannelClosed        the channel (or this subscription) is closed; nothing more will come
    └── SlowConsumer         a push subscriber fell behind and was cut off (Overflow.DISCONNECT)

Misuse of the API (a bad argument) raises the built-in ``ValueError`` or ``TypeError`` with a
message naming the argument, never a ``DeliveryError``.
"""

from __future__ import annotations

__all__ = ["ChannelClosed", "DeliveryError", "SlowConsumer"]


class DeliveryError(Exception):
    """Base class of the errors deliverymodes raises about delivery itself."""


class ChannelClosed(DeliveryError):
    """The channel is closed: publishing fails, and readers have received everything there was."""


class SlowConsumer(DeliveryError):
    """A push subscriber's buffer overflowed under ``Overflow.DISCONNECT`` and it was cut off.

    The subscriber still receives everything buffered before the overflow; only then does
    ``receive()`` raise this.
    """

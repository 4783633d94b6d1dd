"""The bounds a server applies to each connection."""

from __future__ import annotations

import attrs

from .._core import count_validator, seconds_validator
from .._defaults import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_KEEPALIVE_INTERVAL,
    DEFAULT_KEEPALIVE_MISSES,
    DEFAULT_MAX_BUFFER_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_LONG_POLL_WAIT,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_WAITING_POLLS,
    DEFAULT_WRITE_BUFFER_SIZE,
)
from .._wire import MIN_FRAME_SIZE

__all__ = ["ServerLimits"]


@attrs.frozen
class ServerLimits:
    """Bounds a server applies to each connection. Every one has a named default."""

    max_frame_size: int = attrs.field(
        default=DEFAULT_MAX_FRAME_SIZE, validator=count_validator(MIN_FRAME_SIZE)
    )
    max_subscriptions: int = attrs.field(
        default=DEFAULT_MAX_SUBSCRIPTIONS, validator=count_validator()
    )
    max_waiting_polls: int = attrs.field(
        default=DEFAULT_MAX_WAITING_POLLS, validator=count_validator()
    )
    max_long_poll_wait: float = attrs.field(
        default=DEFAULT_MAX_LONG_POLL_WAIT, validator=seconds_validator(optional=True)
    )
    keepalive_interval: float | None = attrs.field(
        default=DEFAULT_KEEPALIVE_INTERVAL, validator=seconds_validator(optional=True)
    )
    keepalive_misses: int = attrs.field(
        default=DEFAULT_KEEPALIVE_MISSES, validator=count_validator()
    )
    write_buffer_size: int = attrs.field(
        default=DEFAULT_WRITE_BUFFER_SIZE, validator=count_validator()
    )
    max_buffer_size: int = attrs.field(default=DEFAULT_MAX_BUFFER_SIZE, validator=count_validator())
    handshake_timeout: float = attrs.field(
        default=DEFAULT_HANDSHAKE_TIMEOUT, validator=seconds_validator()
    )

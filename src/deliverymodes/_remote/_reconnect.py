"""How a client's connection comes back after it drops."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import attrs

from .._core import count_validator, seconds_validator
from .._defaults import (
    DEFAULT_MAX_RECONNECT_DELAY,
    DEFAULT_RECONNECT_CALL_TIMEOUT,
    DEFAULT_RECONNECT_DELAY,
)

__all__ = ["Reconnect"]


def _fraction(_instance: object, attribute: Any, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be a number from 0 to 1, got {value!r}")


def _at_least_one(_instance: object, attribute: Any, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 1:
        raise ValueError(f"{attribute.name} must be a number >= 1, got {value!r}")


@attrs.frozen
class Reconnect:
    """How a connection comes back after it drops: capped exponential backoff with jitter.

    The first attempt waits ``initial_delay`` seconds, each next one ``multiplier`` times longer,
    at most ``max_delay``; each pause is shortened by a random share of up to ``jitter`` so that
    many clients of one server do not come back all at once. ``max_attempts`` attempts in a row
    (``None``: no limit) before giving up; a connection that opened resets the count. A call made
    while the connection is down waits up to ``call_timeout`` seconds for it, then raises
    ``ConnectionLost``.
    """

    initial_delay: float = attrs.field(
        default=DEFAULT_RECONNECT_DELAY, validator=seconds_validator()
    )
    max_delay: float = attrs.field(
        default=DEFAULT_MAX_RECONNECT_DELAY, validator=seconds_validator()
    )
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    call_timeout: float = attrs.field(
        default=DEFAULT_RECONNECT_CALL_TIMEOUT, validator=seconds_validator()
    )
    max_attempts: int | None = attrs.field(default=None, validator=count_validator(optional=True))

    def delays(self, rng: random.Random) -> Iterator[float]:
        """The pause before each attempt, in order (and none after ``max_attempts``)."""
        delay = self.initial_delay
        attempts = 0
        while self.max_attempts is None or attempts < self.max_attempts:
            yield min(delay, self.max_delay) * (1 - self.jitter * rng.random())
            delay = min(delay * self.multiplier, self.max_delay)
            attempts += 1

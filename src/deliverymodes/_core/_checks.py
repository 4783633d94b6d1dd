"""Argument checks shared by the whole library: each error names the argument it is about."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "check_count",
    "check_optional_count",
    "check_optional_seconds",
    "check_seconds",
    "count_validator",
    "seconds_validator",
]


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass, but ``max_messages=True`` is always a mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int of at least ``minimum``, else raise naming ``name``."""
    number = _check_int(name, value)
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def check_optional_count(name: str, value: object, *, minimum: int = 1) -> int | None:
    """Like :func:`check_count`, but ``None`` (no limit) is accepted as well."""
    return None if value is None else check_count(name, value, minimum=minimum)


def check_seconds(name: str, value: object) -> float:
    """Return a finite, non-negative number of seconds, else raise naming ``name``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
    return seconds


def check_optional_seconds(name: str, value: object) -> float | None:
    """Like :func:`check_seconds`, but ``None`` (no limit) is accepted as well."""
    return None if value is None else check_seconds(name, value)


Validator = Callable[[Any, Any, Any], None]


def count_validator(minimum: int = 1, *, optional: bool = False) -> Validator:
    """An attrs validator running :func:`check_count` (or the optional one) on a field."""

    def check(_instance: object, attribute: Any, value: object) -> None:
        if optional:
            check_optional_count(attribute.name, value, minimum=minimum)
        else:
            check_count(attribute.name, value, minimum=minimum)

    return check


def seconds_validator(*, optional: bool = False) -> Validator:
    """An attrs validator running :func:`check_seconds` (or the optional one) on a field."""

    def check(_instance: object, attribute: Any, value: object) -> None:
        if optional:
            check_optional_seconds(attribute.name, value)
        else:
            check_seconds(attribute.name, value)

    return check

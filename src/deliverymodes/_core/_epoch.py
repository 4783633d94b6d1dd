"""Epochs: which life of a channel an offset belongs to.

A channel numbers its messages 0, 1, 2, … in one life; a channel created anew (a server restarted
with an in-memory channel, an engine that lost its data) starts again at 0 in a new life, with a
new epoch. A reader that comes back with a cursor from another life is answered from the start of
the current one, and told that an unknown number of messages was lost in between.
"""

from __future__ import annotations

import secrets

from ._checks import check_count
from ._values import Start

__all__ = ["MAX_EPOCH", "check_epoch", "new_epoch", "restart_point"]

#: The largest epoch: exact as a JSON number in every reader (JavaScript's safe integers).
MAX_EPOCH = 2**53 - 1


def new_epoch() -> int:
    """A random epoch in 1 … ``MAX_EPOCH``."""
    return secrets.randbelow(MAX_EPOCH) + 1


def check_epoch(name: str, value: object) -> int:
    """``value`` if it is an epoch (an int in 1 … ``MAX_EPOCH``), else raise naming ``name``."""
    epoch = check_count(name, value)
    if epoch > MAX_EPOCH:
        raise ValueError(f"{name} must be <= {MAX_EPOCH} (2**53 - 1), got {epoch}")
    return epoch


def restart_point(cursor: int | Start, asked: int | None, epoch: int) -> tuple[int | Start, bool]:
    """Where a read from ``cursor`` of life ``asked`` goes in life ``epoch``, and whether an
    unknown number of messages was lost: the same cursor within one life (or when the reader
    names no life, or asks for ``EARLIEST``/``LATEST``); from another life, offset 0 of this one.
    """
    if asked is None or asked == epoch or not isinstance(cursor, int):
        return cursor, False
    return 0, True

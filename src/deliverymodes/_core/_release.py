"""The long-poll release decision."""

from __future__ import annotations

from ._values import Release

__all__ = ["release_reason"]


def release_reason(
    pending_messages: int,
    pending_bytes: int,
    *,
    min_messages: int,
    min_bytes: int | None,
    timed_out: bool,
    closed: bool,
) -> Release | None:
    """Why a long poll should answer now, or ``None`` if it should keep waiting.

    The conditions are tried in the order of :class:`Release`, so when several hold at once the
    first one is the reason given.
    """
    if pending_messages >= min_messages:
        return Release.MIN_MESSAGES
    if min_bytes is not None and pending_bytes >= min_bytes:
        return Release.MIN_BYTES
    if timed_out:
        return Release.MAX_WAIT
    if closed:
        return Release.CLOSED
    return None

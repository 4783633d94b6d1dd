"""How adapters see the channels they serve: what each one offers, found through the serving
protocols alone, so that any channel satisfying them is served like the library's own."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from ._core import LATEST, UNSET, Batching, Start
from ._protocols import Publisher, ServedLog, ServedLongPoll, ServedPush

__all__ = ["Served", "ServedChannels", "batching_with", "fixed_cursor"]


@attrs.frozen
class Served:
    """One channel and what it offers an adapter (each None where it does not)."""

    channel: object
    publish: Callable[[Any], Awaitable[Any]] | None
    log: ServedLog[Any] | None
    long_poll: ServedLongPoll[Any] | None
    push: ServedPush[Any] | None

    @classmethod
    def of(cls, channel: object) -> Served:
        return cls(
            channel,
            channel.publish if isinstance(channel, Publisher) else None,
            channel if isinstance(channel, ServedLog) else None,
            channel if isinstance(channel, ServedLongPoll) else None,
            channel if isinstance(channel, ServedPush) else None,
        )

    @property
    def subscribable(self) -> bool:
        """Readers can follow it: it is a push channel or keeps history."""
        return self.push is not None or self.log is not None


def _checked(name: str, channel: object) -> Served:
    served = Served.of(channel)
    if served.publish is None and not served.subscribable:
        raise TypeError(
            f"channel {name!r} ({type(channel).__name__}) can be neither published to nor read:"
            " it has no publish() and satisfies none of ServedLog, ServedLongPoll, ServedPush"
        )
    return served


class ServedChannels:
    """The channels an adapter serves, by name, each checked when given: a value that is not a
    channel is refused at once, naming it. The mapping stays the caller's: a channel added or
    replaced later is checked when first asked for."""

    def __init__(self, channels: object) -> None:
        if not isinstance(channels, Mapping) or not all(isinstance(k, str) for k in channels):
            raise TypeError("channels must be a mapping of names (str) to channels")
        self.channels: Mapping[str, object] = channels
        self._known = {name: _checked(name, channel) for name, channel in channels.items()}

    def get(self, name: str) -> Served | None:
        """What channel ``name`` offers, or None if there is no such channel."""
        channel = self.channels.get(name)
        if channel is None:
            return None
        known = self._known.get(name)
        if known is None or known.channel is not channel:
            known = self._known[name] = Served.of(channel)
        return known


def fixed_cursor(log: ServedLog[Any], cursor: int | Start) -> int | Start:
    """``cursor`` with ``LATEST`` fixed to the head now, so that a read that waits, or is
    answered later, does not skip what is published meanwhile (``EARLIEST`` stays as it is)."""
    return log.head if cursor is LATEST else cursor


def batching_with(base: Batching, **settings: object) -> Batching:
    """``base`` with the settings a reader gave (``UNSET`` ones left out), validated once for
    each distinct set: readers repeat the same settings request after request."""
    given = tuple((name, value) for name, value in settings.items() if value is not UNSET)
    return _evolved(base, given) if given else base


@functools.lru_cache(maxsize=256)
def _evolved(base: Batching, given: tuple[tuple[str, object], ...]) -> Batching:
    return attrs.evolve(base, **dict(given))  # type: ignore[arg-type]

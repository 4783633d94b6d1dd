"""Delivery lag: how long messages waited between their publish and their delivery, as a histogram.

Channels that measure lag observe it once per batch they hand out, never per message; exporters
read a :class:`LagSnapshot` when metrics are collected.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Final

import attrs

__all__ = ["LAG_BUCKETS", "LagHistogram", "LagSnapshot", "lag_histogram"]

#: Upper bounds (seconds, inclusive) of the lag buckets; a last bucket, +Inf, takes the rest. From
#: half a millisecond (a subscriber woken within the same scheduler pass) to a minute (a reader
#: far behind), about three buckets a decade.
LAG_BUCKETS: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@attrs.frozen
class LagSnapshot:
    """A histogram's figures at one moment.

    ``buckets[i]`` counts the observations of at most ``bounds[i]`` seconds (cumulative, as
    Prometheus exposes them); the last entry, for +Inf, is ``count``. ``sum`` is the total of
    every observation, in seconds.
    """

    bounds: tuple[float, ...]
    buckets: tuple[int, ...]
    count: int
    sum: float


class LagHistogram:
    """A histogram of delivery lags in seconds over the fixed bounds :data:`LAG_BUCKETS`."""

    __slots__ = ("_counts", "_sum")

    def __init__(self) -> None:
        self._counts = [0] * (len(LAG_BUCKETS) + 1)  # per bucket, not cumulative; the last: +Inf
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one lag of ``seconds``; a negative one (the clock stepped back) counts as 0."""
        if not seconds > 0:  # also NaN
            seconds = 0.0
        self._counts[bisect_left(LAG_BUCKETS, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> LagSnapshot:
        """The figures now: cumulative bucket counts, count and sum."""
        counts = list(self._counts)  # one copy, so that the buckets and the count agree
        cumulative: list[int] = []
        total = 0
        for count in counts:
            total += count
            cumulative.append(total)
        return LagSnapshot(LAG_BUCKETS, tuple(cumulative), total, self._sum)


def lag_histogram(measure_lag: object) -> LagHistogram | None:
    """A new histogram if ``measure_lag`` is True, None if it is False; anything else is refused
    naming the argument."""
    if not isinstance(measure_lag, bool):
        raise TypeError(f"measure_lag must be a bool, not {type(measure_lag).__name__}")
    return LagHistogram() if measure_lag else None

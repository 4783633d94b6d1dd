"""OpenTelemetry observable instruments for channels' and servers' figures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._tables import (
    LE_LABELS,
    METRICS,
    SERVER_METRICS,
    channel_readings,
    checked_channels,
    checked_servers,
    lag_snapshots,
    server_readings,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation


def observe_channels(
    meter: Meter, channels: Mapping[str, object], *, servers: Mapping[str, object] | None = None
) -> list[Any]:
    """Create OpenTelemetry observable instruments on ``meter`` for the channels' statistics.

    One instrument per entry of :data:`METRICS`, named by its ``otel_name``
    (``deliverymodes.messages.published``, ...): counts are observable counters, levels
    observable up-down counters. Each observation carries the ``channel`` and ``model``
    attributes. With ``servers`` (as for :class:`ChannelCollector`), one more instrument per
    entry of :data:`SERVER_METRICS`, each observation with the ``server`` attribute. The delivery
    lag of channels made with ``measure_lag=True`` is reported by three observable counters:
    ``deliverymodes.delivery_lag.bucket`` (cumulative, per ``le``), ``.count`` and ``.sum``.
    Returns the instruments.
    """
    checked = checked_channels(channels)
    reported = None if servers is None else checked_servers(servers)
    instruments: list[Any] = []
    for metric in METRICS:
        create = (
            meter.create_observable_counter
            if metric.counter
            else meter.create_observable_up_down_counter
        )
        instruments.append(
            create(
                metric.otel_name,
                callbacks=[_observer(checked, metric.field)],
                unit=metric.unit,
                description=metric.help,
            )
        )
    if reported is not None:
        instruments.extend(_observe_servers(meter, reported))
    instruments.extend(_observe_lag(meter, checked))
    return instruments


def _observer(
    channels: Mapping[str, Any], field: str
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(getattr(statistics, field), {"channel": name, "model": model})
            for name, model, statistics in channel_readings(channels)
        ]

    return observe


def _observe_servers(meter: Meter, servers: Mapping[str, Any]) -> list[Any]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(getattr(statistics, field), {"server": name})
                for name, statistics in server_readings(servers)
            ]

        return observe

    instruments: list[Any] = []
    for metric in SERVER_METRICS:
        create = (
            meter.create_observable_counter
            if metric.counter
            else meter.create_observable_up_down_counter
        )
        callbacks = [observer(metric.field)]
        instruments.append(
            create(metric.otel_name, callbacks=callbacks, unit=metric.unit, description=metric.help)
        )
    return instruments


def _observe_lag(meter: Meter, channels: Mapping[str, Any]) -> list[Any]:
    """Observable counters for the lag histograms: ``deliverymodes.delivery_lag.bucket`` (the
    cumulative count of each bucket, its upper bound in the ``le`` attribute), ``.count`` and
    ``.sum``; as the Prometheus histogram's series, so quantiles can be computed downstream."""
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - an optional dependency

    def buckets(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, {"channel": name, "model": model, "le": le})
            for name, model, snapshot in lag_snapshots(channels)
            for le, count in zip(LE_LABELS, snapshot.buckets, strict=True)
        ]

    def count(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(snapshot.count, {"channel": name, "model": model})
            for name, model, snapshot in lag_snapshots(channels)
        ]

    def total(_options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(snapshot.sum, {"channel": name, "model": model})
            for name, model, snapshot in lag_snapshots(channels)
        ]

    return [
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.bucket",
            callbacks=[buckets],
            unit="{batch}",
            description="Lag observations of at most `le` seconds (cumulative).",
        ),
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.count",
            callbacks=[count],
            unit="{batch}",
            description="Lag observations: batches delivered and sampled.",
        ),
        meter.create_observable_counter(
            "deliverymodes.delivery_lag.sum",
            callbacks=[total],
            unit="s",
            description="Total of the lag observations, in seconds.",
        ),
    ]

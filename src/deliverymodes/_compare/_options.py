"""The options of ``deliverymodes compare``, their checks, and the workloads they ask for."""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from .._core import Overflow
from ._run import MODELS, TRANSPORTS, Workload

__all__ = ["SWEEPABLE", "add_arguments", "workloads"]

SWEEPABLE = {
    "subscribers": int,
    "rate": float,
    "payload_size": int,
    "burst": int,
    "slow_share": float,
    "buffer_size": int,
    "poll_interval": float,
    "min_messages": int,
    "max_wait": float,
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _rate(text: str) -> float | None:
    if text in ("max", "fast"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected messages per second or 'max', got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive rate, got {text!r}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share between 0 and 1, got {text!r}"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def _overflow(text: str) -> Overflow:
    try:
        return Overflow(text.replace("-", "_"))
    except ValueError:
        choices = ", ".join(o.value.replace("_", "-") for o in Overflow)
        raise argparse.ArgumentTypeError(f"expected one of {choices}, got {text!r}") from None


def _models(text: str) -> list[str]:
    names = [name.strip().replace("-", " ") for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected models among {', '.join(m.replace(' ', '-') for m in MODELS)}, got {text!r}"
        )
    return names


def _sweep(text: str) -> tuple[str, list[Any]]:
    name, equals, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not equals or name not in SWEEPABLE:
        raise argparse.ArgumentTypeError(
            f"expected NAME=V1,V2,… with NAME among {', '.join(SWEEPABLE)}, got {text!r}"
        )
    convert = SWEEPABLE[name]
    try:
        parsed = [convert(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad value in {text!r}") from None
    if not parsed:
        raise argparse.ArgumentTypeError(f"no values to sweep in {text!r}")
    return name, list(dict.fromkeys(parsed))


def add_arguments(compare: argparse.ArgumentParser) -> None:
    """The options of ``compare``, in three groups: the workload, the models, run and output."""
    load = compare.add_argument_group("workload")
    load.add_argument("--subscribers", type=_positive_int, default=20, help="readers (20)")
    load.add_argument(
        "--rate", type=_rate, default=100.0, help="messages per second, or 'max' (100)"
    )
    load.add_argument("--payload-size", type=_positive_int, default=64, help="bytes (64)")
    load.add_argument(
        "--duration", type=_positive_seconds, default=2.0, help="seconds per model, > 0 (2)"
    )
    load.add_argument("--messages", type=_positive_int, help="publish this many instead")
    load.add_argument("--burst", type=_positive_int, default=5, help="messages per burst (5)")
    load.add_argument("--slow-share", type=_share, default=0.0, help="share of slow readers (0)")
    load.add_argument(
        "--slow-delay",
        type=_seconds,
        default=0.005,
        help="seconds a slow reader spends per message (0.005)",
    )
    models = compare.add_argument_group("models")
    models.add_argument(
        "--models", type=_models, default=list(MODELS), help="push,poll,long-poll (all)"
    )
    models.add_argument(
        "--buffer-size", type=_positive_int, default=1000, help="push buffer per subscriber (1000)"
    )
    models.add_argument(
        "--overflow",
        type=_overflow,
        default=Overflow.BLOCK,
        help="block, drop-oldest, drop-newest or disconnect (block)",
    )
    models.add_argument(
        "--poll-interval",
        type=_seconds,
        default=0.01,
        help="seconds between polls after an empty one (0.01)",
    )
    models.add_argument(
        "--min-messages", type=_positive_int, default=1, help="long-poll release threshold (1)"
    )
    models.add_argument(
        "--max-wait", type=_seconds, default=0.5, help="long-poll maximum wait, seconds (0.5)"
    )
    output = compare.add_argument_group("run and output")
    output.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="memory",
        help='memory (default), tcp, http (needs "deliverymodes[compare]") or redis (with '
        '--redis-url; needs "deliverymodes[redis]")',
    )
    output.add_argument(
        "--redis-url",
        metavar="URL",
        help="with --transport redis: the Redis to go through, as redis://host:port/db or "
        "unix:///path/redis.sock",
    )
    output.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout only)"
    )
    output.add_argument(
        "--sweep",
        type=_sweep,
        metavar="NAME=V1,V2,…",
        help=f"run the grid once per value of one setting; NAME is one of {', '.join(SWEEPABLE)}",
    )
    output.add_argument(
        "--plot",
        metavar="FILE.png",
        help="with --sweep: draw latency and requests against the swept value "
        '(needs "deliverymodes[plot]")',
    )


def workloads(options: argparse.Namespace) -> tuple[Workload, list[tuple[Any, Workload]]]:
    """The workload the options describe, and one ``(swept value, workload)`` per value of the
    sweep (``(None, workload)`` without one). Raises ``TypeError`` or ``ValueError``."""
    base = Workload(
        subscribers=options.subscribers,
        rate=options.rate,
        payload_size=options.payload_size,
        duration=options.duration,
        messages=options.messages,
        burst=options.burst,
        slow_share=options.slow_share,
        slow_delay=options.slow_delay,
        buffer_size=options.buffer_size,
        overflow=options.overflow,
        poll_interval=options.poll_interval,
        min_messages=options.min_messages,
        max_wait=options.max_wait,
        transport=options.transport,
    )
    if not options.sweep:
        return base, [(None, base)]
    name, values = options.sweep
    return base, [(value, attrs.evolve(base, **{name: value})) for value in values]

"""The ``deliverymodes`` command line: ``deliverymodes compare`` measures the delivery models."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import anyio
import attrs

from ._compare import MODELS, TRANSPORTS, Progress, Result, Workload, run_model
from ._compare._claims import claims
from ._compare._output import describe, format_table, plot
from ._core import Overflow

__all__ = ["main"]

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
    return name, parsed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deliverymodes",
        description="Push, poll and long poll behind one set of protocols, measured.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="run one workload under each delivery model and show what each costs",
        description="Run one workload under push, poll and long poll, and show what each costs.",
    )
    load = compare.add_argument_group("workload")
    load.add_argument("--subscribers", type=_positive_int, default=20, help="readers (20)")
    load.add_argument(
        "--rate", type=_rate, default=100.0, help="messages per second, or 'max' (100)"
    )
    load.add_argument("--payload-size", type=_positive_int, default=64, help="bytes (64)")
    load.add_argument(
        "--duration", type=_positive_seconds, default=2.0, help="seconds per model (2)"
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
        "--transport", choices=TRANSPORTS, default="memory", help="memory (default), tcp or http"
    )
    output.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout only)"
    )
    output.add_argument(
        "--sweep", type=_sweep, metavar="NAME=V1,V2,…", help="run the grid over one setting"
    )
    output.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw latency and requests against the swept value (needs matplotlib)",
    )
    return parser


def _workload(options: argparse.Namespace, **changes: Any) -> Workload:
    settings = {
        "subscribers": options.subscribers,
        "rate": options.rate,
        "payload_size": options.payload_size,
        "duration": options.duration,
        "messages": options.messages,
        "burst": options.burst,
        "slow_share": options.slow_share,
        "slow_delay": options.slow_delay,
        "buffer_size": options.buffer_size,
        "overflow": options.overflow,
        "poll_interval": options.poll_interval,
        "min_messages": options.min_messages,
        "max_wait": options.max_wait,
        "transport": options.transport,
    }
    settings.update(changes)
    return Workload(**settings)


class _ProgressLine:
    """One line on stderr, rewritten while a run lasts more than a second."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self.enabled or now - progress.started < 1 or now - self._last < 0.2:
            return
        self._last = now
        seen = progress.recorder.seen
        sys.stderr.write(
            f"\r  {progress.model}: {now - progress.started:4.1f} s, {seen:,} delivered "
        )
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


async def _run_all(
    workloads: list[tuple[Any, Workload]],
    models: list[str],
    done: list[tuple[Any, Result]],
    interrupted: list[bool],
    problems: list[Exception],
) -> None:
    """Run every model of every workload; Ctrl-C stops cleanly, keeping what was measured."""
    line = _ProgressLine()
    async with anyio.create_task_group() as tg:

        async def stop_on_ctrl_c() -> None:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    interrupted.append(True)
                    tg.cancel_scope.cancel()

        tg.start_soon(stop_on_ctrl_c)
        try:
            for value, workload in workloads:
                for model in models:
                    done.append((value, await run_model(model, workload, line)))
                    line.clear()
        except RuntimeError as error:  # an optional dependency missing, say: report it plainly
            problems.append(error)
        tg.cancel_scope.cancel()
    line.clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.plot and not options.sweep:
        parser.error("--plot draws a sweep: add --sweep NAME=V1,V2,…")
    try:
        base = _workload(options)
        if options.sweep:
            name, values = options.sweep
            workloads = [(value, attrs.evolve(base, **{name: value})) for value in values]
        else:
            workloads = [(None, base)]
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    json_only = options.json == "-"
    if not json_only:
        print(describe(base) + "\n", flush=True)
    done: list[tuple[Any, Result]] = []
    stopped: list[bool] = []
    problems: list[Exception] = []
    try:
        anyio.run(_run_all, workloads, options.models, done, stopped, problems)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the run started
        stopped.append(True)
    if problems:
        print(f"deliverymodes: {problems[0]}", file=sys.stderr)
        return 1
    interrupted = bool(stopped)
    _report(options, base, done, json_only=json_only, interrupted=interrupted)
    return 130 if interrupted else 0


def _report(
    options: argparse.Namespace,
    base: Workload,
    done: list[tuple[Any, Result]],
    *,
    json_only: bool,
    interrupted: bool,
) -> None:
    sweep = options.sweep[0] if options.sweep else None
    if options.json:
        data = [{**({sweep: value} if sweep else {}), **result.as_dict()} for value, result in done]
        text = json.dumps({"results": data, "interrupted": interrupted}, indent=2)
        if json_only:
            print(text)
        else:
            with open(options.json, "w", encoding="utf-8") as file:
                file.write(text + "\n")
    if json_only:
        return
    if sweep:
        for value in dict.fromkeys(value for value, _ in done):
            print(f"{sweep} = {value}")
            print(format_table([r for v, r in done if v == value]) + "\n")
    else:
        results = [result for _, result in done]
        print(format_table(results) + "\n")
        for claim in claims(results, base):
            print("- " + claim.line())
    if interrupted:
        print("\ninterrupted: these are the models measured before Ctrl-C", file=sys.stderr)
    if options.plot and done:
        problem = plot(options.plot, sweep or "", done)
        if problem:
            print(f"deliverymodes: {problem}", file=sys.stderr)
        else:
            print(f"\nplot written to {options.plot}")

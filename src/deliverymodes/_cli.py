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

COLUMNS = [
    ("model", "model", "{}"),
    ("published", "published", "{:,}"),
    ("delivered", "delivered", "{:,}"),
    ("dropped", "dropped", "{:,}"),
    ("missed", "missed", "{:,}"),
    ("throughput", "deliveries/s", "{:,.0f}"),
    ("latency_p50", "p50 ms", "{:.2f}"),
    ("latency_p99", "p99 ms", "{:.2f}"),
    ("latency_max", "max ms", "{:.2f}"),
    ("requests_per_message", "req/msg", "{:.3f}"),
    ("empty_share", "empty", "{:.0%}"),
    ("bytes_per_message", "bytes/msg", "{:,.0f}"),
    ("peak_buffered", "peak buffered", "{:,}"),
    ("cpu_seconds", "server CPU s", "{:.3f}"),
]
_MILLISECONDS = {"latency_p50", "latency_p99", "latency_max"}


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
    load.add_argument("--duration", type=_seconds, default=2.0, help="seconds per model (2)")
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


def format_table(results: Sequence[Result]) -> str:
    """The results as an aligned text table, one row per model."""
    rows = [[title for _, title, _ in COLUMNS]]
    for result in results:
        row = []
        for field, _, pattern in COLUMNS:
            value = getattr(result, field)
            if value is None:
                row.append("-")
            else:
                row.append(pattern.format(value * 1000 if field in _MILLISECONDS else value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _describe(workload: Workload) -> str:
    rate = "as fast as possible" if workload.rate is None else f"{workload.rate:g} messages/s"
    amount = f"{workload.messages} messages" if workload.messages else f"{workload.duration:g} s"
    slow = f", {workload.slow_share:.0%} slow readers" if workload.slow_share else ""
    return (
        f"{workload.subscribers} subscribers, {rate} in bursts of {workload.burst}, "
        f"{workload.payload_size}-byte payloads, {amount} per model{slow}, "
        f"over {workload.transport}"
    )


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


def _claims(results: Sequence[Result]) -> list[str]:
    """The brief's claims, checked against this run's numbers."""
    by_model = {r.model: r for r in results}
    notes = []
    push, poll, long = by_model.get("push"), by_model.get("poll"), by_model.get("long poll")
    latencies = {r.model: r.latency_p50 for r in results if r.latency_p50 is not None}
    if len(latencies) > 1:
        fastest = min(latencies, key=lambda m: latencies[m])
        mark = "holds" if fastest == "push" else "does NOT hold"
        notes.append(f"push has the lowest median latency: {mark} here ({fastest} is lowest)")
    if poll and long and poll.requests_per_message and long.requests_per_message:
        ratio = poll.requests_per_message / long.requests_per_message
        mark = "holds" if ratio > 1 else "does NOT hold"
        notes.append(
            f"long poll makes fewer requests per message than poll: {mark} ({ratio:.1f}x fewer)"
        )
    if poll and poll.empty_share is not None:
        mark = "holds" if poll.empty_share > 0.5 else "does NOT hold"
        notes.append(f"most polls come back empty: {mark} ({poll.empty_share:.0%} empty)")
    if push and long and push.throughput:
        share = long.throughput / push.throughput
        notes.append(f"long poll delivers {share:.0%} of push's throughput")
    return notes


def _plot(path: str, sweep: str, done: list[tuple[Any, Result]]) -> str | None:
    try:
        import matplotlib  # noqa: PLC0415 - an optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return 'plotting needs matplotlib: pip install "deliverymodes[plot]"'
    figure, (latency, requests, cdf) = plt.subplots(1, 3, figsize=(15, 4.5))
    colours = dict(zip(MODELS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for model in MODELS:
        points = [(value, result) for value, result in done if result.model == model]
        if not points:
            continue
        xs = [value for value, _ in points]
        colour = colours[model]
        p50 = [(r.latency_p50 or 0) * 1000 for _, r in points]
        p99 = [(r.latency_p99 or 0) * 1000 for _, r in points]
        latency.plot(xs, p50, marker="o", color=colour, label=f"{model} p50")
        latency.plot(xs, p99, marker="x", linestyle="--", color=colour, label=f"{model} p99")
        per_message = [r.requests_per_message or 0 for _, r in points]
        requests.plot(xs, per_message, marker="o", color=colour, label=model)
        value, last = points[-1]
        if last.latencies:
            samples = [x * 1000 for x in last.latencies]
            shares = [(i + 1) / len(samples) for i in range(len(samples))]
            cdf.plot(samples, shares, color=colour, label=f"{model} ({sweep} = {value})")
    values = [value for value, _ in done if isinstance(value, (int, float))]
    wide = bool(values) and min(values) > 0 and max(values) / min(values) >= 10
    for axes in (latency, requests):
        axes.set_xscale("log" if wide else "linear")
        axes.set_yscale("log")
    latency.set(xlabel=sweep, ylabel="latency (ms)", title="end-to-end latency")
    requests.set(xlabel=sweep, ylabel="requests per delivered message", title="requests")
    cdf.set(xlabel="latency (ms)", ylabel="share of messages", title="latency CDF", xscale="log")
    for axes in (latency, requests, cdf):
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return None


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
        print(_describe(base) + "\n", flush=True)
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
    _report(options, done, json_only=json_only, interrupted=interrupted)
    return 130 if interrupted else 0


def _report(
    options: argparse.Namespace,
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
        for note in _claims(results):
            print("- " + note)
    if interrupted:
        print("\ninterrupted: these are the models measured before Ctrl-C", file=sys.stderr)
    if options.plot and done:
        problem = _plot(options.plot, sweep or "", done)
        if problem:
            print(f"deliverymodes: {problem}", file=sys.stderr)
        else:
            print(f"\nplot written to {options.plot}")

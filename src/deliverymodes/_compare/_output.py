"""What ``compare`` shows: the workload line, the table and the plot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._run import MODELS, Result, Workload

__all__ = ["describe", "format_table", "plot"]

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


def describe(workload: Workload) -> str:
    rate = "as fast as possible" if workload.rate is None else f"{workload.rate:g} messages/s"
    amount = f"{workload.messages} messages" if workload.messages else f"{workload.duration:g} s"
    slow = f", {workload.slow_share:.0%} slow readers" if workload.slow_share else ""
    return (
        f"{workload.subscribers} subscribers, {rate} in bursts of {workload.burst}, "
        f"{workload.payload_size}-byte payloads, {amount} per model{slow}, "
        f"over {workload.transport}"
    )


def plot(path: str, sweep: str, done: list[tuple[Any, Result]]) -> str | None:
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

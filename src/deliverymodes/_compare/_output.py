"""What ``compare`` shows: the workload it measured, the table, the JSON document and the plot."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from .. import __version__
from ._claims import Claim, show
from ._run import MODELS, Result, Workload

__all__ = [
    "Point",
    "check_writable",
    "describe",
    "document",
    "format_table",
    "load_pyplot",
    "plot",
    "plot_formats",
]

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


@attrs.frozen
class Point:
    """What one workload gave: a table of results, the claims on it, the recommendation. A sweep
    has one point per swept value; a plain run has one point, whose ``value`` is None."""

    value: Any
    workload: Workload
    results: list[Result]
    claims: list[Claim]
    recommendation: str


def describe(
    workload: Workload, models: Sequence[str], sweep: tuple[str, list[Any]] | None = None
) -> str:
    """What is measured: the workload, then the settings of the models that run. A swept setting
    shows every value it takes ("1, 10 or 100 subscribers")."""

    def shown(name: str, render: Callable[[Any], str] = show) -> str:
        if sweep is None or sweep[0] != name:
            return render(getattr(workload, name))
        texts = [render(value) for value in sweep[1]]
        return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"

    def percent(value: float) -> str:
        return f"{value:.0%}"

    rate = "as fast as possible" if workload.rate is None else f"{shown('rate')} messages/s"
    amount = f"{workload.messages} messages" if workload.messages else f"{workload.duration:g} s"
    slow = ""
    if workload.slow_share or (sweep and sweep[0] == "slow_share"):
        slow = (
            f", {shown('slow_share', percent)} of them slow ({workload.slow_delay:g} s a message)"
        )
    settings = {
        "push": f"push: buffer-size {shown('buffer_size')}, overflow "
        f"{workload.overflow.value.replace('_', '-')}",
        "poll": f"poll: poll-interval {shown('poll_interval')} s",
        "long poll": f"long poll: min-messages {shown('min_messages')}, "
        f"max-wait {shown('max_wait')} s",
    }
    return (
        f"{shown('subscribers')} subscribers{slow}, {rate} in bursts of {shown('burst')}, "
        f"{shown('payload_size')}-byte payloads, {amount} per model, over {workload.transport}\n"
        + "; ".join(settings[model] for model in models)
    )


def _workload_dict(workload: Workload, swept: str | None) -> dict[str, Any]:
    data = attrs.asdict(workload)
    data["overflow"] = workload.overflow.value.replace("_", "-")
    if swept is not None:
        del data[swept]
    return data


def document(
    base: Workload,
    models: Sequence[str],
    sweep: tuple[str, list[Any]] | None,
    points: Sequence[Point],
    *,
    interrupted: bool,
) -> dict[str, Any]:
    """The JSON document: what was measured (the workload, the models, the sweep) and what it
    gave. In a sweep, every result, claim and recommendation carries the swept value."""
    name = sweep[0] if sweep else None

    def key(point: Point) -> dict[str, Any]:
        return {} if name is None else {name: point.value}

    data: dict[str, Any] = {
        "deliverymodes": __version__,
        "workload": _workload_dict(base, name),
        "models": list(models),
        "sweep": None if sweep is None else {"setting": sweep[0], "values": sweep[1]},
        "results": [{**key(p), **r.as_dict()} for p in points for r in p.results],
        "claims": [{**key(p), **c.as_dict()} for p in points for c in p.claims],
    }
    if sweep is None:
        data["recommendation"] = points[0].recommendation if points else None
    else:
        data["recommendations"] = [{**key(p), "recommendation": p.recommendation} for p in points]
    data["interrupted"] = interrupted
    return data


def check_writable(path: str) -> str | None:
    """Why ``path`` cannot be written, or None if it looks as though it can."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        return f"{path} is a directory"
    if not folder.is_dir():
        return f"no directory {str(folder)!r} to write {path} in"
    if not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        return f"{path} is not writable"
    return None


def load_pyplot() -> Any | None:
    """matplotlib's pyplot on a backend without a display, or None without the plot extra."""
    try:
        import matplotlib  # noqa: PLC0415 - an optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    return plt


def plot_formats(pyplot: Any) -> set[str]:
    """The file extensions pyplot can save to (png, svg, pdf, …)."""
    figure = pyplot.figure()
    try:
        return set(figure.canvas.get_supported_filetypes())
    finally:
        pyplot.close(figure)


def plot(
    pyplot: Any, path: str, sweep: str, done: Sequence[tuple[Any, Result]], title: str = ""
) -> None:
    """Latency and requests per message against the swept value, and the last point's CDF,
    under ``title`` (the workload)."""
    plt = pyplot
    figure, (latency, requests, cdf) = plt.subplots(1, 3, figsize=(15, 5))
    colours = dict(zip(MODELS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for model in MODELS:
        points = [(value, result) for value, result in done if result.model == model]
        if not points:
            continue
        xs = [value for value, _ in points]
        colour = colours[model]
        p50 = [(r.latency_p50 or 0) * 1000 for _, r in points]
        p99 = [(r.latency_p99 or 0) * 1000 for _, r in points]
        latency.plot(xs, p50, marker="o", color=colour, label=model)
        latency.plot(xs, p99, marker="x", linestyle="--", color=colour)
        per_message = [r.requests_per_message or 0 for _, r in points]
        requests.plot(xs, per_message, marker="o", color=colour, label=model)
        value, last = points[-1]
        if last.latencies:
            samples = [x * 1000 for x in last.latencies]
            shares = [(i + 1) / len(samples) for i in range(len(samples))]
            cdf.plot(samples, shares, color=colour, label=f"{model} ({sweep} = {show(value)})")
    values = sorted({value for value, _ in done if isinstance(value, (int, float))})
    wide = bool(values) and min(values) > 0 and max(values) / min(values) >= 10
    for axes in (latency, requests):
        axes.set_xscale("log" if wide else "linear")
        axes.set_yscale("log")
        axes.set_xticks(values, [show(value) for value in values])
        axes.xaxis.set_minor_locator(pyplot.NullLocator())
    latency.set(xlabel=sweep, ylabel="latency (ms)", title="latency: p50 (solid), p99 (dashed)")
    requests.set(xlabel=sweep, ylabel="requests per delivered message", title="requests")
    cdf.set(xlabel="latency (ms)", ylabel="share of messages", title="latency CDF", xscale="log")
    for axes in (latency, requests, cdf):
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    try:
        # The format named, so that a name without an extension is written as it is, in PNG.
        figure.savefig(path, dpi=110, format=Path(path).suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(figure)

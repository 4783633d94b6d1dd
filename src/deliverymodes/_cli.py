"""The ``deliverymodes`` command line: ``deliverymodes compare`` measures the delivery models.

``compare`` checks everything it can before measuring (the options, the extras the asked-for
outputs need, the paths it will write), so that a run that measured is never lost to a typo, and
exits 0 only once every output asked for was produced.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import anyio

from . import __version__
from ._compare import Progress, Result, Workload, run_model
from ._compare._advice import recommend
from ._compare._claims import across, claims, show
from ._compare._options import add_arguments, workloads
from ._compare._output import (
    Point,
    check_writable,
    describe,
    document,
    format_table,
    load_pyplot,
    plot,
    plot_formats,
)
from ._compare._redis import REDIS_EXTRA, check_url, unreachable

__all__ = ["main"]

#: Paragraphs and claim lines are wrapped to this width (the table is as wide as it needs).
_WIDTH = 100
#: The modules the http transport needs (the "compare" extra brings them).
_HTTP_MODULES = ("hypercorn", "httpx")


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser, and that of ``compare``."""
    parser = argparse.ArgumentParser(
        prog="deliverymodes",
        description="Push, poll and long poll behind one set of protocols, measured.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="run one workload under each delivery model and show what each costs",
        description="Run one workload under push, poll and long poll, and show what each costs.",
    )
    add_arguments(compare)
    return parser, compare


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _check_before_measuring(compare: argparse.ArgumentParser, options: argparse.Namespace) -> Any:
    """Refuse, naming the option, what could not be produced once measured: an extra that is not
    installed, a path that cannot be written. Returns pyplot if ``--plot`` asks for it."""

    def refuse(message: str) -> NoReturn:
        compare.error(message)

    _check_transport(refuse, options)
    pyplot = None
    if options.plot:
        if not options.sweep:
            refuse("--plot draws a sweep: add --sweep NAME=V1,V2,…")
        pyplot = load_pyplot()
        if pyplot is None:
            refuse('--plot needs matplotlib: pip install "deliverymodes[plot]"')
        suffix = Path(options.plot).suffix.lstrip(".").lower() or "png"  # matplotlib's default
        formats = plot_formats(pyplot)
        if suffix not in formats:
            refuse(
                f"--plot {options.plot}: expected a file name ending in one of "
                f"{', '.join(sorted('.' + f for f in formats))}"
            )
    outputs = [("--json", options.json)] if options.json not in (None, "-") else []
    if options.plot:
        outputs.append(("--plot", options.plot))
    for option, path in outputs:
        problem = check_writable(path)
        if problem:
            refuse(f"{option}: {problem}")
    if len({Path(path).resolve() for _, path in outputs}) < len(outputs):
        refuse("--json and --plot name the same file")
    return pyplot


def _check_transport(refuse: Callable[[str], NoReturn], options: argparse.Namespace) -> None:
    """Refuse a transport whose extra is not installed, or Redis without its URL."""
    if options.transport == "http":
        for module in _HTTP_MODULES:
            if not _importable(module):
                refuse(f'--transport http needs {module}: pip install "deliverymodes[compare]"')
    if options.transport == "redis":
        if not options.redis_url:
            refuse("--transport redis needs --redis-url URL (redis://host:port/db or unix://path)")
        if not _importable("deliverymodes.redis"):
            refuse(f"--transport redis: {REDIS_EXTRA}")
        problem = check_url(options.redis_url)
        if problem is not None:
            refuse(f"--redis-url: {problem}")
    elif options.redis_url is not None:
        refuse(f"--redis-url goes with --transport redis, not --transport {options.transport}")


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
    *,
    redis_url: str | None = None,
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
                    done.append(
                        (value, await run_model(model, workload, line, redis_url=redis_url))
                    )
                    line.clear()
        except RuntimeError as error:  # an optional dependency missing, say: report it plainly
            problems.append(error)
        tg.cancel_scope.cancel()
    line.clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser, compare = build_parser()
    options, unknown = parser.parse_known_args(argv)
    if unknown:  # after the command name: that command's usage, not the top-level one
        compare.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        base, grid = workloads(options)
    except (TypeError, ValueError) as error:
        compare.error(str(error))
    pyplot = _check_before_measuring(compare, options)
    if options.transport == "redis":
        try:
            problem = anyio.run(unreachable, options.redis_url)
        except KeyboardInterrupt:  # Ctrl-C while connecting: nothing was measured
            return 130
        if problem is not None:
            print(f"deliverymodes: {problem}", file=sys.stderr)
            return 1
    json_only = options.json == "-"
    if not json_only:
        print(describe(base, options.models, options.sweep) + "\n", flush=True)
    done: list[tuple[Any, Result]] = []
    stopped: list[bool] = []
    problems: list[Exception] = []
    try:
        run_all = partial(_run_all, redis_url=options.redis_url)
        anyio.run(run_all, grid, options.models, done, stopped, problems)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the run started
        stopped.append(True)
    if problems:
        print(f"deliverymodes: {problems[0]}", file=sys.stderr)
        return 1
    interrupted = bool(stopped)
    points = [
        Point(value, workload, results, claims(results, workload), recommend(results, workload))
        for value, workload in grid
        if (results := [r for v, r in done if v == value])
    ]
    written = _report(options, base, points, pyplot, done, interrupted=interrupted)
    if interrupted:
        print("\ninterrupted: these are the models measured before Ctrl-C", file=sys.stderr)
        return 130
    return 0 if written else 1


def _report(
    options: argparse.Namespace,
    base: Workload,
    points: list[Point],
    pyplot: Any,
    done: list[tuple[Any, Result]],
    *,
    interrupted: bool,
) -> bool:
    """Print and write every output asked for; False if one of them could not be written."""
    json_only = options.json == "-"
    ok = True
    if options.json:
        data = document(base, options.models, options.sweep, points, interrupted=interrupted)
        text = json.dumps(data, indent=2)
        if json_only:
            print(text)
        else:
            ok = _write(options.json, "--json", lambda: _write_text(options.json, text))
    notes = sys.stderr if json_only else sys.stdout  # with --json -, stdout is JSON only
    if not json_only:
        _print_tables(options, points)
    if options.plot and done:
        name = options.sweep[0]
        title = describe(base, options.models, options.sweep).replace("\n", "\n(") + ")"
        if _write(options.plot, "--plot", lambda: plot(pyplot, options.plot, name, done, title)):
            print(f"\nplot written to {options.plot}", file=notes)
        else:
            ok = False
    return ok


def _print_tables(options: argparse.Namespace, points: list[Point]) -> None:
    def paragraph(text: str) -> str:
        return textwrap.fill(text, width=_WIDTH)

    def item(text: str) -> str:
        return textwrap.fill(text, width=_WIDTH, initial_indent="- ", subsequent_indent="  ")

    if not options.sweep:
        for point in points:
            print(format_table(point.results) + "\n")
            for claim in point.claims:
                print(item(claim.line()))
            print("\n" + paragraph(point.recommendation))
        return
    name = options.sweep[0]
    for point in points:
        print(f"{name} = {show(point.value)}")
        print(format_table(point.results) + "\n")
        print(paragraph(point.recommendation) + "\n")
    lines = across(name, [(point.value, point.claims) for point in points])
    if lines:
        print(f"The claims across {name}:")
        for line in lines:
            print(item(line))


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text + "\n")


def _write(path: str, option: str, write: Callable[[], None]) -> bool:
    try:
        write()
    except (OSError, ValueError) as error:
        print(f"deliverymodes: {option} {path}: could not write it: {error}", file=sys.stderr)
        return False
    return True

"""A plain-language recommendation for the measured workload, drawn from the table's figures.

The choice, among the models that delivered every message (all of them, if none did): those
nearly as fast as the fastest (a median latency within half as much again, plus half a
millisecond) are kept; of those, the ones whose server CPU is not clearly above the least (by a
third, and by more than 5 ms); of those, the one that made the fewest requests per message. Then
what the others cost, in the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._run import Result, Workload

__all__ = ["recommend"]

#: "Nearly as fast": a median latency within this factor of the fastest, plus the slack below.
_NEARLY_AS_FAST = 1.5
_SLACK = 0.0005  # seconds: differences below half a millisecond do not decide
#: "Clearly cheaper": server CPU below this share of another's, and by more than the slack.
_CLEARLY_CHEAPER = 0.75
_CPU_SLACK = 0.005  # seconds


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.2f} ms"


def _figures(result: Result) -> str:
    return (
        f"{_ms(result.latency_p50)} median latency, {result.requests_per_message or 0:.3f} "
        f"requests per message, {result.cpu_seconds:.3f} s of server CPU"
    )


def _lost(result: Result, workload: Workload) -> str:
    if result.dropped:
        policy = workload.overflow.value.replace("_", "-")
        return f"{result.model} dropped {result.dropped:,} messages (overflow {policy})"
    return f"{result.model} missed {result.missed:,} messages that left retention"


def _choose(candidates: list[Result]) -> tuple[Result, str]:
    """The model to recommend among ``candidates``, and why, in figures."""

    def latency(result: Result) -> float:
        return result.latency_p50 or 0.0

    def requests(result: Result) -> float:
        return result.requests_per_message or 0.0

    fastest = min(candidates, key=latency)
    close = [r for r in candidates if latency(r) <= latency(fastest) * _NEARLY_AS_FAST + _SLACK]
    least = min(close, key=lambda r: r.cpu_seconds)
    cheap = [r for r in close if r.cpu_seconds <= least.cpu_seconds / _CLEARLY_CHEAPER + _CPU_SLACK]
    choice = min(cheap, key=requests)
    if choice is fastest:
        why = [f"it had the lowest median latency ({_ms(latency(choice))})"]
    else:
        why = [
            f"its median latency ({_ms(latency(choice))}) was close to the lowest "
            f"({fastest.model}: {_ms(latency(fastest))})"
        ]
    cheapest = min(candidates, key=lambda r: r.cpu_seconds)
    cpu = f"{choice.cpu_seconds:.3f} s"
    if choice is cheapest:
        why.append(f"it cost the least server CPU ({cpu})")
    elif choice.cpu_seconds <= cheapest.cpu_seconds / _CLEARLY_CHEAPER + _CPU_SLACK:
        why.append(
            f"its server CPU ({cpu}) was close to the least ({cheapest.model}: "
            f"{cheapest.cpu_seconds:.3f} s)"
        )
    else:
        why.append(
            f"it cost more server CPU ({cpu}) than {cheapest.model} ({cheapest.cpu_seconds:.3f} "
            f"s), which was slower ({_ms(latency(cheapest))})"
        )
    if len(cheap) > 1:
        why.append(f"it made the fewest requests per message ({requests(choice):.3f})")
    return choice, ", ".join(why[:-1]) + " and " + why[-1]


def _other(result: Result, workload: Workload) -> str:
    if result.dropped or result.missed:
        return f"{_lost(result, workload)}, so it fits only readers that may skip messages."
    figures = _figures(result)
    if result.model == "long poll":
        return (
            f"Long poll ({figures}) is the choice when readers come and go and must resume from "
            "where they left off."
        )
    if result.model == "poll":
        share = result.empty_share or 0.0
        waste = f"; {share:.0%} of its polls came back empty" if share >= 0.5 else ""
        return f"Poll ({figures}{waste}) is for clients that can do nothing else."
    return (
        f"Push ({figures}) needs every reader online and connected, and an overflow policy for "
        "slow readers."
    )


def recommend(results: Sequence[Result], workload: Workload) -> str:
    """One paragraph: which model for this workload, and why, from the figures in ``results``."""
    delivering = [r for r in results if r.delivered]
    if not delivering:
        return "No model delivered a message: nothing to recommend from this run."
    if len(results) == 1:
        (only,) = results
        return (
            f"Only {only.model} ran ({_figures(only)}): run the other models on the same "
            "workload to compare."
        )
    complete = [r for r in delivering if not r.dropped and not r.missed]
    choice, why = _choose(complete or delivering)
    if complete:
        why = "it delivered every message, and " + why if len(complete) < len(results) else why
    else:
        why += f"; every model lost messages, {_lost(choice, workload)}"
    if choice.bytes_per_message is not None:
        why += f", with {choice.bytes_per_message:,.0f} bytes per message on the wire"
    others = [_other(r, workload) for r in results if r is not choice and r.delivered]
    return " ".join([f"For this workload, {choice.model}: {why}.", *others])

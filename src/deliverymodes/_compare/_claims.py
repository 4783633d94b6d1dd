"""The claims usually made about the three models, checked against a run's figures.

1. push has the lowest median latency;
2. long poll makes fewer requests per message than poll;
3. most polls come back empty;
4. push delivers the most messages per second.

A claim is printed only when the models it names ran. It is judged only where the workload makes
it meaningful and those models delivered something; otherwise it says why it is not judged. A
ratio reads as the larger figure over the smaller; within 5 % it is "about as many", which does
not count as fewer or more.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import attrs

from ._run import Result, Workload

__all__ = ["Claim", "Verdict", "across", "claims", "show"]


class Verdict(enum.Enum):
    HOLDS = "holds"
    FAILS = "does NOT hold"
    NOT_JUDGED = "not judged"


#: Why a claim is not judged on some workloads.
_NO_WAITING_LONG = (
    "with --rate max messages are always waiting, so a long poll never waits and answers just as "
    "a poll does"
)
_NO_WAITING_POLL = (
    "with --rate max messages are always waiting, so polls rarely come back empty; the claim is "
    "about a feed with quiet moments"
)
_PACED = (
    "the publisher paces the messages, so the rate, not the model, sets deliveries/s; "
    "--rate max measures the most each model delivers"
)
_NOTHING = "a model delivered no message"


@attrs.frozen
class Claim:
    """One claim, its verdict on a run, and the figures (or the reason) behind the verdict."""

    statement: str
    verdict: Verdict
    detail: str

    def line(self) -> str:
        return f"{self.statement}: {self.verdict.value} ({self.detail})"

    def as_dict(self) -> dict[str, str]:
        return {"claim": self.statement, "verdict": self.verdict.value, "detail": self.detail}


#: Figures closer than this ratio are "about as many": neither is fewer, neither is more.
_SAME = 1.05


def _ratio(larger: float, smaller: float) -> float:
    return larger / smaller if smaller else float("inf")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def claims(results: Sequence[Result], workload: Workload) -> list[Claim]:
    """The claims about the models in ``results``, each judged on this run's figures."""
    by_model = {r.model: r for r in results if r.delivered}
    ran = {r.model for r in results}
    found = [
        _lowest_latency(by_model, ran),
        _fewer_requests(by_model, ran, workload),
        _empty_polls(by_model, ran, workload),
        _most_throughput(by_model, ran, workload),
    ]
    return [claim for claim in found if claim is not None]


def _lowest_latency(by_model: dict[str, Result], ran: set[str]) -> Claim | None:
    statement = "push has the lowest median latency"
    if "push" not in ran or len(ran) < 2:
        return None
    latencies = {m: r.latency_p50 for m, r in by_model.items() if r.latency_p50 is not None}
    if "push" not in latencies or len(latencies) < 2:
        return Claim(statement, Verdict.NOT_JUDGED, _NOTHING)
    push = latencies.pop("push")
    other = min(latencies, key=lambda m: latencies[m])
    if push <= latencies[other]:
        return Claim(
            statement, Verdict.HOLDS, f"{_ms(push)}; next, {other}: {_ms(latencies[other])}"
        )
    detail = f"{other} is lower: {_ms(latencies[other])} against push's {_ms(push)}"
    return Claim(statement, Verdict.FAILS, detail)


def _fewer_requests(by_model: dict[str, Result], ran: set[str], workload: Workload) -> Claim | None:
    statement = "long poll makes fewer requests per message than poll"
    if not {"poll", "long poll"} <= ran:
        return None
    poll, long = by_model.get("poll"), by_model.get("long poll")
    if workload.rate is None:
        return Claim(statement, Verdict.NOT_JUDGED, _NO_WAITING_LONG)
    if poll is None or long is None or not poll.requests_per_message:
        return Claim(statement, Verdict.NOT_JUDGED, _NOTHING)
    p, q = poll.requests_per_message, long.requests_per_message or 0.0
    if _ratio(p, q) >= _SAME:
        return Claim(
            statement,
            Verdict.HOLDS,
            f"poll makes {_ratio(p, q):.1f}x as many: {p:.3f} against {q:.3f}",
        )
    if _ratio(q, p) >= _SAME:
        detail = f"long poll makes {_ratio(q, p):.1f}x as many: {q:.3f} against {p:.3f}"
    else:
        detail = f"they make about as many: {q:.3f} against {p:.3f}"
    return Claim(statement, Verdict.FAILS, detail)


def _empty_polls(by_model: dict[str, Result], ran: set[str], workload: Workload) -> Claim | None:
    statement = "most polls come back empty"
    if "poll" not in ran:
        return None
    poll = by_model.get("poll")
    if workload.rate is None:
        return Claim(statement, Verdict.NOT_JUDGED, _NO_WAITING_POLL)
    if poll is None or poll.empty_share is None:
        return Claim(statement, Verdict.NOT_JUDGED, "poll delivered no message")
    verdict = Verdict.HOLDS if poll.empty_share > 0.5 else Verdict.FAILS
    return Claim(statement, verdict, f"{poll.empty_share:.0%} empty")


def _most_throughput(
    by_model: dict[str, Result], ran: set[str], workload: Workload
) -> Claim | None:
    statement = "push delivers the most messages per second"
    if "push" not in ran or len(ran) < 2:
        return None
    if workload.rate is not None:
        return Claim(statement, Verdict.NOT_JUDGED, _PACED)
    rates = {m: r.throughput for m, r in by_model.items()}
    if "push" not in rates or len(rates) < 2:
        return Claim(statement, Verdict.NOT_JUDGED, _NOTHING)
    push = rates.pop("push")
    other = max(rates, key=lambda m: rates[m])
    best = rates[other]
    figures = f"{max(push, best):,.0f}/s against {min(push, best):,.0f}/s"
    if _ratio(push, best) >= _SAME:
        detail = f"push delivers {_ratio(push, best):.1f}x as many as {other}: {figures}"
        return Claim(statement, Verdict.HOLDS, detail)
    if _ratio(best, push) >= _SAME:
        detail = f"{other} delivers {_ratio(best, push):.1f}x as many as push: {figures}"
    else:
        detail = f"push and {other} deliver about as many: {push:,.0f}/s and {best:,.0f}/s"
    return Claim(statement, Verdict.FAILS, detail)


def show(value: Any) -> str:
    """A swept value as the table and the claims print it (``50`` for 50.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def across(name: str, points: Sequence[tuple[Any, Sequence[Claim]]]) -> list[str]:
    """How each claim fares over the values of a sweep of ``name``, one line per claim."""
    values: dict[str, dict[Verdict, list[str]]] = {}
    reasons: dict[str, dict[str, None]] = {}
    for value, found in points:
        for claim in found:
            values.setdefault(claim.statement, {}).setdefault(claim.verdict, []).append(show(value))
            if claim.verdict is Verdict.NOT_JUDGED:
                reasons.setdefault(claim.statement, {})[claim.detail] = None
    lines = []
    for statement, by_verdict in values.items():
        parts = []
        for verdict in Verdict:
            if verdict in by_verdict:
                part = f"{verdict.value} at {name} = {', '.join(by_verdict[verdict])}"
                if verdict is Verdict.NOT_JUDGED:
                    part += f" ({'; '.join(reasons[statement])})"
                parts.append(part)
        lines.append(f"{statement}: {'; '.join(parts)}")
    return lines

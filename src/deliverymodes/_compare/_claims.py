"""The claims usually made about the three models, checked against a run's figures."""

from __future__ import annotations

from collections.abc import Sequence

from ._run import Result

__all__ = ["claims"]


def claims(results: Sequence[Result]) -> list[str]:
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

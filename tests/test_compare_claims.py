"""The claims ``compare`` checks, and its recommendation, judged on figures made up here."""

from __future__ import annotations

from typing import Any

import pytest

from deliverymodes import Overflow
from deliverymodes._cli import main
from deliverymodes._compare import Result, Workload
from deliverymodes._compare._advice import recommend
from deliverymodes._compare._claims import Verdict, across, claims


def result(model: str, **figures: Any) -> Result:
    """A row of the table with plausible figures; ``figures`` overrides them."""
    values: dict[str, Any] = {
        "model": model,
        "transport": "memory",
        "published": 200,
        "delivered": 4000,
        "dropped": 0,
        "missed": 0,
        "seconds": 2.0,
        "throughput": 2000.0,
        "latency_p50": 0.001,
        "latency_p99": 0.002,
        "latency_max": 0.003,
        "requests": 20,
        "requests_per_message": 0.005,
        "empty_responses": 0,
        "empty_share": 0.0,
        "bytes_per_message": None,
        "peak_buffered": 100,
        "cpu_seconds": 0.1,
        "per_subscriber": ((200, 0, 0),) * 20,
        "latencies": (0.001,),
    }
    values.update(figures)
    return Result(**values)


PACED = Workload()
FLAT_OUT = Workload(rate=None)


def verdicts(results: list[Result], workload: Workload) -> dict[str, Verdict]:
    return {claim.statement: claim.verdict for claim in claims(results, workload)}


def test_no_claim_about_a_model_that_did_not_run() -> None:
    found = claims([result("long poll"), result("poll", requests_per_message=1.1)], PACED)
    assert found
    assert not [claim for claim in found if "push" in claim.statement]


def test_no_claim_about_a_model_that_did_not_run_in_the_command_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["compare", "--messages", "20", "--models", "long-poll,poll", "--subscribers", "2"])
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("- ")]
    assert lines
    assert not [line for line in lines if "push" in line]


def test_a_ratio_below_one_reads_as_the_other_model_making_more() -> None:
    poll = result("poll", requests_per_message=0.003, empty_share=0.2)
    long = result("long poll", requests_per_message=0.009)
    (claim,) = [c for c in claims([poll, long], PACED) if "requests" in c.statement]
    assert claim.verdict is Verdict.FAILS
    assert claim.line() == (
        "long poll makes fewer requests per message than poll: does NOT hold "
        "(long poll makes 3.0x as many: 0.009 against 0.003)"
    )
    poll = result("poll", requests_per_message=1.13)
    long = result("long poll", requests_per_message=0.21)
    (claim,) = [c for c in claims([poll, long], PACED) if "requests" in c.statement]
    assert claim.detail == "poll makes 5.4x as many: 1.130 against 0.210"


def test_throughput_is_judged_only_when_the_publisher_goes_flat_out() -> None:
    push = result("push", throughput=402_800.0)
    long = result("long poll", throughput=878_452.0)
    paced = {c.statement: c for c in claims([push, long], PACED)}
    claim = paced["push delivers the most messages per second"]
    assert claim.verdict is Verdict.NOT_JUDGED
    assert "the rate, not the model, sets deliveries/s" in claim.detail
    flat_out = {c.statement: c for c in claims([push, long], FLAT_OUT)}
    claim = flat_out["push delivers the most messages per second"]
    assert claim.verdict is Verdict.FAILS
    assert claim.detail == "long poll delivers 2.2x as many as push: 878,452/s against 402,800/s"
    assert "%" not in claim.line()


def test_figures_within_five_percent_are_about_as_many_and_not_fewer() -> None:
    poll = result("poll", requests_per_message=0.210)
    long = result("long poll", requests_per_message=0.205)
    (claim,) = [c for c in claims([poll, long], PACED) if "requests" in c.statement]
    assert claim.verdict is Verdict.FAILS
    assert claim.detail == "they make about as many: 0.205 against 0.210"
    push = result("push", throughput=1000.0)
    long = result("long poll", throughput=1020.0)
    (claim,) = [c for c in claims([push, long], FLAT_OUT) if "per second" in c.statement]
    assert claim.verdict is Verdict.FAILS
    assert claim.detail == "push and long poll deliver about as many: 1,000/s and 1,020/s"


def test_claims_about_waiting_are_not_judged_when_messages_are_always_waiting() -> None:
    push = result("push", throughput=900_000.0)
    found = verdicts([push, result("poll", empty_share=0.04), result("long poll")], FLAT_OUT)
    assert found == {
        "push has the lowest median latency": Verdict.HOLDS,
        "long poll makes fewer requests per message than poll": Verdict.NOT_JUDGED,
        "most polls come back empty": Verdict.NOT_JUDGED,
        "push delivers the most messages per second": Verdict.HOLDS,
    }


def test_latency_claim_names_the_lowest() -> None:
    push = result("push", latency_p50=0.0024)
    poll = result("poll", latency_p50=0.0059, empty_share=0.82, requests_per_message=1.1)
    long = result("long poll", latency_p50=0.0011, requests_per_message=0.2)
    found = {c.statement: c for c in claims([push, poll, long], PACED)}
    claim = found["push has the lowest median latency"]
    assert claim.verdict is Verdict.FAILS
    assert claim.detail == "long poll is lower: 1.10 ms against push's 2.40 ms"
    assert (
        found["most polls come back empty"].line()
        == "most polls come back empty: holds (82% empty)"
    )


def test_a_model_that_delivered_nothing_leaves_its_claims_unjudged() -> None:
    push = result("push", delivered=0, latency_p50=None, throughput=0.0)
    found = verdicts([push, result("poll", empty_share=0.9)], PACED)
    assert found["push has the lowest median latency"] is Verdict.NOT_JUDGED


def test_across_a_sweep_each_claim_says_where_it_holds() -> None:
    holds = [
        result("poll", requests_per_message=1.1),
        result("long poll", requests_per_message=0.2),
    ]
    fails = [
        result("poll", requests_per_message=0.2),
        result("long poll", requests_per_message=0.2),
    ]
    lines = across(
        "rate",
        [
            (10.0, claims(holds, PACED)),
            (100.0, claims(holds, PACED)),
            (1000.0, claims(fails, PACED)),
        ],
    )
    assert (
        "long poll makes fewer requests per message than poll: "
        "holds at rate = 10, 100; does NOT hold at rate = 1000" in lines
    )


@pytest.mark.parametrize("duration", ["0", "0.0"])
def test_a_zero_duration_is_refused(duration: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--duration", duration])
    assert exited.value.code == 2
    assert "--duration" in capsys.readouterr().err
    with pytest.raises(ValueError, match="duration"):
        Workload(duration=0)


def test_recommends_the_fastest_when_it_is_also_the_cheapest() -> None:
    push = result("push", latency_p50=0.00024, cpu_seconds=0.064)
    poll = result(
        "poll", latency_p50=0.0059, cpu_seconds=0.153, requests_per_message=1.125, empty_share=0.82
    )
    long = result("long poll", latency_p50=0.00048, cpu_seconds=0.077, requests_per_message=0.205)
    text = recommend([push, poll, long], PACED)
    assert text.startswith(
        "For this workload, push: it had the lowest median latency (0.24 ms), it cost the least "
        "server CPU (0.064 s) and it made the fewest requests per message (0.005)."
    )
    assert (
        "Poll (5.90 ms median latency, 1.125 requests per message, 0.153 s of server CPU; 82% "
        "of its polls came back empty)" in text
    )
    assert (
        "Long poll (0.48 ms median latency, 0.205 requests per message, 0.077 s of server CPU)"
        in text
    )


def test_the_fastest_that_costs_more_cpu_says_so() -> None:
    push = result("push", latency_p50=0.0115, cpu_seconds=1.581, bytes_per_message=377.0)
    poll = result("poll", latency_p50=0.0936, cpu_seconds=1.529, requests_per_message=0.198)
    long = result("long poll", latency_p50=0.1385, cpu_seconds=0.927, requests_per_message=0.104)
    text = recommend([push, poll, long], PACED)
    assert text.startswith(
        "For this workload, push: it had the lowest median latency (11.50 ms) and it cost more "
        "server CPU (1.581 s) than long poll (0.927 s), which was slower (138.50 ms), with 377 "
        "bytes per message on the wire."
    )


def test_recommends_a_model_that_lost_nothing_over_a_faster_one_that_did() -> None:
    push = result("push", latency_p50=0.0002, dropped=870, delivered=3130)
    long = result("long poll", latency_p50=0.002, requests_per_message=0.2)
    text = recommend([push, long], Workload(overflow=Overflow.DROP_OLDEST))
    assert text.startswith("For this workload, long poll: it delivered every message, and ")
    assert "push dropped 870 messages (overflow drop-oldest)" in text


def test_a_much_cheaper_model_nearly_as_fast_is_recommended() -> None:
    push = result("push", latency_p50=0.004, cpu_seconds=0.4)
    long = result("long poll", latency_p50=0.005, cpu_seconds=0.1, requests_per_message=0.2)
    text = recommend([push, long], PACED)
    assert text.startswith(
        "For this workload, long poll: its median latency (5.00 ms) was close to the lowest "
        "(push: 4.00 ms) and it cost the least server CPU (0.100 s)."
    )


def test_recommendation_with_one_model_asks_for_the_others() -> None:
    assert recommend([result("poll")], PACED).startswith("Only poll ran")

"""The sans-IO decisions: long-poll release, sizes and settings."""

from __future__ import annotations

import math
from typing import Any

import pytest

from deliverymodes import Batching, Release, Retention, default_sizer
from deliverymodes._core import measure, release_reason


def reason(
    messages: int = 0,
    nbytes: int = 0,
    *,
    min_messages: int = 1,
    min_bytes: int | None = None,
    timed_out: bool = False,
    closed: bool = False,
) -> Release | None:
    return release_reason(
        messages,
        nbytes,
        min_messages=min_messages,
        min_bytes=min_bytes,
        timed_out=timed_out,
        closed=closed,
    )


def test_release_waits_until_a_condition_holds() -> None:
    assert reason(0, 0, min_messages=1) is None
    assert reason(2, 100, min_messages=3, min_bytes=101) is None


def test_release_conditions_each_alone() -> None:
    assert reason(3, 0, min_messages=3) is Release.MIN_MESSAGES
    assert reason(1, 50, min_messages=3, min_bytes=50) is Release.MIN_BYTES
    assert reason(0, 0, timed_out=True) is Release.MAX_WAIT
    assert reason(0, 0, closed=True) is Release.CLOSED


def test_release_order_decides_when_several_hold() -> None:
    everything = {"timed_out": True, "closed": True}
    assert reason(5, 50, min_messages=5, min_bytes=10, **everything) is Release.MIN_MESSAGES
    assert reason(1, 50, min_messages=5, min_bytes=10, **everything) is Release.MIN_BYTES
    assert reason(1, 5, min_messages=5, min_bytes=10, **everything) is Release.MAX_WAIT
    assert reason(1, 5, min_messages=5, min_bytes=10, closed=True) is Release.CLOSED


def test_default_sizer_is_exact_for_bytes_and_str() -> None:
    assert default_sizer(b"abc") == 3
    assert default_sizer(bytearray(b"abcd")) == 4
    assert default_sizer(memoryview(b"abcde")) == 5
    assert default_sizer("abc") == 3
    assert default_sizer("é€") == 5  # UTF-8: 2 + 3 bytes


def test_default_sizer_measures_other_payloads_as_compact_json() -> None:
    assert default_sizer({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert default_sizer(12345) == 5
    assert default_sizer({"k": "é"}) == len('{"k":"é"}'.encode())


def test_default_sizer_falls_back_to_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    assert default_sizer(Thing()) == len("Thing()")
    assert default_sizer(math.nan) == len("NaN")


@pytest.mark.parametrize(
    ("result", "error", "text"),
    [(-1, ValueError, "sizer must return a size >= 0"), ("3", TypeError, "sizer must return")],
)
def test_measure_rejects_bad_sizer_results(result: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        measure(lambda _payload: result, b"x")


@pytest.mark.parametrize(
    ("make", "error", "name"),
    [
        (lambda: Retention(max_messages=0), ValueError, "max_messages"),
        (lambda: Retention(max_messages=-5), ValueError, "max_messages"),
        (lambda: Retention(max_bytes=-1), ValueError, "max_bytes"),
        (lambda: Retention(max_age=-1.0), ValueError, "max_age"),
        (lambda: Retention(max_age=math.nan), ValueError, "max_age"),
        (lambda: Retention(max_messages=1.5), TypeError, "max_messages"),  # type: ignore[arg-type]
        (lambda: Batching(min_messages=0), ValueError, "min_messages"),
        (lambda: Batching(min_bytes=-1), ValueError, "min_bytes"),
        (lambda: Batching(max_wait=-0.1), ValueError, "max_wait"),
        (lambda: Batching(max_wait="1"), TypeError, "max_wait"),  # type: ignore[arg-type]
        (lambda: Batching(max_messages=0), ValueError, "max_messages"),
        (lambda: Batching(max_bytes=0), ValueError, "max_bytes"),
        (lambda: Batching(min_messages=True), TypeError, "min_messages"),
    ],
)
def test_settings_errors_name_the_argument(make: Any, error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name):
        make()


def test_settings_defaults_are_bounded() -> None:
    assert Retention().max_messages is not None
    unbounded = Retention.unbounded()
    assert (unbounded.max_messages, unbounded.max_bytes, unbounded.max_age) == (None, None, None)
    batching = Batching()
    assert batching.min_messages == 1
    assert batching.min_bytes is None
    assert batching.max_wait is not None
    assert batching.max_messages is not None
    assert batching.max_bytes is not None

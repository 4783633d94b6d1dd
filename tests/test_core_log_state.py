"""The sans-IO log state of poll and long-poll channels, driven step by step."""

from __future__ import annotations

import pytest

from deliverymodes import (
    EARLIEST,
    LATEST,
    Batching,
    ChannelStatistics,
    Message,
    Release,
    Retention,
)
from deliverymodes._core import LogState, Wait, min_messages_of

State = LogState[int, Wait]


def filled(count: int, retention: Retention | None = None, *, epoch: int = 7) -> State:
    state: State = LogState(retention or Retention(), epoch)
    for payload in range(count):
        assert state.log.append(payload, 1, 0.0).offset == payload
    return state


def payloads(messages: tuple[Message[int], ...]) -> list[int]:
    return [message.payload for message in messages]


def test_a_poll_answers_what_is_retained_and_counts_it() -> None:
    state = filled(3)
    batch = state.poll(1, None, None, None, 0.0)
    assert (payloads(batch.messages), batch.cursor, batch.epoch) == ([1, 2], 3, 7)
    assert (batch.reason, batch.closed) == (None, False)
    empty = state.poll(3, None, None, None, 0.0)
    assert empty.messages == ()
    assert state.statistics(0.0) == ChannelStatistics(
        published=3, delivered=2, polls=2, empty_polls=1, retained_messages=3, retained_bytes=3
    )


def test_a_poll_behind_retention_reports_what_it_missed() -> None:
    state = filled(5, Retention(max_messages=2))
    batch = state.poll(EARLIEST, None, None, None, 0.0)
    assert (batch.missed, payloads(batch.messages)) == (0, [3, 4])
    behind = state.poll(1, 1, None, None, 0.0)
    assert (behind.missed, payloads(behind.messages), behind.cursor) == (2, [3], 4)
    assert state.statistics(0.0).missed == 2


def test_age_is_measured_at_the_time_the_caller_gives() -> None:
    state: State = LogState(Retention(max_age=10.0), 1)
    state.log.append(0, 1, 100.0)
    state.log.append(1, 1, 105.0)
    assert state.earliest(104.0) == 0
    assert state.earliest(112.0) == 1
    assert state.statistics(120.0).retained_messages == 0


def test_fit_keeps_what_the_reader_can_take_and_the_cursor_follows() -> None:
    state = filled(4)
    batch = state.poll(0, None, None, lambda messages: 2, 0.0)
    assert (payloads(batch.messages), batch.cursor) == ([0, 1], 2)
    assert state.statistics(0.0).delivered == 2


def test_cursors_are_checked_and_latest_is_fixed_at_once() -> None:
    state = filled(2)
    assert state.fix(LATEST) == 2
    assert state.fix(EARLIEST) is EARLIEST  # resolved when read: retention may move it
    assert state.resolve(EARLIEST) == 0
    with pytest.raises(ValueError, match="beyond the head"):
        state.fix(3)
    with pytest.raises(ValueError, match="start must be >= 0"):
        state.resolve(-1, name="start")


def test_a_cursor_from_another_life_starts_again_and_is_counted() -> None:
    state = filled(2, epoch=7)
    assert state.restart(5, None) == (5, False)
    assert state.restart(1, 7) == (1, False)
    assert state.restart(5, 3) == (0, True)
    assert state.restart(LATEST, 3) == (LATEST, False)
    with pytest.raises(ValueError, match="epoch"):
        state.restart(0, 0)
    batch = state.across(state.poll(0, None, None, None, 0.0))
    assert batch.missed_unknown
    assert state.statistics(0.0).missed_unknown == 1


def test_a_long_poll_answers_at_once_only_when_a_threshold_is_met() -> None:
    state = filled(2)
    assert state.long_poll_now(0, Batching(min_messages=3), None, 0.0) is None
    assert state.statistics(0.0).polls == 0  # not answered: nothing counted
    capped = state.long_poll_now(0, Batching(min_messages=3, max_messages=2), None, 0.0)
    assert capped is not None
    assert (capped.reason, payloads(capped.messages)) == (Release.MIN_MESSAGES, [0, 1])
    by_bytes = state.long_poll_now(0, Batching(min_messages=3, min_bytes=2), None, 0.0)
    assert by_bytes is not None
    assert by_bytes.reason is Release.MIN_BYTES
    now = state.long_poll_now(LATEST, Batching(max_wait=0), None, 0.0)
    assert now is not None
    assert (now.reason, now.messages) == (Release.MAX_WAIT, ())
    assert min_messages_of(Batching(min_messages=5, max_messages=None)) == 5


def test_a_waiting_long_poll_is_released_by_the_publish_that_meets_its_threshold() -> None:
    state = filled(1)
    batching = Batching(min_messages=2)
    wait = Wait(1, min_messages_of(batching), batching.min_bytes)
    assert state.start_waiting(wait)
    assert state.statistics(0.0).waiting_polls == 1
    state.log.append(1, 1, 0.0)
    assert state.released() == []
    state.log.append(2, 1, 0.0)
    assert state.released() == [wait]
    state.stop_waiting(wait)  # answered: harmless
    batch = state.long_poll_after(wait, batching, None, 0.0)
    assert (batch.reason, payloads(batch.messages), batch.cursor) == (
        Release.MIN_MESSAGES,
        [1, 2],
        3,
    )
    assert state.statistics(0.0).waiting_polls == 0


def test_a_long_poll_whose_threshold_is_met_does_not_wait() -> None:
    state = filled(2)
    assert not state.start_waiting(Wait(0, 2, None))
    assert state.statistics(0.0).waiting_polls == 0


def test_a_long_poll_that_stops_waiting_answers_with_what_there_is() -> None:
    state = filled(1)
    batching = Batching(min_messages=3)
    wait = Wait(0, 3, None)
    assert state.start_waiting(wait)
    state.stop_waiting(wait)  # timed out or cancelled
    state.log.append(1, 1, 0.0)
    assert state.released() == []
    batch = state.long_poll_after(wait, batching, None, 0.0)
    assert (batch.reason, payloads(batch.messages)) == (Release.MAX_WAIT, [0, 1])


def test_a_released_long_poll_keeps_its_reason_when_retention_evicts_meanwhile() -> None:
    state = filled(0, Retention(max_messages=1))
    wait = Wait(0, 1, None)
    assert state.start_waiting(wait)
    state.log.append(0, 1, 0.0)
    assert state.released() == [wait]
    state.log.append(1, 1, 0.0)  # evicts 0: now only 1 is pending, still enough
    state.log.append(2, 1, 0.0)
    batch = state.long_poll_after(wait, Batching(), None, 0.0)
    assert (batch.reason, batch.missed, payloads(batch.messages)) == (
        Release.MIN_MESSAGES,
        2,
        [2],
    )


def test_close_releases_every_waiting_long_poll() -> None:
    state = filled(1)
    waits = [Wait(1, 1, None), Wait(0, 5, 100)]
    assert all(state.start_waiting(wait) for wait in waits)
    assert state.close() == waits
    assert all(wait.reason is Release.CLOSED for wait in waits)
    assert state.close() == []  # twice is harmless
    assert state.closed
    batch = state.long_poll_after(waits[1], Batching(min_messages=5), None, 0.0)
    assert (batch.reason, batch.closed, payloads(batch.messages)) == (Release.CLOSED, True, [0])
    assert state.long_poll_now(1, Batching(), None, 0.0) is not None  # at once from now on


def test_closed_is_reported_only_with_the_last_message() -> None:
    state = filled(3)
    state.close()
    first = state.poll(0, 2, None, None, 0.0)
    assert (payloads(first.messages), first.closed) == ([0, 1], False)
    last = state.poll(first.cursor, 2, None, None, 0.0)
    assert (payloads(last.messages), last.closed) == ([2], True)


def test_statistics_count_subscribers_as_endpoints_report_them() -> None:
    state = filled(0)
    state.subscribers += 2
    state.subscribers -= 1
    assert state.statistics(0.0).subscribers == 1

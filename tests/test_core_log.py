"""The sans-IO retention log, driven step by step and against a plain-list model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from deliverymodes import EARLIEST, LATEST, Retention
from deliverymodes._core import Message, RetentionLog, make_message, make_messages
from tests.strategies import optional_caps, sizes


def filled(retention: Retention, sizes: list[int], now: float = 0.0) -> RetentionLog[int]:
    log: RetentionLog[int] = RetentionLog(retention)
    for index, size in enumerate(sizes):
        log.append(index, size, now)
    return log


def test_offsets_count_from_zero_in_append_order() -> None:
    log = filled(Retention(), [1, 2, 3])
    read = log.read(0, None, None)
    assert [m.offset for m in read.messages] == [0, 1, 2]
    assert [m.payload for m in read.messages] == [0, 1, 2]
    assert read.cursor == 3
    assert read.missed == 0


def test_max_messages_evicts_oldest_and_reports_missed() -> None:
    log = filled(Retention(max_messages=3), [1] * 5)
    assert (log.first, log.head, log.retained_messages) == (2, 5, 3)
    read = log.read(0, None, None)
    assert read.missed == 2
    assert [m.offset for m in read.messages] == [2, 3, 4]


def test_max_bytes_keeps_retained_bytes_within_limit() -> None:
    log = filled(Retention(max_messages=None, max_bytes=10), [4, 4, 4])
    assert log.retained_bytes == 8
    assert log.first == 1


def test_message_larger_than_max_bytes_is_evicted_at_once() -> None:
    log = filled(Retention(max_messages=None, max_bytes=10), [3, 11])
    assert log.retained_messages == 0
    assert log.retained_bytes == 0
    read = log.read(0, None, None)
    assert read.messages == ()
    assert read.missed == 2
    assert read.cursor == 2


def test_max_age_evicts_by_wall_clock() -> None:
    log: RetentionLog[str] = RetentionLog(Retention(max_age=10.0))
    log.append("old", 1, now=100.0)
    log.append("new", 1, now=105.0)
    assert log.evict_expired(now=112.0) == 1
    assert [m.payload for m in log.read(0, None, None).messages] == ["new"]
    assert log.evict_expired(now=200.0) == 1
    assert log.retained_messages == 0


def test_read_caps_messages_and_bytes() -> None:
    log = filled(Retention(), [3, 3, 3, 3])
    assert len(log.read(0, 2, None).messages) == 2
    assert len(log.read(0, None, 7).messages) == 2
    assert len(log.read(0, None, 6).messages) == 2
    assert len(log.read(0, None, 5).messages) == 1


def test_single_message_over_max_bytes_is_returned_alone() -> None:
    log = filled(Retention(), [50, 1])
    read = log.read(0, 10, 10)
    assert [m.offset for m in read.messages] == [0]
    assert read.cursor == 1


def test_pending_ignores_missed_messages() -> None:
    log = filled(Retention(max_messages=2), [5, 6, 7])
    assert log.pending(0) == (2, 13)
    assert log.pending(2) == (1, 7)
    assert log.pending(3) == (0, 0)


def test_resolve_checks_range_and_start_positions() -> None:
    log = filled(Retention(max_messages=2), [1, 1, 1])
    assert log.resolve(EARLIEST) == 1
    assert log.resolve(LATEST) == 3
    assert log.resolve(3) == 3
    with pytest.raises(ValueError, match="cursor must be >= 0"):
        log.resolve(-1)
    with pytest.raises(ValueError, match="cursor 4 is beyond the head"):
        log.resolve(4)
    with pytest.raises(TypeError, match="start must be an int"):
        log.resolve("1", name="start")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cursor must be an int"):
        log.resolve(True)


def test_compaction_keeps_offsets_and_bytes() -> None:
    log = filled(Retention(max_messages=10), [2] * 5000)
    assert (log.first, log.head) == (4990, 5000)
    assert log.retained_bytes == 20
    read = log.read(4995, None, 5)
    assert [m.offset for m in read.messages] == [4995, 4996]
    assert log.pending(4990) == (10, 20)


class LogModel(RuleBasedStateMachine):
    """The log against a list of every message ever appended plus the retention rules."""

    def __init__(self) -> None:
        super().__init__()
        self.log: RetentionLog[int] | None = None
        self.sizes: list[int] = []
        self.first = 0  # oldest retained offset in the model
        self.retention = Retention()

    @rule(max_messages=optional_caps, max_bytes=st.none() | st.integers(0, 60))
    def configure(self, max_messages: int | None, max_bytes: int | None) -> None:
        if self.log is None:
            self.retention = Retention(max_messages=max_messages, max_bytes=max_bytes)
            self.log = RetentionLog(self.retention)

    @rule(size=sizes)
    def append(self, size: int) -> None:
        if self.log is None:
            self.configure(None, None)
        assert self.log is not None
        message = self.log.append(len(self.sizes), size, 0.0)
        assert message.offset == len(self.sizes)
        self.sizes.append(size)
        limit_messages = self.retention.max_messages
        limit_bytes = self.retention.max_bytes
        while (limit_messages is not None and len(self.sizes) - self.first > limit_messages) or (
            limit_bytes is not None and sum(self.sizes[self.first :]) > limit_bytes
        ):
            self.first += 1

    @rule(data=st.data(), max_messages=optional_caps, max_bytes=optional_caps)
    def read(self, data: st.DataObject, max_messages: int | None, max_bytes: int | None) -> None:
        if self.log is None:
            return
        cursor = data.draw(st.integers(0, len(self.sizes)))
        read = self.log.read(cursor, max_messages, max_bytes)
        begin = max(cursor, self.first)
        expected = list(range(begin, len(self.sizes)))
        if max_messages is not None:
            expected = expected[:max_messages]
        if max_bytes is not None:
            kept: list[int] = []
            total = 0
            for offset in expected:
                total += self.sizes[offset]
                if total > max_bytes and kept:
                    break
                kept.append(offset)
                if total > max_bytes:
                    break
            expected = kept
        assert [m.offset for m in read.messages] == expected
        assert [m.payload for m in read.messages] == expected
        assert read.missed == begin - cursor
        assert read.cursor == begin + len(expected)
        assert self.log.pending(cursor) == (
            len(self.sizes) - begin,
            sum(self.sizes[begin:]),
        )

    @invariant()
    def retained_matches(self) -> None:
        if self.log is None:
            return
        assert self.log.head == len(self.sizes)
        assert self.log.first == self.first
        assert self.log.retained_messages == len(self.sizes) - self.first
        assert self.log.retained_bytes == sum(self.sizes[self.first :])
        if self.retention.max_bytes is not None:
            assert self.log.retained_bytes <= self.retention.max_bytes


TestLogModel = LogModel.TestCase
TestLogModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@given(st.lists(sizes, max_size=3000), st.integers(1, 50))
@settings(max_examples=30, deadline=None)
def test_long_runs_with_compaction_match_model(sizes_: list[int], keep: int) -> None:
    log = filled(Retention(max_messages=keep), sizes_)
    first = max(0, len(sizes_) - keep)
    assert log.first == first
    assert log.retained_bytes == sum(sizes_[first:])
    assert [m.offset for m in log.read(0, None, None).messages] == list(range(first, len(sizes_)))


@given(
    st.lists(st.lists(sizes, min_size=1, max_size=40), max_size=60),
    optional_caps,
    optional_caps,
    st.integers(0, 5),
)
@settings(max_examples=60, deadline=None)
def test_extend_at_is_append_at_for_each(
    groups: list[list[int]], max_messages: int | None, max_bytes: int | None, start: int
) -> None:
    retention = Retention(max_messages=max_messages, max_bytes=max_bytes)
    one_by_one: RetentionLog[int] = RetentionLog(retention)
    together: RetentionLog[int] = RetentionLog(retention)
    logs = (together, one_by_one)
    for log in logs:
        log.restart_at(start)
    offset = start
    for group in groups:
        messages = [make_message(offset + i, offset + i, size, 0.0) for i, size in enumerate(group)]
        offset += len(group)
        for message in messages:
            one_by_one.append_at(message, 0.0)
        together.extend_at(messages, 0.0)
        assert (together.first, together.head) == (one_by_one.first, one_by_one.head)
        assert together.retained_bytes == one_by_one.retained_bytes
        read_together, read_one_by_one = (log.read(start, None, None) for log in logs)
        assert read_together.messages == read_one_by_one.messages
        assert together.bytes_before(together.first) == one_by_one.bytes_before(one_by_one.first)


def test_extend_at_refuses_offsets_that_do_not_follow() -> None:
    log: RetentionLog[str] = RetentionLog(Retention())
    log.extend_at([], 0.0)
    with pytest.raises(ValueError, match="appended at 0"):
        log.extend_at([make_message(1, "a", 1, 0.0)], 0.0)
    with pytest.raises(ValueError, match="appended at 0"):
        log.extend_at([make_message(0, "a", 1, 0.0), make_message(2, "b", 1, 0.0)], 0.0)
    assert log.head == 0


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0),
            st.text(),
            st.integers(min_value=0),
            st.floats(allow_nan=False),
        ),
        max_size=20,
    )
)
def test_make_messages_makes_what_make_message_and_the_constructor_make(
    fields: list[tuple[int, str, int, float]],
) -> None:
    offsets, payloads, sizes_, times = (
        (list(column) for column in zip(*fields, strict=True)) if fields else ([], [], [], [])
    )
    made = make_messages(offsets, payloads, sizes_, times)
    assert made == [make_message(*each) for each in fields]
    assert [(m.offset, m.payload, m.size) for m in made] == [each[:3] for each in fields]
    assert all(type(m) is Message for m in made)


def test_make_messages_refuses_sequences_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="shorter"):
        make_messages([0, 1], ["a"], [1], [0.0])

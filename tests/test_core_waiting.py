"""The release queue of waiting long polls, against checking every waiting poll on each append."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from deliverymodes import Release, Retention
from deliverymodes._core import ReleaseQueue, RetentionLog, Wait, release_reason


def ready_now(log: RetentionLog[int], wait: Wait) -> Release | None:
    count, nbytes = log.pending(wait.offset)
    return release_reason(
        count,
        nbytes,
        min_messages=wait.min_messages,
        min_bytes=wait.min_bytes,
        timed_out=False,
        closed=False,
    )


def test_a_poll_is_released_by_the_append_that_meets_its_count() -> None:
    log: RetentionLog[int] = RetentionLog(Retention())
    queue: ReleaseQueue[Wait] = ReleaseQueue()
    wait = Wait(0, 3, None)
    queue.add(wait, log)
    for payload in range(2):
        log.append(payload, 1, 0.0)
        assert queue.released(log) == []
    log.append(2, 1, 0.0)
    assert queue.released(log) == [wait]
    assert wait.reason is Release.MIN_MESSAGES
    assert len(queue) == 0


def test_a_poll_is_released_by_bytes_before_its_count() -> None:
    log: RetentionLog[int] = RetentionLog(Retention())
    queue: ReleaseQueue[Wait] = ReleaseQueue()
    wait = Wait(0, 100, 10)
    queue.add(wait, log)
    log.append(0, 4, 0.0)
    assert queue.released(log) == []
    log.append(1, 6, 0.0)  # exactly min_bytes
    assert queue.released(log) == [wait]
    assert wait.reason is Release.MIN_BYTES


def test_eviction_postpones_a_release_rather_than_counting_missed_messages() -> None:
    log: RetentionLog[int] = RetentionLog(Retention(max_messages=2))
    queue: ReleaseQueue[Wait] = ReleaseQueue()
    wait = Wait(0, 3, None)
    queue.add(wait, log)
    for payload in range(3):  # the third append evicts offset 0: only 2 pending
        log.append(payload, 1, 0.0)
        assert queue.released(log) == []
    assert len(queue) == 1


def test_discarded_polls_are_not_released_and_do_not_pile_up() -> None:
    log: RetentionLog[int] = RetentionLog(Retention())
    queue: ReleaseQueue[Wait] = ReleaseQueue()
    for _ in range(1000):  # polls timing out on a quiet channel, again and again
        wait = Wait(0, 1, 1)
        queue.add(wait, log)
        queue.discard(wait)
        queue.discard(wait)  # twice is harmless
    assert len(queue) == 0
    assert len(queue._by_head) + len(queue._by_bytes) < 200
    log.append(0, 1, 0.0)
    assert queue.released(log) == []


class QueueModel(RuleBasedStateMachine):
    """Every append releases exactly the polls a full scan would, with the same reason."""

    def __init__(self) -> None:
        super().__init__()
        self.log: RetentionLog[int] | None = None
        # A small slack, so that a few steps show whether released polls are forgotten.
        self.queue: ReleaseQueue[Wait] = ReleaseQueue(stale_slack=2)
        self.waiting: list[Wait] = []

    @precondition(lambda self: self.log is None)
    @rule(
        max_messages=st.none() | st.integers(1, 8),
        max_bytes=st.none() | st.integers(1, 40),
    )
    def start(self, max_messages: int | None, max_bytes: int | None) -> None:
        self.log = RetentionLog(Retention(max_messages=max_messages, max_bytes=max_bytes))

    @precondition(lambda self: self.log is not None)
    @rule(
        behind=st.integers(0, 12),
        min_messages=st.integers(1, 6),
        min_bytes=st.none() | st.integers(0, 12),
    )
    def wait(self, behind: int, min_messages: int, min_bytes: int | None) -> None:
        assert self.log is not None
        wait = Wait(max(0, self.log.head - behind), min_messages, min_bytes)
        if ready_now(self.log, wait) is None:
            self.queue.add(wait, self.log)
            self.waiting.append(wait)

    @precondition(lambda self: self.log is not None)
    @rule(size=st.integers(0, 5))
    def append(self, size: int) -> None:
        assert self.log is not None
        self.log.append(self.log.head, size, 0.0)
        expected = {id(w): ready_now(self.log, w) for w in self.waiting}
        released = self.queue.released(self.log)
        assert sorted(id(w) for w in released) == sorted(
            key for key, reason in expected.items() if reason is not None
        )
        for wait in released:
            assert wait.reason is expected[id(wait)]
        self.waiting = [w for w in self.waiting if expected[id(w)] is None]

    @precondition(lambda self: bool(self.waiting))
    @rule(data=st.data())
    def give_up(self, data: st.DataObject) -> None:
        wait = self.waiting.pop(data.draw(st.integers(0, len(self.waiting) - 1)))
        self.queue.discard(wait)

    @precondition(lambda self: self.log is not None)
    @rule()
    def close(self) -> None:
        released = self.queue.release_all(Release.CLOSED)
        assert sorted(map(id, released)) == sorted(map(id, self.waiting))
        assert all(wait.reason is Release.CLOSED for wait in released)
        self.waiting = []

    @invariant()
    def counts_the_waiting(self) -> None:
        assert len(self.queue) == len(self.waiting)

    @invariant()
    def keeps_nothing_for_polls_no_longer_waiting(self) -> None:
        assert self.queue.entries <= 2 * len(self.waiting) + 2


TestQueueModel = QueueModel.TestCase
TestQueueModel.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)

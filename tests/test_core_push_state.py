"""The sans-IO push state, driven step by step and against a model of plain lists."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from deliverymodes import ChannelStatistics, Message, Overflow, SubscriberStatistics
from deliverymodes._core import End, PushState, PushSubscription
from tests.strategies import policies

# Waiters are plain strings here: the state only hands them back.
State = PushState[int, str]
Subscription = PushSubscription[int, str]


def publish(state: State, payload: int) -> list[str]:
    message, woken = state.publish(payload, 1, 0.0)
    assert (message.offset, message.payload) == (state.head - 1, payload)
    return list(woken)


def offered(subscription: Subscription) -> int:
    """Every message offered to an open subscription is delivered, dropped or buffered."""
    counts = subscription.statistics()
    return counts.delivered + counts.dropped + counts.lag


def take(subscription: Subscription) -> int | None:
    message, room = subscription.take()
    assert room is None
    return None if message is None else message.payload


def test_every_subscription_gets_every_later_message_in_order() -> None:
    state: State = PushState()
    early = state.subscribe(5, Overflow.BLOCK)
    publish(state, 0)
    late = state.subscribe(5, Overflow.BLOCK)
    publish(state, 1)
    assert [take(early), take(early), take(early)] == [0, 1, None]
    assert [take(late), take(late)] == [1, None]
    assert early.end is None  # nothing more now, but more may come


def test_a_publish_hands_back_the_waiters_of_subscriptions_it_gave_a_message() -> None:
    state: State = PushState()
    waiting = state.subscribe(2, Overflow.BLOCK)
    idle = state.subscribe(2, Overflow.BLOCK)
    waiting.waiter = "reader"
    assert publish(state, 0) == ["reader"]
    assert waiting.waiter is None
    assert publish(state, 1) == []  # woken once, until a receiver waits again
    assert idle.statistics().lag == 2


def test_a_full_block_buffer_holds_publishers_until_a_take_makes_room() -> None:
    state: State = PushState()
    one = state.subscribe(1, Overflow.BLOCK)
    two = state.subscribe(1, Overflow.BLOCK)
    publish(state, 0)
    assert state.blocked
    with pytest.raises(RuntimeError, match="BLOCK buffer is full"):
        state.publish(1, 1, 0.0)
    assert state.head == 1  # the refused publish took no offset
    state.room_waiter = "publishers"
    message, room = one.take()
    assert (message is not None, room) == (True, None)  # two still holds them back
    assert state.blocked
    message, room = two.take()
    assert room == "publishers"
    assert not state.blocked
    assert state.room_waiter is None


def test_drop_oldest_and_drop_newest_count_what_they_drop() -> None:
    state: State = PushState()
    oldest = state.subscribe(2, Overflow.DROP_OLDEST)
    newest = state.subscribe(2, Overflow.DROP_NEWEST)
    for payload in range(5):
        publish(state, payload)
    assert not state.blocked
    assert [take(oldest), take(oldest)] == [3, 4]
    assert [take(newest), take(newest)] == [0, 1]
    for subscription in (oldest, newest):
        assert subscription.statistics() == SubscriberStatistics(delivered=2, dropped=3)
        assert offered(subscription) == 5


def test_a_cut_off_subscription_drains_then_ends_and_drops_until_closed() -> None:
    state: State = PushState()
    slow = state.subscribe(2, Overflow.DISCONNECT)
    fast = state.subscribe(10, Overflow.DISCONNECT)
    publish(state, 0)
    publish(state, 1)
    assert publish(state, 2) == []  # cut off by 2: a full buffer has no waiting receiver
    publish(state, 3)
    assert slow.dropped == 2  # 2, and 3 published after the cut
    assert state.statistics().subscribers == 1
    assert [take(slow), take(slow), take(slow)] == [0, 1, None]
    assert slow.end is End.CUT_OFF
    assert slow.close() == []
    publish(state, 4)  # after it was closed: no longer counted for it
    assert slow.statistics() == SubscriberStatistics(delivered=2, dropped=2)
    assert slow.end is End.CUT_OFF
    assert offered(fast) == 5


def test_refused_messages_count_as_dropped() -> None:
    state: State = PushState()
    subscription = state.subscribe(3, Overflow.BLOCK)
    publish(state, 0)
    take(subscription)
    subscription.refuse_last()
    assert subscription.statistics() == SubscriberStatistics(delivered=0, dropped=1)
    assert state.statistics().dropped == 1


def test_closing_a_subscription_drops_its_buffer_and_releases_publishers() -> None:
    state: State = PushState()
    subscription = state.subscribe(2, Overflow.BLOCK)
    publish(state, 0)
    publish(state, 1)
    state.room_waiter = "publishers"
    subscription.waiter = "reader"  # another task receiving on it (no message for it yet)
    assert sorted(subscription.close()) == ["publishers", "reader"]
    assert not state.blocked
    assert subscription.end is End.UNSUBSCRIBED
    assert take(subscription) is None
    assert subscription.statistics() == SubscriberStatistics(delivered=0, dropped=2)
    assert subscription.close() == []  # twice is harmless
    publish(state, 2)
    assert state.statistics() == ChannelStatistics(published=3, dropped=2)


def test_close_ends_subscriptions_after_their_buffers_and_wakes_everyone() -> None:
    state: State = PushState()
    full = state.subscribe(1, Overflow.BLOCK)
    empty = state.subscribe(5, Overflow.BLOCK)
    publish(state, 0)
    assert take(empty) == 0
    empty.waiter = "reader"
    state.room_waiter = "publishers"
    assert sorted(state.close()) == ["publishers", "reader"]
    assert state.close() == []  # twice is harmless
    assert state.closed
    assert not state.blocked
    with pytest.raises(RuntimeError, match="closed"):
        state.publish(1, 1, 0.0)
    assert empty.end is End.CLOSED
    message, room = full.take()  # it was full: no publisher to release any more
    assert isinstance(message, Message)
    assert room is None
    assert take(full) is None
    assert full.end is End.CLOSED
    late = state.subscribe(1, Overflow.BLOCK)
    assert late.end is End.CLOSED
    assert state.statistics() == ChannelStatistics(published=1, delivered=2)


def test_statistics_keep_the_counts_of_closed_subscriptions() -> None:
    state: State = PushState()
    one = state.subscribe(3, Overflow.DROP_NEWEST)
    two = state.subscribe(3, Overflow.DROP_NEWEST)
    for payload in range(4):
        publish(state, payload)
    take(one)
    assert state.statistics() == ChannelStatistics(
        published=4, delivered=1, dropped=2, subscribers=2, buffered=5
    )
    one.close()
    assert state.statistics() == ChannelStatistics(
        published=4, delivered=1, dropped=4, subscribers=1, buffered=3
    )
    assert two.statistics().lag == 3


class SubscriptionModel:
    """What one subscription should hold and have counted, as plain values."""

    def __init__(self, subscription: Subscription, name: str) -> None:
        self.subscription = subscription
        self.name = name
        self.buffer: list[int] = []
        self.delivered = 0
        self.dropped = 0
        self.last_offset = -1
        self.offered = 0  # messages published while it was open
        self.receiving = True  # offered new messages into its buffer
        self.cut_off = False
        self.unsubscribed = False
        self.waiting = False  # a receiver waits on it

    @property
    def full_block(self) -> bool:
        return (
            self.subscription.policy is Overflow.BLOCK
            and self.receiving
            and len(self.buffer) == self.subscription.size
        )


class PushStateModel(RuleBasedStateMachine):
    """Subscribe, publish, take, refuse, close a subscription, close the channel, in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.state: State = PushState()
        self.models: list[SubscriptionModel] = []
        self.retired_delivered = 0
        self.retired_dropped = 0
        self.closed = False
        self.room_waiting = False

    def blocked(self) -> bool:
        return not self.closed and any(model.full_block for model in self.models)

    def open_models(self) -> list[SubscriptionModel]:
        return [model for model in self.models if not model.unsubscribed]

    def pick(self, data: st.DataObject) -> SubscriptionModel:
        return data.draw(st.sampled_from(self.models))

    @rule(size=st.integers(1, 5), policy=policies)
    def subscribe(self, size: int, policy: Overflow) -> None:
        subscription = self.state.subscribe(size, policy)
        model = SubscriptionModel(subscription, f"reader {len(self.models)}")
        model.receiving = not self.closed
        self.models.append(model)

    @precondition(lambda self: not self.state.blocked and not self.state.closed)
    @rule()
    def publish(self) -> None:
        assert not self.blocked()
        offset = self.state.head
        message, woken = self.state.publish(offset, 1, 0.0)
        assert message.offset == offset
        expected: list[str] = []
        for model in self.models:
            if model.unsubscribed:
                continue
            model.offered += 1
            if model.cut_off:
                model.dropped += 1  # cut off: dropped until closed
            if not model.receiving:
                continue
            size = model.subscription.size
            if len(model.buffer) < size:
                model.buffer.append(offset)
            elif model.subscription.policy is Overflow.DROP_OLDEST:
                model.buffer = [*model.buffer[1:], offset]
                model.dropped += 1
            elif model.subscription.policy is Overflow.DROP_NEWEST:
                model.dropped += 1
            else:
                assert model.subscription.policy is Overflow.DISCONNECT
                model.dropped += 1
                model.receiving = False
                model.cut_off = True
            if model.waiting:
                model.waiting = False
                expected.append(model.name)
        assert sorted(woken) == sorted(expected)

    @precondition(lambda self: self.models)
    @rule(data=st.data())
    def take(self, data: st.DataObject) -> None:
        model = self.pick(data)
        was_blocked = self.blocked()
        message, room = model.subscription.take()
        if model.buffer:
            assert message is not None
            offset = model.buffer.pop(0)
            assert message.offset == offset > model.last_offset
            model.last_offset = offset
            model.delivered += 1
        else:
            assert message is None
            if model.unsubscribed:
                ended: End | None = End.CUT_OFF if model.cut_off else End.UNSUBSCRIBED
            elif model.cut_off:
                ended = End.CUT_OFF
            elif self.closed:
                ended = End.CLOSED
            else:
                ended = None
            assert model.subscription.end is ended
        self.check_room(was_blocked, room)

    def check_room(self, was_blocked: bool, room: str | None) -> None:
        if was_blocked and not self.blocked() and self.room_waiting:
            assert room == "publishers"
            self.room_waiting = False
        else:
            assert room is None

    @precondition(lambda self: self.state.blocked and self.state.room_waiter is None)
    @rule()
    def wait_for_room(self) -> None:
        self.state.room_waiter = "publishers"
        self.room_waiting = True

    @precondition(lambda self: self.models)
    @rule(data=st.data())
    def wait_for_a_message(self, data: st.DataObject) -> None:
        model = self.pick(data)
        if model.buffer or model.subscription.end is not None or model.waiting:
            return
        model.subscription.waiter = model.name
        model.waiting = True

    @precondition(lambda self: any(model.delivered for model in self.open_models()))
    @rule(data=st.data())
    def refuse_last(self, data: st.DataObject) -> None:
        model = data.draw(st.sampled_from([m for m in self.open_models() if m.delivered]))
        model.subscription.refuse_last()
        model.delivered -= 1
        model.dropped += 1

    @precondition(lambda self: self.open_models())
    @rule(data=st.data())
    def close_a_subscription(self, data: st.DataObject) -> None:
        model = data.draw(st.sampled_from(self.open_models()))
        was_blocked = self.blocked()
        woken = model.subscription.close()
        model.dropped += len(model.buffer)
        model.buffer = []
        model.receiving = False
        model.unsubscribed = True
        self.retired_delivered += model.delivered
        self.retired_dropped += model.dropped
        expected = [model.name] if model.waiting else []
        model.waiting = False
        if was_blocked and not self.blocked() and self.room_waiting:
            expected.append("publishers")
            self.room_waiting = False
        assert sorted(woken) == sorted(expected)

    @rule()
    def close(self) -> None:
        woken = self.state.close()
        expected: list[str] = []
        if not self.closed:
            for model in self.models:
                if model.receiving and model.waiting:
                    expected.append(model.name)
                    model.waiting = False
                model.receiving = False
            if self.room_waiting:
                expected.append("publishers")
                self.room_waiting = False
        self.closed = True
        assert sorted(woken) == sorted(expected)

    @invariant()
    def every_subscription_counts_what_it_was_offered(self) -> None:
        for model in self.models:
            subscription = model.subscription
            assert [m.offset for m in subscription.buffer] == model.buffer
            assert subscription.statistics() == SubscriberStatistics(
                delivered=model.delivered, dropped=model.dropped, lag=len(model.buffer)
            )
            if not model.unsubscribed:
                assert offered(subscription) == model.offered

    @invariant()
    def channel_statistics_are_the_sum_of_the_subscriptions(self) -> None:
        open_models = self.open_models()
        assert self.state.statistics() == ChannelStatistics(
            published=self.state.head,
            delivered=self.retired_delivered + sum(m.delivered for m in open_models),
            dropped=self.retired_dropped + sum(m.dropped for m in open_models),
            subscribers=sum(m.receiving for m in self.models),
            buffered=sum(len(m.buffer) for m in open_models),
        )

    @invariant()
    def only_full_block_buffers_hold_publishers(self) -> None:
        assert self.state.blocked is self.blocked()


TestPushStateModel = PushStateModel.TestCase
TestPushStateModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def _takes(subscription: Subscription) -> list[tuple[int, int | None]]:
    """(payload, life) of every buffered message, taken in order."""
    taken = []
    while (payload := take(subscription)) is not None:
        taken.append((payload, subscription.epoch))
    return taken


@pytest.mark.parametrize("policy", [Overflow.DROP_NEWEST, Overflow.DROP_OLDEST, Overflow.BLOCK])
def test_a_new_life_begins_at_the_first_message_offered_after_it(policy: Overflow) -> None:
    """Messages buffered before the restart keep the old life (None); the first one offered
    after it, and those after, carry the new epoch, whatever the policy dropped."""
    state: State = PushState()
    subscription = state.subscribe(2, policy)
    publish(state, 0)
    assert _takes(subscription) == [(0, None)]
    publish(state, 1)
    state.restart(0, 7)
    if policy is not Overflow.BLOCK:
        publish(state, 2)
    taken = _takes(subscription)
    assert taken[0] == (1, None)
    assert taken[1:] == ([] if policy is Overflow.BLOCK else [(2, 7)])
    publish(state, 3)
    assert _takes(subscription) == [(3, 7)]


def test_a_new_life_whose_first_messages_were_dropped_begins_at_the_next_one() -> None:
    state: State = PushState()
    subscription = state.subscribe(1, Overflow.DROP_OLDEST)
    publish(state, 0)  # buffered, of the old life
    state.restart(0, 7)
    publish(state, 1)  # drops 0: the first of the new life, buffered
    publish(state, 2)  # drops 1: the new life now begins at 2
    state.restart(0, 8)
    publish(state, 3)  # drops 2
    assert _takes(subscription) == [(3, 8)]


def test_lives_begun_while_messages_wait_are_told_in_order() -> None:
    state: State = PushState()
    subscription = state.subscribe(10, Overflow.DROP_NEWEST)
    publish(state, 0)
    state.restart(0, 7)
    publish(state, 1)
    state.restart(0, 8)
    publish(state, 2)
    assert _takes(subscription) == [(0, None), (1, 7), (2, 8)]


def test_two_lives_begun_back_to_back_and_dropped_leave_the_latest() -> None:
    state: State = PushState()
    subscription = state.subscribe(1, Overflow.DROP_OLDEST)
    publish(state, 0)
    state.restart(0, 7)
    state.restart(0, 8)  # nothing offered in between: the same place
    publish(state, 1)  # drops 0
    publish(state, 2)  # drops 1, which began both
    assert _takes(subscription) == [(2, 8)]

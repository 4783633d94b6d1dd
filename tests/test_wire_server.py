"""The server connection object, step by step: what it lets through, what it refuses."""

from __future__ import annotations

import pytest

from deliverymodes import ErrorCode, ProtocolError, wire


def connected(**limits: int) -> wire.ServerConnection:
    settings = {"max_frame_size": 1 << 16, "max_subscriptions": 2, "max_waiting_polls": 2}
    server = wire.ServerConnection(**(settings | limits))
    server.receive_data(wire.encode(wire.Hello(wire.PROTOCOL_VERSION, 1 << 12)))
    assert isinstance(server.next_event(), wire.Hello)
    assert server.state is wire.State.OPEN
    assert server.peer_max_frame_size == 1 << 12
    return server


def received(server: wire.ServerConnection, *events: wire.Event) -> list[object]:
    server.receive_data(b"".join(wire.encode(event) for event in events))
    out: list[object] = []
    while (event := server.next_event()) is not None:
        out.append(event)
    return out


def subscribed(server: wire.ServerConnection, number: int, window: int) -> None:
    received(server, wire.Subscribe(number, number, "c", 0, 0, window))
    server.send(wire.Subscribed(number, number, 1, 0))


def test_welcome_answers_hello() -> None:
    server = wire.ServerConnection(max_frame_size=2048, max_subscriptions=1, max_waiting_polls=1)
    assert server.state is wire.State.HANDSHAKE
    server.receive_data(wire.encode(wire.Hello(wire.PROTOCOL_VERSION, 4096)))
    assert isinstance(server.next_event(), wire.Hello)
    assert server.welcome() == wire.encode(wire.Welcome(wire.PROTOCOL_VERSION, 2048))


def test_a_request_is_open_until_its_one_answer() -> None:
    server = connected()
    assert received(server, wire.Publish(1, "c", b"1"), wire.Poll(2, "c", 0)) == [
        wire.Publish(1, "c", b"1"),
        wire.Poll(2, "c", 0),
    ]
    assert server.open_requests == {1, 2}
    frame = server.send(wire.Published(1, 0, 1, 1.0))
    assert frame == wire.encode(wire.Published(1, 0, 1, 1.0))
    assert server.open_requests == {2}
    with pytest.raises(RuntimeError, match="not open"):
        server.send(wire.Published(1, 0, 1, 1.0))  # answered already
    with pytest.raises(RuntimeError, match="not open for a Published"):
        server.send(wire.Published(2, 0, 1, 1.0))  # a poll is answered by a batch
    server.batch((2, 1, 0, 0, 0, 0), [])
    assert server.open_requests == frozenset()


def test_a_number_in_use_is_a_violation() -> None:
    server = connected()
    received(server, wire.LongPoll(5, "c", 0))
    server.receive_data(wire.encode(wire.Poll(5, "c", 0)))
    with pytest.raises(ProtocolError, match="in use by a LONG_POLL") as caught:
        server.next_event()
    assert caught.value.code is ErrorCode.PROTOCOL_VIOLATION


def test_a_number_is_free_again_once_answered() -> None:
    server = connected()
    received(server, wire.Poll(5, "c", 0))
    server.send(wire.Error(5, ErrorCode.UNKNOWN_CHANNEL, "no"))
    assert received(server, wire.Poll(5, "c", 0)) == [wire.Poll(5, "c", 0)]


def test_long_polls_held_waiting_are_bounded() -> None:
    server = connected(max_waiting_polls=2)
    received(server, *(wire.LongPoll(n, "c", 0) for n in (1, 2, 3)))
    server.hold(1)
    server.hold(2)
    with pytest.raises(wire.RequestRefused, match="2 long polls") as caught:
        server.hold(3)
    assert caught.value.code is ErrorCode.TOO_MANY_REQUESTS
    assert server.waiting == 2
    server.send(wire.Error(1, ErrorCode.CANCELLED, "withdrawn"))
    assert server.waiting == 1
    server.hold(3)
    with pytest.raises(RuntimeError, match="not an open long poll"):
        server.hold(1)


def test_cancel_comes_through_only_for_an_open_request() -> None:
    server = connected()
    events = received(server, wire.LongPoll(1, "c", 0), wire.Cancel(1), wire.Cancel(9))
    assert events == [wire.LongPoll(1, "c", 0), wire.Cancel(1)]


def test_a_publish_too_large_for_a_frame_is_refused() -> None:
    server = connected(max_frame_size=2048)
    fits = wire.Publish(1, "c", b"x" * (2048 - wire.FRAME_OVERHEAD))
    server.check(fits)
    with pytest.raises(wire.RequestRefused, match="exceeds") as caught:
        server.check(wire.Publish(2, "c", b"x" * (2049 - wire.FRAME_OVERHEAD)))
    assert caught.value.code is ErrorCode.BAD_ARGUMENT


def test_subscribe_is_checked_against_numbers_limits_and_window() -> None:
    server = connected(max_subscriptions=2)
    subscribed(server, 1, 4)
    with pytest.raises(wire.RequestRefused, match="already open") as caught:
        server.check(wire.Subscribe(9, 1, "c", 0, 0, 4))
    assert caught.value.code is ErrorCode.BAD_ARGUMENT
    with pytest.raises(wire.RequestRefused, match="window") as caught:
        server.check(wire.Subscribe(9, 2, "c", 0, 0, 0))
    assert caught.value.code is ErrorCode.BAD_ARGUMENT
    subscribed(server, 2, 4)
    with pytest.raises(wire.RequestRefused) as caught:
        server.check(wire.Subscribe(9, 3, "c", 0, 0, 4))
    assert caught.value.code is ErrorCode.TOO_MANY_SUBSCRIPTIONS


def test_pushes_spend_credit_and_credit_refills_it() -> None:
    server = connected()
    subscribed(server, 1, 2)
    assert server.credit(1) == 2
    message = (0, 1.0, 1, b"1")
    server.push(1, [message, message])
    assert server.credit(1) == 0
    with pytest.raises(RuntimeError, match="exceed the credit"):
        server.push(1, [message])
    assert received(server, wire.Credit(1, 3)) == [wire.Credit(1, 3)]
    assert server.credit(1) == 3
    push = wire.Push(1, (wire.WireMessage(*message),))
    assert server.send(push) == wire.encode(push)
    assert server.credit(1) == 2


def test_unsubscribe_ends_with_end_and_later_frames_are_taken_in_silently() -> None:
    server = connected()
    subscribed(server, 1, 2)
    assert received(server, wire.Unsubscribe(1)) == [wire.Unsubscribe(1)]
    assert server.subscriptions == {1: wire.Subscription.ENDING}
    server.push(1, [(0, 1.0, 1, b"1")])  # what was under way still goes
    server.send(wire.End(1, wire.EndReason.UNSUBSCRIBED))
    assert server.subscriptions == {}
    assert server.credit(1) == 0
    with pytest.raises(RuntimeError, match="not open"):
        server.push(1, [(1, 1.0, 1, b"1")])
    with pytest.raises(RuntimeError, match="no End"):
        server.send(wire.End(1, wire.EndReason.UNSUBSCRIBED))
    assert received(server, wire.Credit(1, 5), wire.Unsubscribe(1), wire.Keepalive()) == [
        wire.Keepalive()
    ]


def test_subscribed_must_answer_its_own_subscribe() -> None:
    server = connected()
    received(server, wire.Subscribe(1, 7, "c", 0, 0, 4))
    with pytest.raises(RuntimeError, match="another subscription"):
        server.send(wire.Subscribed(1, 8, 1, 0))


def test_end_of_stream_is_an_event_after_the_last_frame() -> None:
    server = connected()
    poll = wire.encode(wire.Poll(1, "c", 0))
    server.receive_data(poll + poll[:5])
    server.receive_data(b"")
    assert server.next_event() == wire.Poll(1, "c", 0)
    assert server.next_event() == wire.ConnectionEnded(mid_frame=True)
    assert server.state is wire.State.CLOSED
    assert server.next_event() is None
    server.receive_data(b"more")  # nothing comes after the end
    assert server.next_event() is None


def test_close_then_answers_still_go_out() -> None:
    server = connected()
    assert received(server, wire.Poll(1, "c", 0), wire.Close()) == [
        wire.Poll(1, "c", 0),
        wire.Close(),
    ]
    assert server.state is wire.State.CLOSED
    server.batch((1, 1, 0, 0, 0, 0), [])
    assert server.send(wire.Close()) == wire.encode(wire.Close())


def test_an_error_from_the_client_closes_the_connection() -> None:
    server = connected()
    received(server, wire.Error(0, ErrorCode.MALFORMED_FRAME, "bad"))
    assert server.state is wire.State.CLOSED

"""The client connection object, step by step: what it lets through, what it refuses."""

from __future__ import annotations

import pytest

from deliverymodes import ErrorCode, ProtocolError, wire

MESSAGE = wire.WireMessage(0, 1.0, 1, b"1")


def connected() -> wire.ClientConnection:
    client = wire.ClientConnection(1 << 16)
    assert client.hello() == wire.encode(wire.Hello(wire.PROTOCOL_VERSION, 1 << 16))
    assert client.state is wire.State.HANDSHAKE
    client.receive_data(wire.encode(wire.Welcome(wire.PROTOCOL_VERSION, 1 << 12)))
    assert isinstance(client.next_event(), wire.Welcome)
    assert client.state.value == "open"
    assert client.peer_max_frame_size == 1 << 12
    return client


def received(client: wire.ClientConnection, *events: wire.Event) -> list[object]:
    client.receive_data(b"".join(wire.encode(event) for event in events))
    out: list[object] = []
    while (event := client.next_event()) is not None:
        out.append(event)
    return out


def refused(client: wire.ClientConnection, event: wire.Event, match: str) -> None:
    client.receive_data(wire.encode(event))
    with pytest.raises(ProtocolError, match=match) as caught:
        client.next_event()
    assert caught.value.code is ErrorCode.PROTOCOL_VIOLATION


def subscribed(client: wire.ClientConnection, number: int, window: int) -> None:
    client.send(wire.Subscribe(number, number, "c", 0, 0, window))
    assert received(client, wire.Subscribed(number, number, 1, 0)) == [
        wire.Subscribed(number, number, 1, 0)
    ]


def test_requests_are_open_until_answered() -> None:
    client = connected()
    publish = wire.Publish(1, "c", b"1")
    assert client.send(publish) == wire.encode(publish)
    client.send(wire.Poll(2, "c", 0))
    assert client.open_requests == {1, 2}
    answers: list[wire.Event] = [wire.Batch(2, 0, 0, False, 0, ()), wire.Published(1, 0, 1, 1.0)]
    assert received(client, *answers) == answers
    assert client.open_requests == frozenset()


def test_a_number_still_open_cannot_be_sent_again() -> None:
    client = connected()
    client.send(wire.LongPoll(1, "c", 0))
    with pytest.raises(RuntimeError, match="still open"):
        client.send(wire.Poll(1, "c", 0))


def test_an_answer_to_no_open_request_is_a_violation() -> None:
    refused(connected(), wire.Published(7, 0, 1, 1.0), "not open")


def test_an_answer_of_the_wrong_kind_is_a_violation() -> None:
    client = connected()
    client.send(wire.Poll(1, "c", 0))
    refused(client, wire.Published(1, 0, 1, 1.0), "does not answer POLL")


def test_an_error_answers_any_request() -> None:
    client = connected()
    client.send(wire.Subscribe(1, 4, "c", 0, 0, 8))
    error = wire.Error(1, ErrorCode.UNKNOWN_CHANNEL, "no")
    assert received(client, error) == [error]
    assert client.subscriptions == {}
    assert client.state is wire.State.OPEN


def test_the_answer_to_a_withdrawn_request_is_taken_in_silently() -> None:
    client = connected()
    client.send(wire.LongPoll(1, "c", 0))
    client.send(wire.Cancel(1))
    client.send(wire.Cancel(9))  # unknown: sent all the same, and nothing changes
    cancelled = wire.Error(1, ErrorCode.CANCELLED, "withdrawn")
    assert received(client, cancelled, wire.Keepalive()) == [wire.Keepalive()]
    assert client.open_requests == frozenset()


def test_pushes_are_bounded_by_the_window_and_the_credit_granted() -> None:
    client = connected()
    subscribed(client, 1, 2)
    assert client.credit(1) == 2
    received(client, wire.Push(1, (MESSAGE, MESSAGE)))
    assert client.credit(1) == 0
    client.send(wire.Credit(1, 1))
    assert client.credit(1) == 1
    refused(client, wire.Push(1, (MESSAGE, MESSAGE)), "beyond a credit of 1")


def test_credit_granted_before_the_answer_counts() -> None:
    client = connected()
    client.send(wire.Subscribe(1, 3, "c", 0, 0, 2))
    client.send(wire.Credit(3, 5))
    received(client, wire.Subscribed(1, 3, 1, 0))
    assert client.credit(3) == 7


def test_a_push_or_end_for_no_open_subscription_is_a_violation() -> None:
    refused(connected(), wire.Push(4, (MESSAGE,)), "not open")
    refused(connected(), wire.End(4, wire.EndReason.UNSUBSCRIBED), "not open")


def test_subscribed_must_name_the_subscription_asked_for() -> None:
    client = connected()
    client.send(wire.Subscribe(1, 3, "c", 0, 0, 2))
    refused(client, wire.Subscribed(1, 4, 1, 0), "another subscription")


def test_a_subscription_open_cannot_be_asked_for_again() -> None:
    client = connected()
    subscribed(client, 1, 2)
    with pytest.raises(RuntimeError, match="open already"):
        client.send(wire.Subscribe(2, 1, "c", 0, 0, 2))


def test_unsubscribe_ends_with_end() -> None:
    client = connected()
    subscribed(client, 1, 2)
    client.send(wire.Unsubscribe(1))
    assert client.subscriptions == {1: wire.Subscription.ENDING}
    assert received(client, wire.Push(1, (MESSAGE,))) == [wire.Push(1, (MESSAGE,))]
    received(client, wire.End(1, wire.EndReason.UNSUBSCRIBED))
    assert client.subscriptions == {}
    assert client.credit(1) == 0


def test_unsubscribe_before_the_answer_leaves_it_ending() -> None:
    client = connected()
    client.send(wire.Subscribe(1, 3, "c", 0, 0, 2))
    client.send(wire.Unsubscribe(3))
    received(client, wire.Subscribed(1, 3, 1, 0))
    assert client.subscriptions == {3: wire.Subscription.ENDING}


def test_end_of_stream_is_an_event() -> None:
    client = connected()
    client.send(wire.Poll(1, "c", 0))
    client.receive_data(b"")
    assert client.next_event() == wire.ConnectionEnded(mid_frame=False)
    assert client.state is wire.State.CLOSED
    assert client.next_event() is None


def test_an_error_for_the_connection_closes_it() -> None:
    client = wire.ClientConnection(1 << 16)
    client.hello()
    refusal = wire.Error(0, ErrorCode.PROTOCOL_VIOLATION, "version")
    assert received(client, refusal) == [refusal]
    assert client.state is wire.State.CLOSED


def test_the_server_may_not_speak_before_welcome() -> None:
    client = wire.ClientConnection(1 << 16)
    refused(client, wire.Keepalive(), "first frame must be WELCOME")


def test_after_its_own_close_the_client_takes_what_the_server_still_owes() -> None:
    client = connected()
    client.send(wire.LongPoll(1, "c", 0))
    subscribed(client, 2, 10)
    client.send(wire.Close())
    assert client.state is wire.State.CLOSED
    owed: list[wire.Event] = [
        wire.Batch(1, 0, 0, False, 4, ()),
        wire.End(2, wire.EndReason.UNSUBSCRIBED),
    ]
    assert received(client, *owed) == owed
    assert client.open_requests == frozenset()
    client.receive_data(b"")
    assert client.next_event() == wire.ConnectionEnded(mid_frame=False)
    with pytest.raises(RuntimeError, match="after this end's CLOSE"):
        client.send(wire.Poll(3, "c", 0))


def test_after_the_servers_close_nothing_more_may_come() -> None:
    client = connected()
    assert received(client, wire.Close()) == [wire.Close()]
    refused(client, wire.Batch(1, 0, 0, False, 0, ()), "after CLOSE")


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (wire.Poll(0, "c", 0), "request number 0"),
        (wire.Cancel(0), "request number 0"),
        (wire.Error(5, ErrorCode.INTERNAL, "x"), "only for the connection"),
    ],
)
def test_what_a_client_may_never_send_is_refused(event: wire.Event, match: str) -> None:
    client = connected()
    with pytest.raises(RuntimeError, match=match):
        client.send(event)
    assert client.open_requests == frozenset()


def test_nothing_goes_before_hello() -> None:
    client = wire.ClientConnection(1 << 16)
    with pytest.raises(RuntimeError, match="hello"):
        client.send(wire.Poll(1, "c", 0))
    client.hello()
    with pytest.raises(RuntimeError, match="HELLO was sent already"):
        client.hello()


def test_a_frame_longer_than_the_server_takes_is_refused() -> None:
    client = connected()  # the server takes frames of up to 4096 bytes
    with pytest.raises(ValueError, match="larger than the peer's max_frame_size of 4096"):
        client.send(wire.Publish(1, "c", b"x" * 5000))
    client.send(wire.Publish(1, "c", b"x" * 100))  # the number was not taken by the refusal

"""A client and a server connection object wired together with no I/O, driven by hypothesis.

Bytes from one are fed to the other in pieces cut at random points; the client opens requests,
grants credit, withdraws and unsubscribes; the server answers as a pump would, within its limits,
pushes within the credit and releases long polls; either stream may end at any moment. Both
objects must agree all along: every request gets exactly one answer or fails at the end of the
stream, and the subscriptions and their credit are the same on both sides once the bytes are
through.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from deliverymodes import ErrorCode, wire

MAX_FRAME_SIZE = wire.MIN_FRAME_SIZE
MAX_PAYLOAD = MAX_FRAME_SIZE - wire.FRAME_OVERHEAD
MAX_SUBSCRIPTIONS = 3
MAX_WAITING_POLLS = 2
MESSAGE = (0, 1.0, 1, b"1")


class WirePair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = wire.ClientConnection(1 << 16)
        self.server = wire.ServerConnection(
            max_frame_size=MAX_FRAME_SIZE,
            max_subscriptions=MAX_SUBSCRIPTIONS,
            max_waiting_polls=MAX_WAITING_POLLS,
        )
        self.to_server = bytearray(self.client.hello())
        self.to_client = bytearray()
        self.numbers = 0  # the client's request and subscription numbers
        self.sent: set[int] = set()  # every request the client sent
        self.answered: set[int] = set()  # ... whose answer the client took in
        self.withdrawn: set[int] = set()
        self.held: list[int] = []  # long polls the server keeps waiting
        self.ended = False  # a stream ended: the connection is over
        self.server_ended = self.client_ended = False

    # -- the client ------------------------------------------------------------------------------

    def _number(self) -> int:
        self.numbers += 1
        return self.numbers

    def _request(self, event: wire.Publish | wire.Poll | wire.LongPoll | wire.Subscribe) -> None:
        self.to_server += self.client.send(event)
        self.sent.add(event.request)

    @precondition(lambda self: not self.ended)
    @rule(size=st.one_of(st.integers(0, 3), st.integers(MAX_PAYLOAD - 1, MAX_PAYLOAD + 8)))
    def publish(self, size: int) -> None:
        self._request(wire.Publish(self._number(), "c", b"x" * size))

    @precondition(lambda self: not self.ended)
    @rule()
    def poll(self) -> None:
        self._request(wire.Poll(self._number(), "c", 0))

    @precondition(lambda self: not self.ended)
    @rule()
    def long_poll(self) -> None:
        self._request(wire.LongPoll(self._number(), "c", 0))

    @precondition(lambda self: not self.ended)
    @rule(window=st.integers(0, 4))
    def subscribe(self, window: int) -> None:
        request = self._number()
        self._request(wire.Subscribe(request, self._number(), "c", 0, 0, window))

    @precondition(lambda self: not self.ended and self.client.open_requests)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        request = data.draw(st.sampled_from(sorted(self.client.open_requests)))
        self.withdrawn.add(request)
        self.to_server += self.client.send(wire.Cancel(request))

    @precondition(lambda self: not self.ended and self.client.subscriptions)
    @rule(data=st.data(), messages=st.integers(1, 3))
    def credit(self, data: st.DataObject, messages: int) -> None:
        number = data.draw(st.sampled_from(sorted(self.client.subscriptions)))
        self.to_server += self.client.send(wire.Credit(number, messages))

    @precondition(lambda self: not self.ended and self.client.subscriptions)
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.client.subscriptions)))
        self.to_server += self.client.send(wire.Unsubscribe(number))

    # -- the bytes between them ------------------------------------------------------------------

    @precondition(lambda self: not self.ended and self.to_server)
    @rule(data=st.data())
    def deliver_to_server(self, data: st.DataObject) -> None:
        cut = data.draw(st.integers(1, len(self.to_server)))
        chunk, self.to_server = bytes(self.to_server[:cut]), self.to_server[cut:]
        self.server.receive_data(chunk)
        self._serve()

    @precondition(lambda self: not self.ended and self.to_client)
    @rule(data=st.data())
    def deliver_to_client(self, data: st.DataObject) -> None:
        cut = data.draw(st.integers(1, len(self.to_client)))
        chunk, self.to_client = bytes(self.to_client[:cut]), self.to_client[cut:]
        self.client.receive_data(chunk)
        self._take_answers()

    @precondition(lambda self: not self.ended)
    @rule(server_side=st.booleans())
    def end_of_stream(self, server_side: bool) -> None:
        """One stream ends, maybe mid-frame: the reader sees what came, then the end."""
        self.ended = True
        if server_side:  # the client's stream to the server ended
            self.server.receive_data(b"")
            self._serve()
            assert self.server_ended
        else:
            self.client.receive_data(b"")
            self._take_answers()
            assert self.client_ended
            # What is still open fails with the connection; all else was answered once.
            failed = set(self.client.open_requests)
            assert failed.isdisjoint(self.answered)
            assert failed | self.answered | self._withdrawn_answered() == self.sent

    @precondition(lambda self: self.ended)
    @rule(data=st.binary(min_size=1, max_size=8))
    def bytes_after_the_end(self, data: bytes) -> None:
        """Once its stream ended, an end takes in nothing more."""
        if self.server_ended:
            self.server.receive_data(data)
            assert self.server.next_event() is None
        if self.client_ended:
            self.client.receive_data(data)
            assert self.client.next_event() is None

    def _withdrawn_answered(self) -> set[int]:
        return (self.withdrawn & self.sent) - set(self.client.open_requests) - self.answered

    # -- the server, as a pump would drive it ----------------------------------------------------

    def _serve(self) -> None:
        server = self.server
        while (event := server.next_event()) is not None:
            assert not self.server_ended, "nothing comes after the end"
            if isinstance(event, wire.ConnectionEnded):
                self.server_ended = True
            elif isinstance(event, wire.Hello):
                self.to_client += server.welcome()
            elif isinstance(event, wire.Publish):
                try:
                    server.check(event)
                except wire.RequestRefused as refusal:
                    assert len(event.data) > MAX_PAYLOAD
                    self._refuse(event.request, refusal)
                else:
                    assert len(event.data) <= MAX_PAYLOAD
                    self.to_client += server.send(wire.Published(event.request, 0, 1, 1.0))
            elif isinstance(event, wire.Poll):
                self.to_client += server.batch((event.request, 1, 0, 0, 0, 0), [])
            elif isinstance(event, wire.LongPoll):
                try:
                    server.hold(event.request)
                except wire.RequestRefused as refusal:
                    assert server.waiting == MAX_WAITING_POLLS
                    self._refuse(event.request, refusal)
                else:
                    self.held.append(event.request)
            elif isinstance(event, wire.Subscribe):
                try:
                    server.check(event)
                except wire.RequestRefused as refusal:
                    self._refuse(event.request, refusal)
                else:
                    subscribed = wire.Subscribed(event.request, event.subscription, 1, 0)
                    self.to_client += server.send(subscribed)
            elif isinstance(event, wire.Unsubscribe):
                end = wire.End(event.subscription, wire.EndReason.UNSUBSCRIBED)
                self.to_client += server.send(end)
            elif isinstance(event, wire.Cancel) and event.request in self.held:
                self.held.remove(event.request)
                withdrawn = wire.Error(event.request, ErrorCode.CANCELLED, "withdrawn")
                self.to_client += server.send(withdrawn)

    def _refuse(self, request: int, refusal: wire.RequestRefused) -> None:
        self.to_client += self.server.send(wire.Error(request, refusal.code, str(refusal)))

    @precondition(lambda self: not self.ended and self.held)
    @rule(data=st.data())
    def release_long_poll(self, data: st.DataObject) -> None:
        request = data.draw(st.sampled_from(self.held))
        self.held.remove(request)
        self.to_client += self.server.batch((request, 1, 1, 0, 0, 3), [MESSAGE])

    @precondition(
        lambda self: not self.ended and any(map(self.server.credit, self.server.subscriptions))
    )
    @rule(data=st.data())
    def push(self, data: st.DataObject) -> None:
        numbers = [n for n in sorted(self.server.subscriptions) if self.server.credit(n)]
        number = data.draw(st.sampled_from(numbers))
        count = data.draw(st.integers(1, self.server.credit(number)))
        self.to_client += self.server.push(number, [MESSAGE] * count)

    @precondition(lambda self: not self.ended and self.server.subscriptions)
    @rule(data=st.data())
    def channel_closes(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.server.subscriptions)))
        self.to_client += self.server.send(wire.End(number, wire.EndReason.CHANNEL_CLOSED))

    # -- the client taking answers ---------------------------------------------------------------

    def _take_answers(self) -> None:
        while (event := self.client.next_event()) is not None:
            assert not self.client_ended, "nothing comes after the end"
            if isinstance(event, wire.ConnectionEnded):
                self.client_ended = True
            elif isinstance(event, (wire.Published, wire.Batch, wire.Subscribed, wire.Error)):
                assert event.request not in self.withdrawn, "a withdrawn answer came through"
                assert event.request not in self.answered, "answered twice"
                self.answered.add(event.request)

    # -- what must hold at every step ------------------------------------------------------------

    @invariant()
    def the_server_never_holds_what_the_client_closed(self) -> None:
        assert self.server.open_requests <= self.client.open_requests

    @invariant()
    def limits_hold(self) -> None:
        assert self.server.waiting <= MAX_WAITING_POLLS
        assert len(self.server.subscriptions) <= MAX_SUBSCRIPTIONS

    @invariant()
    def credit_never_runs_ahead_of_the_client(self) -> None:
        for number in self.server.subscriptions:
            assert self.server.credit(number) <= self.client.credit(number)

    @invariant()
    def both_sides_agree_once_the_bytes_are_through(self) -> None:
        if self.ended or self.to_server or self.to_client:
            return
        assert self.client.open_requests == self.server.open_requests == set(self.held)
        assert self.client.subscriptions == self.server.subscriptions
        for number in self.server.subscriptions:
            assert self.server.credit(number) == self.client.credit(number)
        assert self.answered | self._withdrawn_answered() | set(self.held) == self.sent


TestWirePair = WirePair.TestCase
TestWirePair.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)

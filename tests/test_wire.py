"""The sans-IO wire protocol: frames round-trip, decoders survive garbage, the two ends agree."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from deliverymodes import BytesCodec, Codec, JsonCodec, ProtocolError, wire
from deliverymodes._wire._codec import _load_json_carefully, load_json, load_json_many
from tests.strategies import events


def decode_all(decoder: wire.FrameDecoder) -> list[wire.Event]:
    found = []
    while (event := decoder.next_event()) is not None:
        found.append(event)
    return found


@given(st.lists(events, max_size=8), st.integers(1, 64))
@settings(max_examples=200)
def test_frames_round_trip_in_any_chunking(sent: list[wire.Event], chunk: int) -> None:
    data = b"".join(wire.encode(event) for event in sent)
    decoder = wire.FrameDecoder(1 << 20)
    received = []
    for start in range(0, len(data), chunk):
        decoder.receive_data(data[start : start + chunk])
        received.extend(decode_all(decoder))
    assert received == sent
    assert decoder.buffered == 0


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_decoder_fed_random_bytes_raises_only_protocol_errors(data: bytes) -> None:
    decoder = wire.FrameDecoder(256)
    decoder.receive_data(data)
    try:
        decode_all(decoder)
    except ProtocolError as error:
        code = error.code
    else:
        return
    assert isinstance(code, wire.ErrorCode)
    with pytest.raises(ProtocolError):  # a broken decoder stays broken
        decoder.next_event()


@given(st.binary(min_size=1, max_size=200))
@settings(max_examples=300)
def test_random_frame_bodies_raise_only_protocol_errors(body: bytes) -> None:
    """Well-framed garbage: a valid length around arbitrary kind and body bytes."""
    decoder = wire.FrameDecoder(1 << 16)
    decoder.receive_data(struct.pack(">I", len(body)) + body)
    try:
        event = decoder.next_event()
    except ProtocolError:
        return
    assert event is not None
    assert wire.encode(event) == struct.pack(">I", len(body)) + body  # decoded exactly


def test_oversize_frame_is_refused_before_it_is_buffered() -> None:
    decoder = wire.FrameDecoder(100)
    decoder.receive_data(struct.pack(">I", 101))
    with pytest.raises(ProtocolError) as caught:
        decoder.next_event()
    assert caught.value.code is wire.ErrorCode.FRAME_TOO_LARGE
    assert "101" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (struct.pack(">I", 0), wire.ErrorCode.MALFORMED_FRAME),
        (struct.pack(">IB", 1, 0x7F), wire.ErrorCode.UNKNOWN_FRAME_KIND),
        (
            struct.pack(">IB", 4, wire.Kind.UNSUBSCRIBE) + b"\x00\x01\x02",
            wire.ErrorCode.MALFORMED_FRAME,
        ),
        (struct.pack(">IBIB", 6, wire.Kind.UNSUBSCRIBE, 1, 0), wire.ErrorCode.MALFORMED_FRAME),
        (struct.pack(">IBIB", 6, wire.Kind.END, 1, 9), wire.ErrorCode.MALFORMED_FRAME),
        (struct.pack(">IBIH", 7, wire.Kind.ERROR, 1, 999), wire.ErrorCode.MALFORMED_FRAME),
    ],
)
def test_malformed_frames_name_their_fault(data: bytes, code: wire.ErrorCode) -> None:
    decoder = wire.FrameDecoder(1 << 10)
    decoder.receive_data(data)
    with pytest.raises(ProtocolError) as caught:
        decoder.next_event()
    assert caught.value.code is code


def test_frames_before_a_bad_one_come_out_first() -> None:
    decoder = wire.FrameDecoder(1 << 10)
    decoder.receive_data(wire.encode(wire.Keepalive()) + struct.pack(">IB", 1, 0x7F))
    assert decoder.next_event() == wire.Keepalive()
    with pytest.raises(ProtocolError):
        decoder.next_event()


def test_encode_refuses_fields_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        wire.encode(wire.Credit(-1, 1))
    with pytest.raises(ValueError, match="65535"):
        wire.encode(wire.Publish(1, "x" * 70_000, b""))
    with pytest.raises(TypeError, match="not a wire event"):
        wire.encode("hello")  # type: ignore[arg-type]


def connected() -> tuple[wire.ClientProtocol, wire.ServerProtocol]:
    """A client and a server protocol object after their handshake, wired with no I/O."""
    client, server = wire.ClientProtocol(1 << 16), wire.ServerProtocol(1 << 20)
    server.receive_data(client.hello())
    hello = server.next_event()
    assert isinstance(hello, wire.Hello)
    assert server.peer_max_frame_size == 1 << 16
    client.receive_data(server.welcome())
    assert isinstance(client.next_event(), wire.Welcome)
    assert client.peer_max_frame_size == 1 << 20
    assert client.state is server.state is wire.State.OPEN
    return client, server


def test_request_and_answers_travel_between_the_two_ends() -> None:
    client, server = connected()
    server.receive_data(client.send(wire.Publish(1, "prices", b'{"p":1}')))
    server.receive_data(client.send(wire.LongPoll(2, "prices", 0, 1, -1, 500, 100, -2)))
    publish, long_poll = server.next_event(), server.next_event()
    assert publish == wire.Publish(1, "prices", b'{"p":1}')
    assert long_poll == wire.LongPoll(2, "prices", 0, 1, -1, 500, 100, -2)
    answer = wire.Batch(2, 1, 0, False, 1, (wire.WireMessage(0, 1.5, 7, b'{"p":1}'),))
    client.receive_data(server.send(wire.Published(1, 0, 7, 1.5)) + server.send(answer))
    assert client.next_event() == wire.Published(1, 0, 7, 1.5)
    assert client.next_event() == answer
    assert client.next_event() is None


def test_the_server_requires_hello_first_and_a_known_version() -> None:
    server = wire.ServerProtocol(1 << 10)
    server.receive_data(wire.encode(wire.Poll(1, "x", 0)))
    with pytest.raises(ProtocolError, match="first frame must be HELLO"):
        server.next_event()
    server = wire.ServerProtocol(1 << 10)
    server.receive_data(wire.encode(wire.Hello(99, 1 << 10)))
    with pytest.raises(ProtocolError, match="version 99"):
        server.next_event()


def test_frames_in_the_wrong_direction_are_violations() -> None:
    client, server = connected()
    server.receive_data(wire.encode(wire.Push(1, ())))
    with pytest.raises(ProtocolError) as caught:
        server.next_event()
    assert caught.value.code is wire.ErrorCode.PROTOCOL_VIOLATION
    client.receive_data(wire.encode(wire.Publish(1, "x", b"")))
    with pytest.raises(ProtocolError, match="do not travel in this direction"):
        client.next_event()
    with pytest.raises(TypeError, match="does not send"):
        client.send(wire.Push(1, ()))


def test_nothing_may_follow_close() -> None:
    client, server = connected()
    server.receive_data(client.send(wire.Close()) + wire.encode(wire.Keepalive()))
    assert server.next_event() == wire.Close()
    assert server.state is wire.State.CLOSED
    with pytest.raises(ProtocolError, match="after CLOSE"):
        server.next_event()


def test_client_accepts_an_error_instead_of_welcome() -> None:
    client = wire.ClientProtocol(1 << 10)
    client.receive_data(wire.encode(wire.Error(0, wire.ErrorCode.PROTOCOL_VIOLATION, "no")))
    event = client.next_event()
    assert isinstance(event, wire.Error)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(json_values)
def test_json_codec_round_trips(value: object) -> None:
    codec: Codec[object] = JsonCodec()
    assert codec.decode(codec.encode(value)) == value


@given(st.binary())
def test_bytes_codec_round_trips(value: bytes) -> None:
    codec = BytesCodec()
    assert codec.decode(codec.encode(value)) == value


@given(st.binary())
def test_json_codec_refuses_garbage_with_value_error(data: bytes) -> None:
    try:
        value = JsonCodec().decode(data)
    except ValueError:
        with pytest.raises(ValueError, match=r"."):
            json.loads(data)
        return
    assert repr(value) == repr(json.loads(data))


# JSON text, valid and not: what load_json's quick way must leave to the careful one.
_JSON_ATOMS = [
    '"a"', '"é"', '"\\u00e9"', '"\\ud800"', '"\\U0001"', '"\\"', '"a\\"b"', '"\x00"', "1",
    "-0", "1.5", "1e5", "1E999", "-1e-999", "NaN", "-Infinity", "true", "false", "null",
    "9" * 400, "01", "[1,]", "\ud800",
]  # fmt: skip
_near_json = st.recursive(
    st.sampled_from(_JSON_ATOMS),
    lambda children: (
        st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(st.sampled_from(['"k"', '"e"', "k"]), children), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"
        )
    ),
    max_leaves=6,
)
_around = st.sampled_from(["", " ", "\n", "\ufeff", "x", "]", "[" * 130])


@given(
    st.tuples(_around, _near_json, _around).map("".join)
    | st.lists(st.sampled_from([*_JSON_ATOMS, "[", "]", "{", "}", ",", ":"]), max_size=8).map(
        "".join
    )
    | json_values.map(json.dumps)
)
@example('"\\ud800"')
@example("[" * 129 + "]" * 129)
@example("[1E999]")
def test_load_json_quick_way_agrees_with_the_careful_way(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    outcomes = []
    for load in (_load_json_carefully, load_json):
        try:
            outcomes.append(repr(load(data)))
        except ValueError as error:
            outcomes.append(type(error).__name__)
    assert outcomes[0] == outcomes[1]


_json_items = (
    st.tuples(_around, _near_json, _around).map("".join)
    | json_values.map(json.dumps)
    | st.sampled_from(["[" * 100 + "]" * 100, "{}", "1" * 301])
).map(lambda text: text.encode("utf-8", "surrogatepass"))


@given(st.lists(_json_items, max_size=6))
@example([b"[1E999]", b"1"])
@example([b'"\\ud800"'])
@example([b"[" * 100 + b"]" * 100, b"[" * 29 + b"]" * 29])
@example([b'"\\', b'u0041"'])
def test_load_json_many_is_load_json_for_each(items: list[bytes]) -> None:
    def outcome(load: Callable[[], object]) -> str:
        try:
            return repr(load())
        except ValueError as error:
            return type(error).__name__

    expected = outcome(lambda: [load_json(item) for item in items])
    assert outcome(lambda: load_json_many(items)) == expected
    assert outcome(lambda: JsonCodec().decode_many(items)) == expected


def test_codecs_refuse_what_they_cannot_encode() -> None:
    with pytest.raises(TypeError):
        JsonCodec().encode(object())
    with pytest.raises(TypeError, match="bytes-like"):
        BytesCodec().encode("text")  # type: ignore[arg-type]
    assert isinstance(JsonCodec(), Codec)
    assert isinstance(BytesCodec(), Codec)

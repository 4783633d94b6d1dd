"""Core values and wire values, both ways, through the one module that maps them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverymodes import (
    EARLIEST,
    LATEST,
    MAX_EPOCH,
    UNSET,
    ChannelClosed,
    ErrorCode,
    Overflow,
    ProtocolError,
    Release,
    RemoteError,
    SlowConsumer,
    wire,
)
from deliverymodes._wire import _translate as translate


@pytest.mark.parametrize("overflow", [None, *Overflow])
def test_overflow_codes_round_trip(overflow: Overflow | None) -> None:
    assert translate.overflow_from_wire(translate.overflow_code(overflow)) is overflow


def test_an_unknown_overflow_code_is_refused() -> None:
    with pytest.raises(translate.RequestRefused, match="unknown overflow 5") as caught:
        translate.overflow_from_wire(5)
    assert caught.value.code is ErrorCode.BAD_ARGUMENT


@pytest.mark.parametrize("reason", [None, *Release])
def test_release_codes_round_trip(reason: Release | None) -> None:
    code = translate.release_code(reason)
    assert 0 <= code <= 4
    assert translate.release_from_wire(code) is reason


@given(st.one_of(st.just(EARLIEST), st.just(LATEST), st.integers(0, 2**63 - 1)))
def test_cursors_round_trip(cursor: object) -> None:
    assert translate.cursor_from_wire(translate.wire_cursor(cursor)) == cursor  # type: ignore[arg-type]


def test_cursors_out_of_range_are_refused_on_both_sides() -> None:
    with pytest.raises(ValueError, match="cursor must be >= 0"):
        translate.wire_cursor(-3)
    with pytest.raises(TypeError, match="int, EARLIEST or LATEST"):
        translate.wire_cursor(True)
    with pytest.raises(translate.RequestRefused, match="-1 \\(EARLIEST\\)"):
        translate.cursor_from_wire(-3)
    assert translate.wire_cursor(EARLIEST) == wire.EARLIEST_CURSOR
    assert translate.wire_cursor(LATEST) == wire.LATEST_CURSOR


@given(st.one_of(st.none(), st.integers(1, MAX_EPOCH)))
def test_epochs_round_trip(epoch: int | None) -> None:
    assert translate.epoch_from_wire(translate.wire_epoch(epoch)) == epoch


def test_an_epoch_beyond_the_limit_is_refused() -> None:
    with pytest.raises(translate.RequestRefused, match="2\\*\\*53"):
        translate.epoch_from_wire(MAX_EPOCH + 1)


@given(st.one_of(st.just(UNSET), st.none(), st.integers(1, 2**40)))
def test_settings_round_trip(value: object) -> None:
    field = translate.wire_setting("max_messages", value, minimum=1)
    assert translate.setting_from_wire("max_messages", field, UNSET) == value


def test_a_setting_below_its_minimum_is_refused() -> None:
    with pytest.raises(translate.RequestRefused, match="min_messages must be >= 1") as caught:
        translate.setting_from_wire("min_messages", 0, UNSET, no_limit=False)
    assert caught.value.code is ErrorCode.BAD_ARGUMENT
    with pytest.raises(translate.RequestRefused):
        translate.setting_from_wire("min_messages", wire.NO_LIMIT, UNSET, no_limit=False)


def test_a_batch_comes_back_with_its_messages_decoded() -> None:
    frame = wire.Batch(7, 3, 1, True, 4, (wire.WireMessage(2, 1.5, 4, b"42.0"),), 9, True)
    batch = translate.batch_from_wire(frame, float)
    assert [(m.offset, m.payload, m.size, m.published_at) for m in batch.messages] == [
        (2, 42.0, 4, 1.5)
    ]
    assert (batch.cursor, batch.missed, batch.closed, batch.reason) == (3, 1, True, Release.CLOSED)
    assert (batch.epoch, batch.missed_unknown) == (9, True)


def test_a_payload_the_codec_refuses_is_bad_payload() -> None:
    with pytest.raises(ProtocolError) as caught:
        translate.messages_from_wire((wire.WireMessage(0, 1.0, 1, b"x"),), float)
    assert caught.value.code is ErrorCode.BAD_PAYLOAD


def test_error_codes_become_what_a_local_channel_raises() -> None:
    assert isinstance(translate.error_for(ErrorCode.CHANNEL_CLOSED, "x"), ChannelClosed)
    assert isinstance(translate.error_for(ErrorCode.BAD_ARGUMENT, "x"), ValueError)
    error = translate.error_for(ErrorCode.UNKNOWN_CHANNEL, "x")
    assert isinstance(error, RemoteError)
    assert error.code is ErrorCode.UNKNOWN_CHANNEL


def test_end_reasons_and_errors_map_both_ways() -> None:
    for error in (ChannelClosed("x"), SlowConsumer("x")):
        reason = translate.end_reason(error)
        assert reason is not None
        assert type(translate.end_error(reason)) is type(error)
    assert translate.end_reason(ValueError("x")) is None
    too_large = translate.end_error(wire.EndReason.MESSAGE_TOO_LARGE)
    assert isinstance(too_large, RemoteError)
    assert too_large.code is ErrorCode.MESSAGE_TOO_LARGE
    assert isinstance(translate.end_error(wire.EndReason.UNSUBSCRIBED), ChannelClosed)


def test_refusals_map_what_a_channel_raises() -> None:
    with pytest.raises(translate.RequestRefused) as caught, translate.BAD_PAYLOADS:
        raise ValueError("not a number")
    assert (caught.value.code, str(caught.value)) == (ErrorCode.BAD_PAYLOAD, "not a number")
    with pytest.raises(translate.RequestRefused) as caught, translate.BAD_ARGUMENTS:
        raise ChannelClosed("closed")
    assert caught.value.code is ErrorCode.CHANNEL_CLOSED
    with pytest.raises(KeyError), translate.BAD_ARGUMENTS:
        raise KeyError("other failures go on as they are")

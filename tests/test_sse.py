"""Server-Sent Events formatting and parsing, against the HTML standard's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverymodes import ServerSentEvent, SseParser
from deliverymodes._http import format_comment, format_event

field_text = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]))


@given(
    st.lists(
        st.tuples(st.text(st.characters(blacklist_categories=["Cs"])), field_text), max_size=5
    ),
    st.integers(1, 30),
)
def test_formatted_events_parse_back_in_any_chunking(
    sent: list[tuple[str, str]], chunk: int
) -> None:
    stream = b"".join(format_event(data, id=ident) + format_comment("ping") for data, ident in sent)
    parser = SseParser()
    received: list[ServerSentEvent] = []
    for start in range(0, len(stream), chunk):
        received.extend(parser.feed(stream[start : start + chunk]))
    expected = [(data.replace("\r\n", "\n").replace("\r", "\n"), ident) for data, ident in sent]
    assert [(event.data, event.id) for event in received] == expected


@given(st.binary(max_size=300))
def test_parser_takes_any_bytes(data: bytes) -> None:
    events = SseParser().feed(data)
    assert all(isinstance(event.data, str) for event in events)


def test_the_standard_examples() -> None:
    parser = SseParser()
    stream = (
        b"\xef\xbb\xbfdata: first\r\n\r\n"  # a byte order mark, CRLF endings
        b": a comment\n"
        b"event: update\nid: 7\ndata:two\ndata:  lines\n\n"
        b"retry: 2500\ndata\n\n"  # a field with no colon: empty value
        b"id\ndata: no id now\r\r"
        b"data: unfinished"
    )
    events = parser.feed(stream)
    assert events == [
        ServerSentEvent("first"),
        ServerSentEvent("two\n lines", "update", "7"),
        ServerSentEvent("", "message", "7", 2500),
        ServerSentEvent("no id now", "message", "", 2500),
    ]
    assert parser.last_event_id == ""


def test_format_refuses_line_breaks_in_single_line_fields() -> None:
    with pytest.raises(ValueError, match="line break"):
        format_event("x", id="1\n2")
    assert format_event("a\nb", event="e", id="3", retry=1.5) == (
        b"retry: 1500\nid: 3\nevent: e\ndata: a\ndata: b\n\n"
    )

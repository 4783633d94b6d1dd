"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from deliverymodes import Overflow, wire

#: Payload sizes: mostly small, sometimes empty, sometimes larger than typical byte caps.
sizes = st.integers(min_value=0, max_value=40)

#: Optional caps (None means no limit), small enough to be hit often.
optional_caps = st.none() | st.integers(min_value=1, max_value=12)

policies = st.sampled_from(list(Overflow))

# -- wire protocol --------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
names = st.text(max_size=20)
times = st.floats(allow_nan=False)
wire_messages = st.builds(wire.WireMessage, u64, times, u32, st.binary(max_size=30))

events = st.one_of(
    st.builds(wire.Hello, st.integers(0, 2**16 - 1), u32),
    st.builds(wire.Welcome, st.integers(0, 2**16 - 1), u32),
    st.builds(wire.Publish, u32, names, st.binary(max_size=50)),
    st.builds(wire.Published, u32, u64, u32, times),
    st.builds(wire.Subscribe, u32, u32, names, u32, st.integers(0, 255), u32),
    st.builds(wire.Subscribed, u32, u32),
    st.builds(wire.Credit, u32, u32),
    st.builds(wire.Unsubscribe, u32),
    st.builds(wire.Push, u32, st.lists(wire_messages, max_size=4).map(tuple)),
    st.builds(wire.End, u32, st.sampled_from(list(wire.EndReason))),
    st.builds(wire.Poll, u32, names, i64, i64, i64),
    st.builds(wire.LongPoll, u32, names, i64, i64, i64, i64, i64, i64),
    st.builds(
        wire.Batch,
        u32,
        u64,
        u64,
        st.booleans(),
        st.integers(0, 4),
        st.lists(wire_messages, max_size=4).map(tuple),
    ),
    st.builds(wire.Error, u32, st.sampled_from(list(wire.ErrorCode)), st.text(max_size=30)),
    st.just(wire.Keepalive()),
    st.just(wire.Close()),
)

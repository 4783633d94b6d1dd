"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from deliverymodes import Overflow

#: Payload sizes: mostly small, sometimes empty, sometimes larger than typical byte caps.
sizes = st.integers(min_value=0, max_value=40)

#: Optional caps (None means no limit), small enough to be hit often.
optional_caps = st.none() | st.integers(min_value=1, max_value=12)

policies = st.sampled_from(list(Overflow))
drop_policies = st.sampled_from([Overflow.DROP_OLDEST, Overflow.DROP_NEWEST, Overflow.DISCONNECT])

"""The sans-IO core: retention log, cursor arithmetic, long-poll release, and the state of push
and log channels (buffers, overflow decisions, counts, close, statistics).

Plain synchronous logic that never awaits and never imports an async library, so that a test can
drive it step by step. Each step says whom to wake; the channels add waiting, wake-ups and
cancellation on top.
"""

from ._checks import (
    check_count,
    check_optional_count,
    check_optional_seconds,
    check_seconds,
    count_validator,
    seconds_validator,
)
from ._epoch import MAX_EPOCH, check_epoch, new_epoch, restart_point
from ._lag import LAG_BUCKETS, LagHistogram, LagSnapshot, lag_histogram
from ._log import Read, RetentionLog
from ._log_state import LogState, min_messages_of
from ._push_state import End, PushState, PushSubscription
from ._release import release_reason
from ._size import default_sizer, measure
from ._values import (
    EARLIEST,
    LATEST,
    UNSET,
    Batch,
    Batching,
    ChannelStatistics,
    Message,
    Overflow,
    Release,
    Retention,
    Start,
    SubscriberStatistics,
    Unset,
    make_message,
    make_messages,
)
from ._waiting import ReleaseQueue, Wait

__all__ = [
    "EARLIEST",
    "LAG_BUCKETS",
    "LATEST",
    "MAX_EPOCH",
    "UNSET",
    "Batch",
    "Batching",
    "ChannelStatistics",
    "End",
    "LagHistogram",
    "LagSnapshot",
    "LogState",
    "Message",
    "Overflow",
    "PushState",
    "PushSubscription",
    "Read",
    "Release",
    "ReleaseQueue",
    "Retention",
    "RetentionLog",
    "Start",
    "SubscriberStatistics",
    "Unset",
    "Wait",
    "check_count",
    "check_epoch",
    "check_optional_count",
    "check_optional_seconds",
    "check_seconds",
    "count_validator",
    "default_sizer",
    "lag_histogram",
    "make_message",
    "make_messages",
    "measure",
    "min_messages_of",
    "new_epoch",
    "release_reason",
    "restart_point",
    "seconds_validator",
]

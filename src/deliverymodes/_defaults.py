"""Named defaults. Each bound the library applies is here, with the reason for its value."""

from __future__ import annotations

from typing import Final

__all__ = [
    "COOPERATIVE_BUDGET",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_MESSAGES",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RETENTION_MESSAGES",
]

#: Messages a push subscriber may have waiting before its overflow policy applies. A thousand
#: absorbs a one-second burst of a 1 kHz ticker while costing at most a few kilobytes of
#: references per subscriber.
DEFAULT_BUFFER_SIZE: Final = 1000

#: Messages a poll or long-poll channel keeps when no ``Retention`` is given. Bounded by default so
#: that a forgotten channel cannot grow without limit; unbounded retention is an explicit choice.
DEFAULT_RETENTION_MESSAGES: Final = 10_000

#: Most messages one poll returns. Kafka's ``max.poll.records`` default, a batch large enough to
#: amortise a request and small enough to keep a consumer's pauses short.
DEFAULT_MAX_BATCH_MESSAGES: Final = 500

#: Most payload bytes one poll returns (a single larger message is still returned alone). Kafka's
#: ``max.partition.fetch.bytes`` default, 1 MiB.
DEFAULT_MAX_BATCH_BYTES: Final = 1024 * 1024

#: Seconds a long poll waits for its thresholds before answering with what there is. Kafka's
#: ``fetch.max.wait.ms`` default, 500 ms: long enough to batch, short enough to stay responsive.
DEFAULT_MAX_WAIT: Final = 0.5

#: Seconds a polling subscriber sleeps after an empty poll. 0.1 s is the usual threshold below which
#: an update feels instantaneous to a person, and bounds an idle subscriber to ten polls a second.
DEFAULT_POLL_INTERVAL: Final = 0.1

#: Operations (publish, receive, poll) an endpoint performs without waiting before it yields to the
#: scheduler anyway, so a tight loop cannot starve other tasks and cancellation is honoured
#: promptly. The same budget tokio gives each task (128) before forcing a yield.
COOPERATIVE_BUDGET: Final = 128

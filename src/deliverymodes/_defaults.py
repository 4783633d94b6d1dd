"""Named defaults. Each bound the library applies is here, with the reason for its value."""

from __future__ import annotations

from typing import Final

__all__ = [
    "COOPERATIVE_BUDGET",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "DEFAULT_KEEPALIVE_MISSES",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_MESSAGES",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_BUFFER_SIZE",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_LONG_POLL_WAIT",
    "DEFAULT_MAX_RECONNECT_DELAY",
    "DEFAULT_MAX_SUBSCRIPTIONS",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_MAX_WAITING_POLLS",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RECONNECT_CALL_TIMEOUT",
    "DEFAULT_RECONNECT_DELAY",
    "DEFAULT_RETENTION_MESSAGES",
    "DEFAULT_SSE_RETRY",
    "DEFAULT_WRITE_BUFFER_SIZE",
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

#: Largest frame a wire connection accepts, in bytes (its length field). Big enough for a batch of
#: hundreds of ordinary messages, small enough that one peer cannot make the other buffer much.
DEFAULT_MAX_FRAME_SIZE: Final = 1024 * 1024

#: Push subscriptions one wire connection may hold at once.
DEFAULT_MAX_SUBSCRIPTIONS: Final = 100

#: Long polls one wire connection may have waiting at once.
DEFAULT_MAX_WAITING_POLLS: Final = 100

#: Largest server-side buffer a remote push subscriber may ask for, in messages (its channel's own
#: buffer size is always allowed): ten times the default, so that one client cannot make the
#: server hold an unbounded backlog for it.
DEFAULT_MAX_BUFFER_SIZE: Final = 10 * DEFAULT_BUFFER_SIZE

#: Seconds a new wire connection has to send its HELLO before the server closes it: a peer that
#: never speaks must not hold a connection for ever.
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10.0

#: Longest a server holds a remote long poll, in seconds, whatever the client asks: under the 60 s
#: idle timeout common to proxies and load balancers, so a held request is never cut by one.
DEFAULT_MAX_LONG_POLL_WAIT: Final = 30.0

#: Seconds of silence after which a wire connection sends a KEEPALIVE frame: the interval the
#: HTML specification advises for Server-Sent Events comments, for the same reason (proxies).
DEFAULT_KEEPALIVE_INTERVAL: Final = 15.0

#: Keepalive intervals of silence after which a wire connection takes its peer for dead (a cable
#: pulled, a host gone without closing): three, so that one lost or late keepalive is no death.
DEFAULT_KEEPALIVE_MISSES: Final = 3

#: Seconds before the first attempt to reconnect a dropped connection; each later attempt waits
#: twice as long, up to the longest delay. Short, because most drops are short (a restart).
DEFAULT_RECONNECT_DELAY: Final = 0.1

#: Longest pause between two attempts to reach a server that went away, in seconds: the clients
#: stay responsive to a server that comes back without hammering one that does not.
DEFAULT_MAX_RECONNECT_DELAY: Final = 10.0

#: Seconds a call made while its connection is down waits for it to come back before it raises
#: ``ConnectionLost``: long enough for a server restart, short enough to report a lasting outage.
DEFAULT_RECONNECT_CALL_TIMEOUT: Final = 10.0

#: Bytes a wire connection queues for writing before the producers of more frames wait: four
#: maximum frames, enough to keep the socket busy without holding a slow reader's backlog.
DEFAULT_WRITE_BUFFER_SIZE: Final = 4 * DEFAULT_MAX_FRAME_SIZE

#: Seconds a Server-Sent Events client waits before reconnecting, sent as ``retry:``. The
#: HTML specification leaves the default to the browser ("a few seconds"); 3 s is what they use.
DEFAULT_SSE_RETRY: Final = 3.0

#: Largest request body the HTTP adapter reads (a publish), in bytes: the same bound as a frame.
DEFAULT_MAX_BODY_SIZE: Final = DEFAULT_MAX_FRAME_SIZE

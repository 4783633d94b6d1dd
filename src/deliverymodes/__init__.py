"""deliverymodes: push, poll and long poll behind one set of protocols, over anyio.

Application code is written against :class:`Publisher`, :class:`Subscriber` and :class:`Channel`;
switching the delivery model is a one-line change of the channel class::

    channel = PushChannel[str]()          # or PollChannel[str](), or LongPollChannel[str]()
    async with channel, channel.subscribe() as subscriber:
        await channel.publish("hello")
        message = await subscriber.receive()
"""

from ._core import (
    EARLIEST,
    LATEST,
    Batch,
    Batching,
    ChannelStatistics,
    Message,
    Overflow,
    Release,
    Retention,
    Start,
    SubscriberStatistics,
    default_sizer,
)
from ._defaults import (
    COOPERATIVE_BUDGET,
    DEFAULT_BUFFER_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_MESSAGES,
    DEFAULT_MAX_WAIT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RETENTION_MESSAGES,
)
from ._exceptions import ChannelClosed, DeliveryError, SlowConsumer
from ._longpoll import UNSET, LongPollChannel, LongPollSubscriber, Unset
from ._poll import PollChannel, PollSubscriber
from ._protocols import Channel, Publisher, Subscriber
from ._push import PushChannel, PushSubscriber

__version__ = "0.1.0.dev0"

__all__ = [
    "COOPERATIVE_BUDGET",
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_MESSAGES",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RETENTION_MESSAGES",
    "EARLIEST",
    "LATEST",
    "UNSET",
    "Batch",
    "Batching",
    "Channel",
    "ChannelClosed",
    "ChannelStatistics",
    "DeliveryError",
    "LongPollChannel",
    "LongPollSubscriber",
    "Message",
    "Overflow",
    "PollChannel",
    "PollSubscriber",
    "Publisher",
    "PushChannel",
    "PushSubscriber",
    "Release",
    "Retention",
    "SlowConsumer",
    "Start",
    "Subscriber",
    "SubscriberStatistics",
    "Unset",
    "__version__",
    "default_sizer",
]

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
    MAX_EPOCH,
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
from ._exceptions import (
    ChannelClosed,
    ConnectionLost,
    DeliveryError,
    ProtocolError,
    RemoteError,
    SlowConsumer,
)
from ._http import AccessDenied, HttpApp, ServerSentEvent, SseParser
from ._longpoll import UNSET, LongPollChannel, LongPollSubscriber, Unset
from ._poll import PollChannel, PollSubscriber
from ._protocols import (
    Channel,
    Fit,
    Publisher,
    ServedLog,
    ServedLongPoll,
    ServedPush,
    ServedSubscription,
    Subscriber,
)
from ._push import PushChannel, PushSubscriber
from ._remote import (
    Reconnect,
    Remote,
    RemoteLongPollChannel,
    RemoteLongPollSubscriber,
    RemotePollChannel,
    RemotePollSubscriber,
    RemotePushChannel,
    RemotePushSubscriber,
    ServerLimits,
    connect,
    connect_tcp,
    connect_unix,
    serve,
    serve_listener,
    serve_tcp,
    serve_unix,
    stream_pair,
)
from ._server_statistics import ServerCounts, ServerStatistics
from ._wire import BytesCodec, Codec, ErrorCode, JsonCodec

__version__ = "0.1.0.dev0"

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_EPOCH",
    "UNSET",
    "AccessDenied",
    "Batch",
    "Batching",
    "BytesCodec",
    "Channel",
    "ChannelClosed",
    "ChannelStatistics",
    "Codec",
    "ConnectionLost",
    "DeliveryError",
    "ErrorCode",
    "Fit",
    "HttpApp",
    "JsonCodec",
    "LongPollChannel",
    "LongPollSubscriber",
    "Message",
    "Overflow",
    "PollChannel",
    "PollSubscriber",
    "ProtocolError",
    "Publisher",
    "PushChannel",
    "PushSubscriber",
    "Reconnect",
    "Release",
    "Remote",
    "RemoteError",
    "RemoteLongPollChannel",
    "RemoteLongPollSubscriber",
    "RemotePollChannel",
    "RemotePollSubscriber",
    "RemotePushChannel",
    "RemotePushSubscriber",
    "Retention",
    "ServedLog",
    "ServedLongPoll",
    "ServedPush",
    "ServedSubscription",
    "ServerCounts",
    "ServerLimits",
    "ServerSentEvent",
    "ServerStatistics",
    "SlowConsumer",
    "SseParser",
    "Start",
    "Subscriber",
    "SubscriberStatistics",
    "Unset",
    "__version__",
    "connect",
    "connect_tcp",
    "connect_unix",
    "default_sizer",
    "serve",
    "serve_listener",
    "serve_tcp",
    "serve_unix",
    "stream_pair",
]

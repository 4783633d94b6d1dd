"""Channels kept in Redis, shared by every process that opens the same key."""

from ._client import DEFAULT_REDIS_TIMEOUT, RedisClient
from ._connection import RedisError
from ._log import RedisLongPollChannel, RedisPollChannel
from ._push import RedisPushChannel

__all__ = [
    "DEFAULT_REDIS_TIMEOUT",
    "RedisClient",
    "RedisError",
    "RedisLongPollChannel",
    "RedisPollChannel",
    "RedisPushChannel",
]

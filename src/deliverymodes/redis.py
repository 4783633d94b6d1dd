"""Push, poll and long-poll channels kept in Redis, shared by every process that opens them.

Needs the ``redis`` extra (``pip install "deliverymodes[redis]"``), which brings ``hiredis``.
See docs/redis.md.
"""

try:
    import hiredis  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on what is installed
    raise ImportError(
        'deliverymodes.redis needs the "redis" extra: pip install "deliverymodes[redis]"'
    ) from error

from ._redis import (
    DEFAULT_REDIS_TIMEOUT,
    RedisClient,
    RedisError,
    RedisLongPollChannel,
    RedisPollChannel,
    RedisPushChannel,
)

__all__ = [
    "DEFAULT_REDIS_TIMEOUT",
    "RedisClient",
    "RedisError",
    "RedisLongPollChannel",
    "RedisPollChannel",
    "RedisPushChannel",
]

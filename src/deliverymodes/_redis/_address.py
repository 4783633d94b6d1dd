"""Where a Redis server is, and how to log in: what a ``redis://``, ``rediss://`` or ``unix://``
URL says."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import attrs

__all__ = ["RedisAddress", "parse_redis_url"]


@attrs.frozen
class RedisAddress:
    """Where a Redis server is and how to log in: what a ``redis://``, ``rediss://`` or
    ``unix://`` URL says."""

    url: str  # as given, without the password, for messages
    host: str | None = None
    port: int = 6379
    path: str | None = None  # a Unix socket
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0


def parse_redis_url(url: object) -> RedisAddress:
    """The address a Redis URL names; ``ValueError`` naming what is wrong with it."""
    if not isinstance(url, str):
        kind = type(url).__name__
        raise TypeError(f"url must be a redis://, rediss:// or unix:// URL string, not {kind}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"url must start with redis://, rediss:// or unix://, got {url!r}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    shown = url if password is None else url.replace(f":{parts.password}@", ":***@", 1)
    query = parse_qs(parts.query)
    db_text = query.get("db", [""])[0]
    if scheme != "unix" and parts.path.strip("/"):
        db_text = parts.path.strip("/")
    try:
        db = int(db_text) if db_text else 0
    except ValueError:
        raise ValueError(f"url {shown!r} has a database number that is not a number") from None
    try:
        port = parts.port or 6379
    except ValueError:  # urllib says which: not a number, or out of range
        raise ValueError(f"url {shown!r} has a port that is not a number from 0 to 65535") from None
    if db < 0:
        raise ValueError(f"url {shown!r} names a negative database number")
    if scheme == "unix":
        if not parts.path:
            raise ValueError(f"url {shown!r} names no socket path (unix:///path/to/redis.sock)")
        return RedisAddress(shown, path=parts.path, username=username, password=password, db=db)
    if not parts.hostname:
        raise ValueError(f"url {shown!r} names no host")
    return RedisAddress(
        shown,
        host=parts.hostname,
        port=port,
        tls=scheme == "rediss",
        username=username,
        password=password,
        db=db,
    )

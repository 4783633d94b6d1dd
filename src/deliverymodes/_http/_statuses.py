"""HTTP statuses and the library's exceptions, both ways, in one place.

The app answers what a channel or a hook raised with a status (:func:`refusals`); the clients
raise, for a status, what the same call on a local channel (or over TCP) would raise
(:func:`error_for_status`). The table is in docs/http.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._exceptions import AccessDenied, ChannelClosed, ConnectionLost, RemoteError
from .._wire import ErrorCode, load_json
from ._request import HttpError

__all__ = ["error_for_status", "raise_for_status", "refusals"]

#: Statuses that say the server is not there for now (stopping, or a proxy without it): the
#: clients take them as a dropped connection, and their subscribers try again.
_UNAVAILABLE = frozenset({502, 503, 504})
#: Refusals a local channel makes with the same exception: a bad argument (400, a body too large:
#: 413) and a closed channel.
_PLAIN: dict[int, type[Exception]] = {400: ValueError, 413: ValueError, 410: ChannelClosed}
#: The ``RemoteError`` code of other statuses (other 4xx: UNSUPPORTED; other 5xx: INTERNAL), as
#: a TCP server would refuse the same request.
_CODES = {404: ErrorCode.UNKNOWN_CHANNEL}


#: What the app answers with a status of its own; anything else is a failure of the server.
_REFUSALS: tuple[type[Exception], ...] = (
    ChannelClosed,
    AccessDenied,
    ConnectionLost,
    TypeError,
    ValueError,
)


@contextmanager
def refusals(*, prefix: str = "", only: tuple[type[Exception], ...] = _REFUSALS) -> Iterator[None]:
    """Answer what the block raises among ``only`` with its status: ``ChannelClosed`` 410,
    ``AccessDenied`` its own 401 or 403, ``ConnectionLost`` (the channel cannot reach where it
    is kept, as a Redis channel while Redis is unreachable) 503, a bad argument
    (``ValueError``, ``TypeError``) 400 with ``prefix`` before its message."""
    try:
        yield
    except only as error:
        raise _status_error(error, prefix) from None


def _status_error(error: Exception, prefix: str) -> HttpError:
    if isinstance(error, ChannelClosed):
        return HttpError(410, "the channel is closed")
    if isinstance(error, AccessDenied):
        return HttpError(error.status, error.message)
    if isinstance(error, ConnectionLost):
        return HttpError(503, f"the channel cannot answer now: {error}")
    return HttpError(400, f"{prefix}{error}")


def error_for_status(status: int, text: str) -> Exception:
    """What a client raises for an error answer ``status`` whose body said ``text``."""
    if status in (401, 403):
        return AccessDenied(status, text)
    if status in _UNAVAILABLE:
        return ConnectionLost(f"HTTP {status}: {text}")
    plain = _PLAIN.get(status)
    if plain is not None:
        return plain(text)
    code = _CODES.get(status, ErrorCode.INTERNAL if status >= 500 else ErrorCode.UNSUPPORTED)
    return RemoteError(code, f"HTTP {status}: {text}")


def raise_for_status(status: int, body: bytes) -> None:
    """Raise :func:`error_for_status` for an error answer (``status`` 400 or more)."""
    if status < 400:
        return
    try:
        text = str(load_json(body)["error"])
    except (ValueError, KeyError, TypeError):
        text = body.decode("utf-8", "replace")
    raise error_for_status(status, text)

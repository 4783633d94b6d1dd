"""``POST /{name}``: publish the body, by its content type (JSON, text or bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._common import publish_at_once
from .._serving import Served
from .._wire import load_json
from ._request import (
    HttpError,
    Receive,
    Scope,
    Send,
    header,
    parameters,
    respond,
    unless_disconnected,
)
from ._statuses import refusals

if TYPE_CHECKING:
    from ._app import HttpApp

__all__ = ["serve_publish"]

_RETRY_LATER = [(b"retry-after", b"3")]


async def serve_publish(
    app: HttpApp, scope: Scope, receive: Receive, send: Send, channel: Served
) -> None:
    """Publish the body to ``channel``; answers ``{"offset", "size", "published_at"}``."""
    publish = channel.publish
    if publish is None:
        raise HttpError(405, "this channel takes no publishes", [(b"allow", b"GET")])
    parameters(scope, frozenset())
    encoding = (header(scope, b"content-encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise HttpError(415, f"Content-Encoding {encoding[:40]!r} is not supported")
    payload = _payload(scope, await _read_body(app, scope, receive))
    with refusals(prefix="cannot publish this body: "):
        message = publish_at_once(channel.channel, payload)
        if message is None:  # it waits for room: withdrawn if the client leaves meanwhile
            with app._closing.scope() as closing:
                message = await unless_disconnected(receive, publish(payload))
            if closing.cancelled_caught:
                raise HttpError(503, "the server is shutting down: not published", _RETRY_LATER)
            if message is None:
                return  # the client left: the publish reached no one, nobody to answer
    result = {"offset": message.offset, "size": message.size, "published_at": message.published_at}
    await respond(send, 200, result)


async def _read_body(app: HttpApp, scope: Scope, receive: Receive) -> bytes:
    length = header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > app.max_body_size:
        raise HttpError(413, f"body larger than {app.max_body_size} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "the client went away")
        body += message.get("body", b"")
        if len(body) > app.max_body_size:
            raise HttpError(413, f"body larger than {app.max_body_size} bytes")
        if not message.get("more_body", False):
            return bytes(body)


def _payload(scope: Scope, body: bytes) -> object:
    """What a published body carries, by its content type: JSON, text or bytes."""
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return load_json(body)
        except ValueError as error:
            raise HttpError(400, f"body is not valid JSON: {error}") from None
    if content_type.startswith("text/"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, "body is not valid UTF-8") from None
    return body

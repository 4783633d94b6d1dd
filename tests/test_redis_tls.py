"""Redis over TLS (``rediss://``): the channels work and close cleanly on both backends, with
the server's certificate checked against the CA named by ``SSL_CERT_FILE``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import trustme

from deliverymodes import ConnectionLost
from deliverymodes.redis import RedisClient, RedisLongPollChannel, RedisPushChannel
from tests.redis_helpers import new_key, take
from tests.redis_server import private_redis, require_redis_server

require_redis_server()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A private redis-server that also listens with TLS; yields its ``rediss://`` URL and the
    CA file that signed its certificate."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    issued = authority.issue_cert("localhost")
    ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    authority.cert_pem.write_to_path(str(ca))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    port = _free_port()
    arguments = (
        "--tls-port", str(port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(ca),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    with private_redis(*arguments):
        yield f"rediss://localhost:{port}", ca


async def test_channels_over_tls(
    tls_redis: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca = tls_redis
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    key = new_key()
    with anyio.fail_after(20):
        async with (
            RedisClient(url) as client,
            RedisPushChannel[object](client, key + "-push") as push,
            RedisLongPollChannel[object](client, key) as log,
            push.subscribe() as subscriber,
        ):
            await push.publish({"n": 1})
            assert await take(subscriber, 1) == [{"n": 1}]
            await log.publish_many(["a", "b"])
            batch = await log.poll(0, min_messages=2)
            assert [m.payload for m in batch.messages] == ["a", "b"]
            assert client.connections == 2


async def test_a_certificate_nobody_vouches_for_is_refused(tls_redis: tuple[str, Path]) -> None:
    url, _ = tls_redis
    with anyio.fail_after(20), pytest.raises(ConnectionLost, match="certificate verify failed"):
        async with RedisClient(url) as client:
            await client.execute("PING")

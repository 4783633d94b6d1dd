"""A private ``redis-server`` for the tests that need one.

Started on a Unix socket in a temporary directory, without persistence, and stopped afterwards.
Without Debian's ``redis-server`` those tests are skipped, unless ``DELIVERYMODES_REQUIRE_REDIS=1``
(as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the calling module when it is absent (fails in CI)."""
    if REDIS_SERVER is None:
        if os.environ.get("DELIVERYMODES_REQUIRE_REDIS") == "1":
            raise RuntimeError("redis-server is required here but not installed")
        pytest.skip("redis-server is not installed", allow_module_level=True)
    return REDIS_SERVER


def _answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            probe.connect(str(path))
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis(*arguments: str, timeout: float = 10.0) -> Iterator[str]:
    """Run a ``redis-server`` of our own; yields its ``unix://`` URL."""
    server = require_redis_server()
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = Path(folder) / "redis.sock"
        command = [
            server,
            "--port", "0",
            "--unixsocket", str(path),
            "--save", "",
            "--appendonly", "no",
            "--dir", folder,
            "--logfile", str(Path(folder) / "redis.log"),
            *arguments,
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            while not _answers_ping(path):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = Path(folder) / "redis.log"
                    said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{said}")
                time.sleep(0.02)
            yield f"unix://{path}"
        finally:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

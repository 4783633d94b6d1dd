"""A private ``redis-server`` for the tests that need one.

Started on a Unix socket in a temporary directory, without persistence, and stopped afterwards.
Without Debian's ``redis-server`` those tests are skipped, unless ``DELIVERYMODES_REQUIRE_REDIS=1``
(as in CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sniffio

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
            _wait_until_up(process, Path(folder), path, timeout)
            yield f"unix://{path}"
        finally:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(
    process: subprocess.Popen[bytes], folder: Path, path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not _answers_ping(path):
        if process.poll() is not None or time.monotonic() > deadline:
            log = folder / "redis.log"
            said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server did not start:\n{said}")
        time.sleep(0.02)


class RestartableRedis:
    """A ``redis-server`` that can be killed (SIGKILL) and started again on the same socket and
    data directory, with persistence (append-only file, fsync always) or without."""

    def __init__(self, folder: Path, *, persistent: bool, timeout: float = 10.0) -> None:
        self.folder = folder
        self.path = folder / "redis.sock"
        self.url = f"unix://{self.path}"
        self.persistent = persistent
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (it must be stopped) and return once it answers PING."""
        assert self.process is None, "the server is running"
        saving = ("--appendonly", "yes", "--appendfsync", "always")
        command = [
            require_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.path),
            "--save", "",
            *(saving if self.persistent else ("--appendonly", "no")),
            "--dir", str(self.folder),
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_until_up(self.process, self.folder, self.path, self.timeout)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing is answered."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server and wait for it to end (no chance to save anything)."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(self.timeout)
        if self.path.exists():  # a killed server leaves its socket file behind
            self.path.unlink()


@contextmanager
def restartable_redis(*, persistent: bool) -> Iterator[RestartableRedis]:
    """A started :class:`RestartableRedis` in a temporary directory, killed at the end."""
    require_redis_server()
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        server = RestartableRedis(Path(folder), persistent=persistent)
        try:
            server.start()
            yield server
        finally:
            server.kill()


@contextmanager
def loop_errors() -> Iterator[list[BaseException]]:
    """The InvalidStateErrors raised meanwhile in asyncio's callbacks, recorded so that a test
    can count them (the anyio pytest plugin would otherwise fail the test with the first one, at
    its end). anyio's Unix socket stream raised them when a socket was closed or a read cancelled
    just as data arrived; tests/test_redis_regressions.py has the cases the library avoids. On
    trio, none."""
    errors: list[BaseException] = []
    if sniffio.current_async_library() != "asyncio":
        yield errors
        return
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), asyncio.InvalidStateError):
            errors.append(context["exception"])
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(record)
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)

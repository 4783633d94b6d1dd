"""ASGI apps that tests run in server processes of their own (``uvicorn tests.served_apps:app``),
and a helper that runs such a process on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from deliverymodes import Batching, HttpApp, LongPollChannel, Overflow, PushChannel

ROOT = Path(__file__).resolve().parent.parent

app = HttpApp(
    {
        "push": PushChannel[object](buffer_size=5, overflow=Overflow.DROP_OLDEST),
        "long": LongPollChannel[object](batching=Batching(max_wait=5)),
        "quiet": LongPollChannel[object](batching=Batching(max_wait=None)),
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """A server process and what it wrote to stderr once stopped."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url
        self.stderr = ""


#: How to run ``app`` in a server process on a port: the command after ``python -m``.
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "uvicorn": lambda port: [
        *("uvicorn", "tests.served_apps:app", "--port", str(port), "--log-level", "warning")
    ],
    # In its own process (``-w 0``), so that the app sees the signal that stops the server.
    "hypercorn": lambda port: [
        *("hypercorn", "tests.served_apps:app", "-b", f"127.0.0.1:{port}", "-w", "0")
    ],
    "hypercorn-trio": lambda port: [
        *("hypercorn", "tests.served_apps:app", "-b", f"127.0.0.1:{port}", "-w", "0", "-k", "trio")
    ],
}


@asynccontextmanager
async def server_process(server: str = "uvicorn") -> AsyncIterator[ServerProcess]:
    """Run ``app`` under ``server`` (one of ``SERVERS``) until the block ends (then SIGTERM)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-m", *SERVERS[server](port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    running = ServerProcess(process, url)
    try:
        with anyio.fail_after(20):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    assert process.poll() is None, "the server process ended"
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
        _, stderr = await anyio.to_thread.run_sync(lambda: process.communicate(timeout=20))
        running.stderr = stderr.decode(errors="replace")

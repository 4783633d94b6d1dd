"""A transport made by hand: channels served to a child process over two OS pipes.

deliverymodes does not ship a pipe transport. Binding channels to one takes a byte stream: the
four methods of ``anyio.abc.ByteStream`` below, over a pair of file descriptors. The server side
hands it to ``serve()``, the client side to ``connect()``; nothing else is needed.

Run: python examples/custom_transport.py
"""

from __future__ import annotations

import contextlib
import os
import sys

import anyio
from anyio.abc import ByteStream

from deliverymodes import EARLIEST, LongPollChannel, connect, serve


class PipeStream(ByteStream):
    """A byte stream over two pipe file descriptors: one to read, one to write."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd, self._write_fd = read_fd, write_fd
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            try:
                data = os.read(self._read_fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._read_fd)
                continue
            if not data:
                raise anyio.EndOfStream
            return data

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            try:
                view = view[os.write(self._write_fd, view) :]
            except BlockingIOError:
                await anyio.wait_writable(self._write_fd)

    async def send_eof(self) -> None:
        os.close(self._write_fd)

    async def aclose(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):  # already closed by send_eof
                os.close(fd)


async def child(read_fd: int, write_fd: int) -> None:
    """The child process: a client reading the parent's long-poll channel through the pipes."""
    async with connect(PipeStream(read_fd, write_fd)) as remote:
        quotes = remote.long_poll("quotes")
        async with quotes.subscribe(EARLIEST) as subscriber:
            async for message in subscriber:
                print(f"  child got #{message.offset}: {message.payload}", flush=True)
                if message.payload == "last":
                    break
        await quotes.publish("thanks from the child")


async def parent() -> None:
    to_child_read, to_child_write = os.pipe()
    from_child_read, from_child_write = os.pipe()
    quotes = LongPollChannel[str]()
    for text in ("first", "second", "last"):
        await quotes.publish(text)
    command = [sys.executable, __file__, "--child", str(to_child_read), str(from_child_write)]
    pass_fds = (to_child_read, from_child_write)
    with anyio.fail_after(10):
        async with await anyio.open_process(command, pass_fds=pass_fds, stdout=None) as process:
            os.close(to_child_read)
            os.close(from_child_write)
            await serve(PipeStream(from_child_read, to_child_write), {"quotes": quotes})
            await process.wait()
    reply = (await quotes.poll(3)).messages[0].payload
    print(f"parent got back: {reply!r}; child exited with {process.returncode}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        anyio.run(child, int(sys.argv[2]), int(sys.argv[3]))
    else:
        anyio.run(parent)

"""A remote publish too large for the server's frames is refused at once, and costs nothing."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from deliverymodes import EARLIEST, PollChannel, connect_tcp, serve_tcp


async def test_a_publish_too_large_for_the_server_is_a_value_error() -> None:
    channel = PollChannel[str]()
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_tcp, {"c": channel}))
        with anyio.fail_after(10):
            async with connect_tcp("127.0.0.1", port) as remote:
                with pytest.raises(ValueError, match="max_frame_size"):
                    await remote.poll("c").publish("x" * 2_000_000)
                await remote.poll("c").publish("fits")  # the same connection goes on
                batch = await remote.poll("c").poll(EARLIEST)
                assert [m.payload for m in batch.messages] == ["fits"]
                assert remote.reconnects == 0
        tg.cancel_scope.cancel()

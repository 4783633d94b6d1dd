"""Credit on a served connection: granted the moment it is read, even while a publish waits."""

from __future__ import annotations

import anyio

from deliverymodes import Overflow, PushChannel, wire
from tests.remote_helpers import raw_tcp_client, tcp_server, wait_until


async def test_credit_read_while_a_publish_waits_lets_the_pushes_make_room_for_it() -> None:
    channel = PushChannel[object](buffer_size=1, overflow=Overflow.BLOCK)
    async with tcp_server({"c": channel}) as port, raw_tcp_client(port) as client:
        await client.hello()
        await client.send(wire.Subscribe(1, 1, "c", 0, 0, 1))
        with anyio.fail_after(5):
            assert isinstance(await client.next(), wire.Subscribed)
            # Offset 0 is pushed (the window of 1 spent) and 1 fills the buffer; then 2 waits for
            # room on this client's own subscription, with the credit that makes it behind it.
            await client.send(wire.Publish(2, "c", b"0"), wire.Publish(3, "c", b"1"))
            await wait_until(lambda: channel.statistics().buffered == 1)
            await client.send(wire.Publish(4, "c", b"2"), wire.Credit(1, 1))
            events: list[wire.Event] = []
            while not any(isinstance(e, wire.Published) and e.request == 4 for e in events):
                event = await client.next()
                assert event is not None
                events.append(event)
        pushed = [m.offset for e in events if isinstance(e, wire.Push) for m in e.messages]
        assert pushed == [0, 1]
        assert channel.statistics().published == 3

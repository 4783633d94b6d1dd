"""Epochs: a cursor from another life of a channel (before a restart) is answered from the start
of the current life, with the loss reported as unknown, never refused, never fed old offsets."""

from __future__ import annotations

import anyio
import pytest

from deliverymodes import (
    MAX_EPOCH,
    Batching,
    HttpApp,
    LongPollChannel,
    PollChannel,
    PushChannel,
    connect_tcp,
    wire,
)
from deliverymodes.http import HttpRemote
from tests.http_helpers import running_app
from tests.remote_helpers import raw_tcp_client, tcp_server
from tests.served_apps import free_port


async def test_a_cursor_from_another_life_reads_from_the_start_of_this_one() -> None:
    channel = PollChannel[str](epoch=5)
    for payload in ("b0", "b1"):
        channel.publish_nowait(payload)
    batch = await channel.poll(7, epoch=4)  # offset 7 of life 4: beyond this life's head
    assert [m.payload for m in batch.messages] == ["b0", "b1"]
    assert (batch.epoch, batch.missed_unknown, batch.missed, batch.cursor) == (5, True, 0, 2)
    same = await channel.poll(2, epoch=5)
    assert (same.messages, same.missed_unknown) == ((), False)
    assert channel.statistics().missed_unknown == 1
    with pytest.raises(ValueError, match="beyond"):
        await channel.poll(7, epoch=5)  # beyond the head in the same life: a client error
    with pytest.raises(ValueError, match="beyond"):
        await channel.poll(7)  # no life named: this one


@pytest.mark.parametrize("epoch", [0, -1, MAX_EPOCH + 1])
async def test_epochs_are_checked(epoch: int) -> None:
    with pytest.raises(ValueError, match="epoch"):
        PollChannel[int](epoch=epoch)
    with pytest.raises(ValueError, match="epoch"):
        await PollChannel[int]().poll(0, epoch=epoch)


def test_channels_get_a_random_epoch_that_json_can_carry() -> None:
    epochs = {PollChannel[int]().epoch for _ in range(50)} | {PushChannel[int]().epoch}
    assert len(epochs) == 51
    assert all(1 <= epoch <= 2**53 - 1 for epoch in epochs)
    assert LongPollChannel[int](epoch=12).epoch == 12


async def test_a_long_poll_from_another_life_waits_for_this_ones_first_message() -> None:
    channel = LongPollChannel[str](batching=Batching(max_wait=None), epoch=2)
    async with anyio.create_task_group() as tg:
        batches = []

        async def poll() -> None:
            batches.append(await channel.poll(40, epoch=1))

        tg.start_soon(poll)
        await anyio.wait_all_tasks_blocked()
        await channel.publish("first")
    (batch,) = batches
    assert ([m.offset for m in batch.messages], batch.missed_unknown) == ([0], True)


async def test_the_wire_carries_epochs() -> None:
    long = LongPollChannel[int](batching=Batching(max_wait=0), epoch=33)
    push = PushChannel[int](epoch=44)
    long.publish_nowait(1)
    await push.publish(0)
    async with tcp_server({"l": long, "p": push}) as port, raw_tcp_client(port) as client:
        await client.hello()
        with anyio.fail_after(5):
            await client.send(
                wire.Poll(1, "l", 5, epoch=32),
                wire.LongPoll(2, "l", 1, epoch=33),
                wire.Subscribe(3, 1, "p", 0, 0, 10),
            )
            across, same, subscribed = [await client.next() for _ in range(3)]
    assert isinstance(across, wire.Batch)
    assert (across.epoch, across.missed_unknown, across.cursor) == (33, True, 1)
    assert [m.offset for m in across.messages] == [0]
    assert isinstance(same, wire.Batch)
    assert (same.epoch, same.missed_unknown, same.messages) == (33, False, ())
    assert subscribed == wire.Subscribed(3, 1, 44, 1)


async def test_a_remote_reader_resumes_across_a_server_restart() -> None:
    old = LongPollChannel[str](batching=Batching(max_wait=0))
    for n in range(3):
        old.publish_nowait(f"a{n}")
    async with tcp_server({"c": old}) as port, connect_tcp("127.0.0.1", port) as remote:
        batch = await remote.long_poll("c").poll(0)
    cursor, epoch = batch.cursor, batch.epoch
    assert (cursor, epoch) == (3, old.epoch)
    new = LongPollChannel[str](batching=Batching(max_wait=0))  # the restarted server's channel
    new.publish_nowait("b0")
    async with tcp_server({"c": new}) as port, connect_tcp("127.0.0.1", port) as remote:
        resumed = await remote.long_poll("c").poll(cursor, epoch=epoch)
    assert [m.payload for m in resumed.messages] == ["b0"]
    assert (resumed.epoch, resumed.missed_unknown) == (new.epoch, True)


@pytest.mark.parametrize("reader", ["events", "long poll", "poll"])
async def test_http_readers_go_on_across_a_server_restart(reader: str) -> None:
    port = free_port()
    old = LongPollChannel[str](batching=Batching(max_wait=0.05))
    new = LongPollChannel[str](batching=Batching(max_wait=0.05))
    got: list[str] = []
    async with HttpRemote(f"http://127.0.0.1:{port}") as remote:
        channel = remote.channel("c")
        subscriber = (
            channel.events(0)
            if reader == "events"
            else channel.subscribe(0, wait=0.2)
            if reader == "long poll"
            else channel.poll_subscriber(0, poll_interval=0.02)
        )
        with anyio.fail_after(30):
            async with running_app(HttpApp({"c": old}, retry=0.05), port):
                await subscriber.__aenter__()  # it stays open across the restart
                for n in range(3):
                    await old.publish(f"a{n}")
                got += [(await subscriber.receive()).payload for _ in range(3)]
            # The server is gone; it comes back with a new life of the channel.
            for n in range(2):
                new.publish_nowait(f"b{n}")
            async with running_app(HttpApp({"c": new}, retry=0.05), port):
                got += [(await subscriber.receive()).payload for _ in range(2)]
            statistics = subscriber.statistics()
            await subscriber.aclose()
    assert got == ["a0", "a1", "a2", "b0", "b1"]  # no offset of the old life read again
    assert statistics.missed_unknown == 1

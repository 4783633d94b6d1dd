"""A chat room over TCP: a push channel served on loopback, members joining, talking, leaving.

Push delivers each line to everyone in the room at once; someone who joins late hears only what
is said after they joined (push keeps no history). The members' code would not change if the room
were a local PushChannel: only the line that gets the channel differs.

Run: python examples/tcp_chat.py
"""

from __future__ import annotations

from functools import partial

import anyio

from deliverymodes import PushChannel, connect_tcp, serve_tcp

SCRIPT = [  # (seconds into the chat, who, what they say; None = they leave)
    (0.00, "alice", "hi, anyone here?"),
    (0.05, "bob", "hello alice"),
    (0.10, "alice", "carol is joining soon"),
    (0.15, "carol", "hi both, what did I miss?"),
    (0.20, "bob", "nothing you can replay: this room is push"),
    (0.25, "alice", None),
    (0.30, "carol", "bye bob"),
    (0.35, "bob", None),
    (0.40, "carol", None),
]
JOINS = {"alice": 0.0, "bob": 0.02, "carol": 0.12}


async def member(name: str, port: int, start: anyio.Event) -> None:
    async with connect_tcp("127.0.0.1", port) as remote:
        await start.wait()
        await anyio.sleep(JOINS[name])
        room = remote.push("room")
        async with room.subscribe() as inbox, anyio.create_task_group() as tg:
            print(f"  {name} joined")

            async def listen() -> None:
                async for message in inbox:
                    line = message.payload
                    if line["from"] != name:
                        print(f"  [{name} hears] {line['from']}: {line['text']}")

            tg.start_soon(listen)
            clock = JOINS[name]
            for at, who, text in SCRIPT:
                if who != name:
                    continue
                await anyio.sleep(max(0.0, at - clock))
                clock = at
                if text is None:
                    break
                await room.publish({"from": name, "text": text})
            tg.cancel_scope.cancel()
        print(f"  {name} left")


async def main() -> None:
    room = PushChannel[dict[str, str]]()
    async with anyio.create_task_group() as server:
        port = await server.start(partial(serve_tcp, {"room": room}))
        print(f"chat room served on 127.0.0.1:{port}")
        start = anyio.Event()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as members:
                for name in JOINS:
                    members.start_soon(member, name, port, start)
                start.set()
        stats = room.statistics()
        print(f"\nroom: {stats.published} lines said, {stats.delivered} deliveries, ", end="")
        print(f"{stats.dropped} dropped, {stats.subscribers} still subscribed")
        server.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)

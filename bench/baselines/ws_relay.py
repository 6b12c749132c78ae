"""The ceiling: a bare `websockets` server relaying each message to its room.

Same wire format as the Channels tutorial (`/ws/chat/<room>/`, `{"message": ...}`), and
the same fan-out: every socket in the room gets the message, the sender's included.
No parsing beyond what routing needs, no framework, no layer, no database.

    python -m bench.baselines.ws_relay --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)


async def relay(connection: ServerConnection) -> None:
    room = connection.request.path.strip("/").rsplit("/", 1)[-1]
    members = rooms[room]
    members.add(connection)
    try:
        async for raw in connection:
            # Decode and re-encode as the tutorial's consumer does, so the ceiling does
            # the same JSON work per message and only the framework differs.
            message = json.loads(raw)["message"]
            broadcast(members, json.dumps({"message": message}))
    except websockets.ConnectionClosed:
        pass
    finally:
        members.discard(connection)
        if not members:
            rooms.pop(room, None)


async def main(host: str, port: int) -> None:
    async with serve(relay, host, port, compression=None, ping_interval=None, max_size=2**20):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.host, arguments.port))

"""A flooding client, run as its own process (at the lowest CPU priority) so that the
test measuring everybody else's latency is not slowed by the flooder's own work:

    python -m tests.support.flooder URL SESSION_COOKIE THREAD_ID SECONDS SOCKETS

It opens SOCKETS sockets at once and on each sends, as fast as it can, 60 KB frames
that fail to parse and database reads; a socket closed for flooding reconnects and
starts again. At the end it prints what happened as JSON.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time

import websockets


async def flood(url: str, cookie: str, thread_id: int, until: float, counts: dict) -> None:
    junk = json.dumps({"type": "thread.history", "thread": thread_id, "pad": "x" * 60_000})
    read = json.dumps({"type": "thread.history", "thread": thread_id})
    while time.monotonic() < until:
        try:
            async with websockets.connect(
                url.replace("http://", "ws://") + "/ws/chat/",
                origin=url,
                additional_headers={"Cookie": f"sessionid={cookie}"},
                open_timeout=10,
                close_timeout=1,
            ) as connection:
                counts["connections"] += 1
                while time.monotonic() < until:
                    await connection.send(junk)
                    await connection.send(read)
                    counts["frames"] += 2
                    await asyncio.sleep(0)
        except websockets.ConnectionClosed as closed:
            counts[f"closed {closed.rcvd.code if closed.rcvd else None}"] += 1
        except (OSError, TimeoutError, websockets.InvalidHandshake):
            counts["refused"] += 1
            await asyncio.sleep(0.05)


async def main(url: str, cookie: str, thread_id: int, seconds: float, sockets: int) -> None:
    counts: collections.Counter = collections.Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(flood(url, cookie, thread_id, until, counts) for _ in range(sockets)))
    print(json.dumps(counts))


if __name__ == "__main__":
    os.nice(19)
    url, cookie, thread_id, seconds, sockets = sys.argv[1:6]
    asyncio.run(main(url, cookie, int(thread_id), float(seconds), int(sockets)))

"""A channel layer that fails and comes back having forgotten its groups (a restarted
Redis): every socket of the process is served live again, not only the one that saw it.

The layer here fails the way channels-redis's core layer does: one receive of the
process (the one holding its receive lock) gets the error, the rest keep waiting.
The e2e test with a real Redis (tests/e2e/test_faults.py) caught this as a flake.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer, channel_layers

from chat.events import user_group
from tests.support.factories import amake_coach, amake_member, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


class RestartingLayer(InMemoryChannelLayer):
    """The in-memory layer, with a Redis restart: groups forgotten, one receiver told."""

    def __init__(self) -> None:
        super().__init__()
        self.receiving: list[asyncio.Future[None]] = []

    async def receive(self, channel: str) -> dict:
        cut = asyncio.get_running_loop().create_future()
        self.receiving.append(cut)
        receiving = asyncio.ensure_future(super().receive(channel))
        try:
            await asyncio.wait([receiving, cut], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.receiving.remove(cut)
        if not receiving.done():
            receiving.cancel()
            raise ConnectionError("Redis restarted")
        return receiving.result()

    def restart(self) -> None:
        self.groups.clear()
        self.receiving[0].set_result(None)


async def sockets_in(layer: RestartingLayer, group: str, count: int) -> None:
    for _ in range(200):
        if len(layer.groups.get(group, {})) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{group}: {layer.groups.get(group)}, not {count} sockets")


async def test_after_a_restart_every_socket_rejoins_not_only_the_one_that_saw_it():
    layer = channel_layers.backends["default"] = RestartingLayer()
    member, coach = await amake_member("Dana"), await amake_coach("Kelly")
    thread = await amake_thread(member, coach=coach)
    phone, laptop, console = await connect(member), await connect(member), await connect(coach)
    member_group = user_group(member.pk)
    assert len(layer.groups[member_group]) == 2

    layer.restart()
    # The socket that got the error re-joins after its back-off; the others at once with it.
    await sockets_in(layer, member_group, 2)
    await sockets_in(layer, user_group(coach.pk), 1)
    await console.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "back", "body": "still here?"},
        "message.ack",
    )
    for socket in (phone, laptop):
        assert (await socket.expect("message.new"))["message"]["client_id"] == "back"
    for socket in (phone, laptop, console):
        await socket.close()

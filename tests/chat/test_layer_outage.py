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

from chat import consumers
from chat.events import user_group
from chat.layer import LayerRecovery
from tests.support.factories import amake_coach, amake_member, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


class RestartingLayer(InMemoryChannelLayer):
    """The in-memory layer, with a Redis restart: groups forgotten, one receiver told.

    `held[channel]`, while unset, keeps that channel's group_add on its way.
    """

    def __init__(self) -> None:
        super().__init__()
        self.receiving: dict[str, asyncio.Future[None]] = {}
        self.held: dict[str, asyncio.Event] = {}

    async def receive(self, channel: str) -> dict:
        cut = self.receiving[channel] = asyncio.get_running_loop().create_future()
        receiving = asyncio.ensure_future(super().receive(channel))
        try:
            await asyncio.wait([receiving, cut], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.receiving.pop(channel, None)
        if not receiving.done():
            receiving.cancel()
            raise ConnectionError("Redis restarted")
        return receiving.result()

    async def group_add(self, group: str, channel: str) -> None:
        if channel in self.held:
            await self.held[channel].wait()
        await super().group_add(group, channel)

    def restart(self, told: str | None = None) -> None:
        self.groups.clear()
        self.receiving[told or next(iter(self.receiving))].set_result(None)


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


async def test_a_publish_that_goes_through_brings_every_socket_back_at_once(monkeypatch):
    """The layer answering a publish (or /readyz) is news enough: the sockets do not wait
    for the one that saw the failure to end its back-off."""
    monkeypatch.setattr(consumers, "LAYER_RETRY_SECONDS", 30.0)
    layer = channel_layers.backends["default"] = RestartingLayer()
    member, coach = await amake_member("Dana"), await amake_coach("Kelly")
    thread = await amake_thread(member, coach=coach)
    phone, laptop, console = await connect(member), await connect(member), await connect(coach)
    member_group = user_group(member.pk)
    phone_channel = next(c for c in layer.groups[member_group] if c in layer.receiving)

    layer.restart(told=phone_channel)  # the phone backs off for 15 s or more
    await asyncio.sleep(0.1)
    assert not layer.groups.get(member_group)
    send = {"type": "message.send", "thread": thread.pk, "body": "anyone?"}
    await console.request({**send, "client_id": "first"}, "message.ack")
    await sockets_in(layer, member_group, 2)
    await console.request({**send, "client_id": "second"}, "message.ack")
    for socket in (phone, laptop):
        frame = await socket.expect("message.new")
        while frame["message"]["client_id"] != "second":
            frame = await socket.expect("message.new")
    for socket in (phone, laptop, console):
        await socket.close()


async def test_a_socket_closed_while_it_rejoins_is_not_left_in_its_groups():
    layer = channel_layers.backends["default"] = RestartingLayer()
    member = await amake_member("Dana")
    phone, laptop = await connect(member), await connect(member)
    group = user_group(member.pk)
    phone_channel, laptop_channel = list(layer.groups[group])
    layer.held[laptop_channel] = asyncio.Event()

    layer.restart(told=phone_channel)
    await sockets_in(layer, group, 1)  # the phone is back; the laptop's add is on its way
    await laptop.close()
    layer.held[laptop_channel].set()
    await asyncio.sleep(0.1)
    assert list(layer.groups.get(group, {})) == [phone_channel]
    await phone.close()


async def test_one_round_of_rejoins_per_failure_and_back_offs_cut_short():
    recovery, rejoined = LayerRecovery(), []

    def receiver(name: str):
        async def rejoin() -> None:
            rejoined.append(name)

        return rejoin

    first, second, third = receiver("first"), receiver("second"), receiver("third")
    for rejoin in (first, second, third):
        recovery.enrol(rejoin)
    recovery.back(found_by=first)  # nothing failed: nothing to do
    await asyncio.sleep(0)
    assert rejoined == []

    recovery.lost()
    waiting = asyncio.ensure_future(recovery.wait(30))
    await asyncio.sleep(0)
    recovery.back(found_by=first)
    recovery.back(found_by=second)  # mid-retry when the first found it back: same round
    assert await asyncio.wait_for(waiting, 1) is True
    await asyncio.sleep(0)
    assert sorted(rejoined) == ["second", "third"]

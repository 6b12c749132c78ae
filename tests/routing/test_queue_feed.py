"""The queue feed: one snapshot per process, and nothing sent that a socket already has."""

from __future__ import annotations

import asyncio
import json

import pytest

from accounts.roles import Role
from chat.models import Thread
from routing.queue_feed import SEND_BATCH, QueueFeed
from tests.support.factories import amake_coach, amake_member, amake_thread

pytestmark = pytest.mark.django_db(transaction=True)


class Console:
    def __init__(self, channel_name: str, role: Role, user_id: int) -> None:
        self.channel_name, self.role, self.user_id = channel_name, role, user_id
        self.frames: list[str] = []

    async def send_frame_text(self, text: str, frame_type: str) -> None:
        self.frames.append(text)


async def test_an_unchanged_queue_is_not_sent_again_and_a_change_is():
    coach = await amake_coach()
    feed = QueueFeed()
    console = Console("c.1", Role.COACH, coach.pk)
    feed.subscribers[console.channel_name] = console
    await feed._send_snapshot()
    await feed._send_snapshot()
    assert len(console.frames) == 1
    await amake_thread(await amake_member(), status="queued")
    await feed._send_snapshot()
    assert len(console.frames) == 2
    assert '"total":1' in console.frames[1]


async def test_each_coach_gets_her_own_flagged_threads_and_only_hers_are_resent():
    ana, bea = await amake_coach("Ana"), await amake_coach("Bea")
    anas = await amake_thread(await amake_member(), coach=ana)
    beas = await amake_thread(await amake_member(), coach=bea)
    await Thread.objects.filter(pk=anas.pk).aupdate(unanswered=True)
    feed = QueueFeed()
    consoles = {coach.pk: Console(f"c.{coach.pk}", Role.COACH, coach.pk) for coach in (ana, bea)}
    feed.subscribers.update({c.channel_name: c for c in consoles.values()})
    await feed._send_snapshot()
    assert [t["id"] for t in flagged(consoles[ana.pk].frames[-1])] == [anas.pk]
    assert flagged(consoles[bea.pk].frames[-1]) == []

    # Only Bea's flags change: the queue itself is the same, so Ana is not sent it again.
    await Thread.objects.filter(pk=beas.pk).aupdate(unanswered=True)
    await feed._send_snapshot()
    assert len(consoles[ana.pk].frames) == 1
    assert [t["id"] for t in flagged(consoles[bea.pk].frames[-1])] == [beas.pk]


async def test_a_refresh_to_hundreds_of_consoles_lets_conversations_through_meanwhile():
    coach = await amake_coach()
    feed = QueueFeed()
    ticks = 0
    seen: list[int] = []

    class Watching(Console):
        async def send_frame_text(self, text: str, frame_type: str) -> None:
            seen.append(ticks)

    for n in range(300):
        console = Watching(f"c.{n}", Role.COACH, coach.pk)
        feed.subscribers[console.channel_name] = console

    async def conversation() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    talking = asyncio.create_task(conversation())
    try:
        await feed._send_snapshot()
    finally:
        talking.cancel()
    assert len(seen) == 300
    # The event loop ran other work between the first console's frame and the last's.
    assert seen[-1] - seen[0] >= 300 // SEND_BATCH - 1


def flagged(frame: str) -> list[dict]:
    return json.loads(frame)["flagged"]

"""The queue feed: one snapshot per process, and nothing sent that a socket already has."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from routing.queue_feed import QueueFeed
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

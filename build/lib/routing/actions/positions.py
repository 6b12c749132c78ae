"""Telling queued members that their place or estimate moved.

Every process may run this (from its queue feed); each move is announced once,
by whichever process wins the compare-and-set on the thread's version. A move
raises the version like any other change, so clients keeping the highest
version never discard it.
"""

from __future__ import annotations

from django.db.models import F

from chat.events import frame_event, send_on_commit, user_group
from chat.frames import Audience, dumps, thread_object
from chat.models import Thread
from routing import selectors


def queue_positions_publish() -> int:
    """Announce changed positions and estimates to queued members; returns how many."""
    threads = list(selectors.queued_threads().with_people())
    if not threads:
        return 0
    floor = selectors.floor_now()
    events = []
    for position, thread in enumerate(threads, start=1):
        eta = selectors.eta_seconds(position, floor)
        if (thread.notified_position, thread.notified_eta) == (position, eta):
            continue
        won = Thread.objects.filter(pk=thread.pk, version=thread.version).update(
            notified_position=position, notified_eta=eta, version=F("version") + 1
        )
        if not won:
            continue
        thread.version += 1
        frame = thread_object(
            thread, audience=Audience.MEMBER, tags=[], queue_position=position, eta_seconds=eta
        )
        events.append(
            frame_event(
                user_group(thread.member_id), dumps({"type": "thread", "thread": frame}), "thread"
            )
        )
    send_on_commit(events)
    return len(events)

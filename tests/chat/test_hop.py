"""The database hop (chat/hop.py): what a socket's frame gets back from its action, and
that the frame threads keep serving whatever happened to an earlier hop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.conf import settings
from django.db import transaction

from chat.events import Event, send_on_commit
from chat.hop import DatabaseThreads, HopResult, background_hop, frame_hop

pytestmark = pytest.mark.django_db(transaction=True)

COMMITTED = Event(group="user.1", message={"type": "chat.frame", "text": "{}"})


def commits_then_fails() -> None:
    with transaction.atomic():
        send_on_commit([COMMITTED])
    raise ValueError("after the commit")


async def test_an_action_that_fails_after_committing_still_hands_back_its_events():
    hop = await frame_hop(commits_then_fails)
    assert isinstance(hop.error, ValueError)
    assert hop.events == [COMMITTED]


async def test_a_value_comes_back_with_no_events():
    hop = await background_hop(lambda: 42)
    assert hop == HopResult(value=42, events=[], error=None)


async def test_frames_of_different_sockets_run_side_by_side():
    # Each hop waits for the other: they finish only if two threads run them at once,
    # as one member's slow frame must not hold up everybody else's.
    assert settings.CHAT_DB_THREADS >= 2
    both = threading.Barrier(2, timeout=5)
    first, second = await asyncio.gather(frame_hop(both.wait), frame_hop(both.wait))
    assert first.error is None and second.error is None


async def test_a_cancelled_hop_runs_to_its_end_and_the_threads_serve_the_next():
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)
        finished.set()

    waiting = asyncio.ensure_future(frame_hop(slow))
    assert await asyncio.to_thread(started.wait, 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    # The next hop may run on another frame thread and come back first, so the
    # cancelled one is waited for rather than expected to have finished already.
    assert (await frame_hop(lambda: "next")).value == "next"
    assert await asyncio.to_thread(finished.wait, 5)


def test_a_hop_whose_loop_has_closed_does_not_stop_its_thread():
    threads = DatabaseThreads(1, "test-hop")
    release = threading.Event()

    async def leave_one_running() -> None:
        threads.submit(release.wait, {"timeout": 5})

    asyncio.run(leave_one_running())  # the loop closes with the hop still running
    release.set()

    async def next_hop() -> HopResult:
        return await threads.submit(lambda: "served", {})

    assert asyncio.run(asyncio.wait_for(next_hop(), 5)).value == "served"

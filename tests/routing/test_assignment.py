"""Who gets a thread: continuity, specialty, load, idle time; claims; urgent threads first."""

from __future__ import annotations

import datetime

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import Message, Thread, ThreadStatus
from coaches.models import CoachProfile
from routing.actions.assignment import assign_waiting
from routing.models import Assignment, CoachSocket
from tests.support.factories import (
    amake_coach,
    amake_member,
    amake_thread,
    make_coach,
    make_member,
    make_thread,
)
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def online(coach):
    """A coach's console: connected and online. Returns her socket."""
    socket = await connect(coach)
    await socket.request({"type": "presence.set", "status": "online"}, "presence")
    return socket


async def write(socket, thread_id, body, client_id=None):
    return await socket.request(
        {
            "type": "message.send",
            "thread": thread_id,
            "client_id": client_id or body[:30],
            "body": body,
        },
        "message.ack",
    )


async def first_message(member, body):
    """The member opens her thread and writes; returns (socket, thread id)."""
    socket = await connect(member)
    thread = (await socket.request({"type": "thread.open"}, "thread"))["thread"]
    await write(socket, thread["id"], body)
    return socket, thread["id"]


@database_sync_to_async
def holder(thread_id):
    return Thread.objects.get(pk=thread_id).coach_id


async def test_an_online_coach_gets_the_thread_at_once_with_a_system_message():
    coach = await amake_coach("Kelly")
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "I leak when I sneeze")
    active = await phone.expect_thread(status="active")
    assert active["coach"] == {"id": coach.pk, "name": "Kelly"}
    joined = await phone.expect("message.new")
    while joined["message"]["kind"] != "system" or joined["message"]["event"] != "assigned":
        joined = await phone.expect("message.new")
    assert joined["message"]["text"] == "Kelly has joined the chat."
    assigned = await console.expect_thread(status="active")
    assert assigned["id"] == thread_id and "leaking" in assigned["tags"]
    await phone.close()
    await console.close()


async def test_specialty_match_wins_over_lower_load():
    runner = await amake_coach("Runner", specialties=("return-to-running", "leaking"))
    mood = await amake_coach("Mood", specialties=("postpartum-mood",))
    sockets = [await online(runner), await online(mood)]
    # Runner already has one thread: Mood has the lower load.
    busy = await amake_member()
    await amake_thread(busy, coach=runner)
    member = await amake_member()
    phone, thread_id = await first_message(member, "I leak a little every time I go running")
    await phone.expect_thread(status="active")
    assert await holder(thread_id) == runner.pk
    for socket in [phone, *sockets]:
        await socket.close()


async def test_lowest_load_then_longest_idle_break_ties():
    def setup():
        a, b, c = (make_coach(n, status="online", capacity=3) for n in ("A", "B", "C"))
        for coach in (a, b, c):
            CoachSocket.objects.create(
                channel_name=f"x.{coach.pk}", coach=coach, worker_id=_worker()
            )
        make_thread(make_member(), coach=a)
        now = timezone.now()
        CoachProfile.objects.filter(user=b).update(last_assigned_at=now)
        CoachProfile.objects.filter(user=c).update(
            last_assigned_at=now - datetime.timedelta(hours=1)
        )
        first = make_thread(make_member(), status=ThreadStatus.QUEUED)
        assign_waiting()
        return a, b, c, first

    _, _, c, first = await database_sync_to_async(setup)()
    # B and C have no threads; C has waited longer since her last one.
    assert await holder(first.pk) == c.pk


def _worker():
    from routing.actions.presence import WORKER_ID
    from routing.models import Worker

    Worker.objects.get_or_create(id=WORKER_ID, defaults={"host": "test", "pid": 1})
    return WORKER_ID


async def test_continuity_her_previous_coach_is_preferred_when_available():
    maria = await amake_coach("Maria", specialties=())
    expert = await amake_coach("Expert", specialties=("prolapse",))
    member = await amake_member()
    old = await amake_thread(member, coach=maria)
    await database_sync_to_async(Thread.objects.filter(pk=old.pk).update)(
        status=ThreadStatus.RESOLVED, resolved_at=timezone.now()
    )
    sockets = [await online(maria), await online(expert)]
    phone, thread_id = await first_message(member, "I think I have a prolapse, heaviness at night")
    await phone.expect_thread(status="active")
    assert await holder(thread_id) == maria.pk
    for socket in [phone, *sockets]:
        await socket.close()


async def test_no_coach_is_given_a_thread_at_capacity_and_the_queue_waits():
    coach = await amake_coach("Solo", capacity=1)
    console = await online(coach)
    first, second = await amake_member(), await amake_member()
    phone1, t1 = await first_message(first, "question about kegels")
    await phone1.expect_thread(status="active")
    phone2, t2 = await first_message(second, "question about running")
    queued = await phone2.expect_thread(status="queued")
    assert queued["queue_position"] == 1
    assert queued["eta_seconds"] is not None  # a coach is online: an estimate, not words
    assert await holder(t2) is None
    # She resolves the first: the second is hers at once.
    await console.request({"type": "thread.resolve", "thread": t1}, "thread")
    await phone2.expect_thread(status="active")
    assert await holder(t2) == coach.pk
    for socket in (phone1, phone2, console):
        await socket.close()


async def test_urgent_threads_jump_the_queue():
    members = [await amake_member() for _ in range(3)]
    phones = []
    for member, text in zip(
        members,
        [
            "how soon can I jog",
            "my scar itches",
            "I'm soaking a pad every hour and passing big clots",
        ],
        strict=True,
    ):
        phone, thread_id = await first_message(member, text)
        phones.append((phone, thread_id))
    urgent_phone, urgent_id = phones[2]
    urgent = await urgent_phone.expect_thread(status="queued")
    assert urgent["queue_position"] == 1
    coach = await amake_coach(capacity=1)
    console = await online(coach)
    await urgent_phone.expect_thread(status="active")
    assert await holder(urgent_id) == coach.pk
    for phone, _ in phones:
        await phone.close()
    await console.close()


async def test_an_urgent_thread_may_take_a_coach_one_over_capacity_then_nothing_new():
    def setup():
        coach = make_coach(capacity=2, status="online")
        CoachSocket.objects.create(channel_name="c.1", coach=coach, worker_id=_worker())
        make_thread(make_member(), coach=coach)  # load 1 of 2
        urgent = make_thread(make_member(), status=ThreadStatus.QUEUED)
        Thread.objects.filter(pk=urgent.pk).update(priority=0)
        normal = make_thread(make_member(), status=ThreadStatus.QUEUED)
        assign_waiting()
        return coach, urgent, normal

    coach, urgent, normal = await database_sync_to_async(setup)()
    assert await holder(urgent.pk) == coach.pk  # load 1 → 3, over a capacity of 2
    assert await holder(normal.pk) is None


async def test_claim_conflicts_when_taken_or_at_capacity():
    kelly, maria = await amake_coach(capacity=1), await amake_coach(capacity=1)
    member1, member2 = await amake_member(), await amake_member()
    queued1 = await amake_thread(member1, status=ThreadStatus.QUEUED)
    queued2 = await amake_thread(member2, status=ThreadStatus.QUEUED)
    k, m = await connect(kelly), await connect(maria)
    # Away: she takes no thread by herself, so nothing is auto-assigned, but she may claim.
    for socket in (k, m):
        await socket.request({"type": "presence.set", "status": "away"}, "presence")
    claimed = await k.request({"type": "queue.claim", "thread": queued1.pk}, "thread")
    assert claimed["thread"]["coach"]["id"] == kelly.pk
    taken = await m.error({"type": "queue.claim", "thread": queued1.pk})
    assert taken["code"] == "conflict"
    full = await k.error({"type": "queue.claim", "thread": queued2.pk})
    assert full["code"] == "conflict" and "capacity" in full["message"]
    history = await database_sync_to_async(
        lambda: list(Assignment.objects.values_list("thread_id", "to_coach_id", "reason"))
    )()
    assert history == [(queued1.pk, kelly.pk, "claim")]
    await k.close()
    await m.close()


async def test_an_offline_coach_cannot_claim():
    # Offline hands a coach's threads back to the queue; one she claimed would sit with
    # a coach nobody expects to answer.
    coach = await amake_coach(capacity=3)
    queued = await amake_thread(await amake_member(), status=ThreadStatus.QUEUED)
    console = await connect(coach)
    assert console.hello["presence"] == "offline"
    refused = await console.error({"type": "queue.claim", "thread": queued.pk})
    assert refused["code"] == "conflict" and "offline" in refused["message"]
    assert await holder(queued.pk) is None
    await console.close()


async def test_a_member_writing_into_her_resolved_thread_reopens_it_to_her_last_coach():
    coach = await amake_coach("Kelly")
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "question about my pelvic floor")
    await phone.expect_thread(status="active")
    await console.request({"type": "thread.resolve", "thread": thread_id}, "thread")
    await phone.expect_thread(status="resolved")
    await write(phone, thread_id, "one more thing, sorry!", client_id="again")
    reopened = await phone.expect_thread(status="active")
    assert reopened["id"] == thread_id and reopened["coach"]["id"] == coach.pk
    events = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(thread_id=thread_id, kind="system").values_list(
                "event", flat=True
            )
        )
    )()
    assert events == ["queued", "assigned", "resolved", "reopened", "assigned"]
    await phone.close()
    await console.close()


async def test_reopening_conflicts_when_she_has_another_open_thread():
    member = await amake_member()
    old = await amake_thread(member, messages=1)
    await database_sync_to_async(Thread.objects.filter(pk=old.pk).update)(
        status=ThreadStatus.RESOLVED
    )
    await amake_thread(member)  # a new one is open
    phone = await connect(member)
    error = await phone.error(
        {"type": "message.send", "thread": old.pk, "client_id": "x", "body": "hi"}
    )
    assert error["code"] == "conflict"
    await phone.close()


async def test_wait_and_handle_times_are_kept():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    await console.request({"type": "thread.resolve", "thread": thread_id}, "thread")
    thread = await database_sync_to_async(Thread.objects.get)(pk=thread_id)
    assert thread.enqueued_at is not None and thread.assigned_at is None
    assert thread.resolved_at >= thread.enqueued_at
    assert thread.wait_seconds >= 0 and thread.handle_seconds >= 0
    await phone.close()
    await console.close()

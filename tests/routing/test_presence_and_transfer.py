"""Presence (chosen status, connection, grace), transfer with a note, tags, unanswered flags,
red flags."""

from __future__ import annotations

import datetime

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from chat.models import Message, Thread, ThreadEvent, ThreadStatus, ThreadTag
from coaches.models import CoachProfile
from routing.actions.presence import grace_expire, workers_expire
from routing.actions.unanswered import unanswered_flag
from routing.models import Assignment, CoachSocket, Worker
from tests.routing.test_assignment import first_message, online, write
from tests.support.factories import amake_coach, amake_member, amake_supervisor, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def thread_state(thread_id):
    return Thread.objects.values("status", "coach_id", "enqueued_at").get(pk=thread_id)


@database_sync_to_async
def profile(coach):
    return CoachProfile.objects.get(user=coach)


async def test_chosen_status_persists_across_connections():
    coach = await amake_coach()
    console = await connect(coach)
    assert console.hello["presence"] == "offline"
    await console.request({"type": "presence.set", "status": "away"}, "presence")
    await console.close()
    console = await connect(coach)
    assert console.hello["presence"] == "away"
    await console.close()


async def test_a_coach_gets_hello_then_queue_and_no_presence_she_did_not_ask_for():
    # PROTOCOL.md: coaches get hello, then a queue frame; `presence` answers presence.set.
    console = await connect(await amake_coach())
    assert (await console.receive())["type"] == "queue"
    await console.nothing("presence")
    await console.close()


async def test_presence_reaches_her_other_sockets_and_the_queue_frame():
    coach, supervisor = await amake_coach("Kelly"), await amake_supervisor()
    tab1, tab2 = await connect(coach), await connect(coach)
    floor = await connect(supervisor)
    await floor.expect("queue")
    await tab1.request({"type": "presence.set", "status": "online"}, "presence")
    assert (await tab2.expect("presence", status="online"))["status"] == "online"
    for _ in range(5):
        queue = await floor.expect("queue", timeout=4)
        (row,) = [c for c in queue["coaches"] if c["id"] == coach.pk]
        if row["status"] == "online":
            break
    assert row == {
        "id": coach.pk,
        "name": "Kelly",
        "status": "online",
        "connected": True,
        "load": 0,
        "active": 0,
        "capacity": 3,
    }
    for socket in (tab1, tab2, floor):
        await socket.close()


async def test_away_keeps_her_threads_but_takes_no_new_ones():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    await console.request({"type": "presence.set", "status": "away"}, "presence")
    other = await amake_member()
    phone2, other_id = await first_message(other, "hi there")
    await phone2.expect_thread(status="queued")
    assert (await thread_state(thread_id))["coach_id"] == coach.pk
    assert (await thread_state(other_id))["coach_id"] is None
    for socket in (phone, phone2, console):
        await socket.close()


async def test_offline_hands_her_threads_back_now_keeping_their_place():
    coach = await amake_coach("Kelly")
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    enqueued_at = (await thread_state(thread_id))["enqueued_at"]
    later = await amake_member()
    phone2, _ = await first_message(later, "me too")
    await console.request({"type": "presence.set", "status": "offline"}, "presence")
    requeued = await phone.expect_thread(status="queued")
    assert requeued["coach"] is None and requeued["queue_position"] == 1
    state = await thread_state(thread_id)
    assert state["enqueued_at"] == enqueued_at
    notice = await phone.expect("message.new")
    while notice["message"].get("event") != "requeued":
        notice = await phone.expect("message.new")
    assert "Kelly has gone offline" in notice["message"]["text"]
    for socket in (phone, phone2, console):
        await socket.close()


async def test_back_within_the_grace_period_keeps_everything():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    await console.close()
    assert (await profile(coach)).disconnected_at is not None
    assert await database_sync_to_async(grace_expire)() == 0
    console = await connect(coach)
    assert (await profile(coach)).disconnected_at is None
    assert [t["id"] for t in console.hello["threads"]] == [thread_id]
    await phone.close()
    await console.close()


async def test_past_the_grace_period_her_threads_are_requeued_and_members_told():
    coach = await amake_coach("Kelly")
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    await console.close()
    await database_sync_to_async(CoachProfile.objects.filter(user=coach).update)(
        disconnected_at=timezone.now() - datetime.timedelta(seconds=61)
    )
    with override_settings(CHAT_COACH_GRACE_SECONDS=60):
        assert await database_sync_to_async(grace_expire)() == 1
    requeued = await phone.expect_thread(status="queued")
    assert requeued["coach"] is None
    texts = [f["message"]["text"] for f in await phone.drain() if f["type"] == "message.new"]
    assert any("Kelly lost her connection" in text for text in texts)
    reasons = await database_sync_to_async(
        lambda: list(
            Assignment.objects.filter(thread_id=thread_id).values_list("reason", flat=True)
        )
    )()
    assert reasons == ["auto", "grace"]
    await phone.close()


async def test_a_dead_workers_sockets_are_dropped_and_her_grace_starts_from_its_last_heartbeat():
    coach = await amake_coach()

    @database_sync_to_async
    def crashed_process():
        last_seen = timezone.now() - datetime.timedelta(seconds=30)
        worker = Worker.objects.create(id="dead:1:abc", host="dead", pid=1, seen_at=last_seen)
        CoachSocket.objects.create(channel_name="gone.1", coach=coach, worker=worker)
        return last_seen

    last_seen = await crashed_process()
    assert await database_sync_to_async(workers_expire)() == 1
    assert not await database_sync_to_async(CoachSocket.objects.exists)()
    assert (await profile(coach)).disconnected_at == last_seen


async def test_transfer_to_a_coach_with_a_handoff_note_she_sees():
    kelly, maria = await amake_coach("Kelly"), await amake_coach("Maria")
    k = await online(kelly)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello")
    await phone.expect_thread(status="active")
    m = await online(maria)
    moved = await k.request(
        {
            "type": "thread.transfer",
            "thread": thread_id,
            "to_coach": maria.pk,
            "note": "Asked about prolapse; 10 wks, vaginal birth",
        },
        "thread",
    )
    assert moved["thread"]["coach"]["id"] == maria.pk
    arrived = await m.expect_thread(id=thread_id)
    assert arrived["handoff_note"] == "Asked about prolapse; 10 wks, vaginal birth"
    member_view = await phone.expect_thread(
        id=thread_id, status="active", coach={"id": maria.pk, "name": "Maria"}
    )
    assert "handoff_note" not in member_view
    # Kelly is told it left her (the broadcast, besides her reply).
    await k.expect_thread(id=thread_id, coach={"id": maria.pk, "name": "Maria"})
    for socket in (phone, k, m):
        await socket.close()


async def test_transfer_refusals():
    kelly, full, away = await amake_coach(), await amake_coach(capacity=1), await amake_coach()
    member = await amake_member()
    thread = await amake_thread(member, coach=kelly)
    await amake_thread(await amake_member(), coach=full)
    await database_sync_to_async(CoachProfile.objects.filter(user__in=[full, away]).update)(
        status="online"
    )
    await database_sync_to_async(CoachProfile.objects.filter(user=away).update)(status="offline")
    k = await connect(kelly)
    assert (await k.error({"type": "thread.transfer", "thread": thread.pk, "to_coach": full.pk}))[
        "code"
    ] == "conflict"
    assert (await k.error({"type": "thread.transfer", "thread": thread.pk, "to_coach": away.pk}))[
        "code"
    ] == "conflict"
    assert (await k.error({"type": "thread.transfer", "thread": thread.pk, "to_coach": member.pk}))[
        "code"
    ] == "not_found"
    assert (await k.error({"type": "thread.transfer", "thread": thread.pk, "to_coach": kelly.pk}))[
        "code"
    ] == "conflict"
    await k.close()


async def test_a_supervisor_may_place_a_thread_over_capacity():
    full, supervisor = await amake_coach(capacity=1), await amake_supervisor()
    await amake_thread(await amake_member(), coach=full)
    await database_sync_to_async(CoachProfile.objects.filter(user=full).update)(status="online")
    queued = await amake_thread(await amake_member(), status=ThreadStatus.QUEUED)
    s = await connect(supervisor)
    moved = await s.request(
        {"type": "thread.transfer", "thread": queued.pk, "to_coach": full.pk}, "thread"
    )
    assert moved["thread"]["coach"]["id"] == full.pk
    await s.close()


async def kelly_with_a_thread(**coach):
    """Kelly online, and a member's thread just assigned to her: (kelly, her console,
    the member's phone, the thread id)."""
    kelly = await amake_coach("Kelly", **coach)
    k = await online(kelly)
    phone, thread_id = await first_message(await amake_member(), "hello")
    await phone.expect_thread(status="active")
    return kelly, k, phone, thread_id


async def test_transfer_back_to_the_queue_keeps_the_note_for_the_next_coach():
    _, k, phone, thread_id = await kelly_with_a_thread()
    passed = await k.request(
        {
            "type": "thread.transfer",
            "thread": thread_id,
            "to_queue": True,
            "note": "needs a prolapse specialist",
        },
        "thread",
    )
    # Kelly is still online with room, and she was this thread's coach: continuity
    # must not hand it straight back to the coach who passed it on.
    assert passed["thread"]["status"] == "queued"
    assert (await thread_state(thread_id))["status"] == "queued"
    sam = await amake_coach("Sam")
    s = await online(sam)
    got = await s.expect_thread(id=thread_id, status="active")
    assert got["handoff_note"] == "needs a prolapse specialist"
    assert got["coach"]["id"] == sam.pk
    for socket in (phone, k, s):
        await socket.close()


async def test_a_thread_passed_back_does_not_hold_up_the_queue_behind_it():
    kelly, k, phone1, passed_id = await kelly_with_a_thread(capacity=1)
    second = await amake_member()
    phone2, waiting_id = await first_message(second, "hi, anyone there?")
    await phone2.expect_thread(status="queued")
    # The passed thread keeps its place at the head of the queue, but Kelly, free
    # again, takes the one behind it.
    await k.request({"type": "thread.transfer", "thread": passed_id, "to_queue": True}, "thread")
    await phone2.expect_thread(status="active")
    assert (await thread_state(waiting_id))["coach_id"] == kelly.pk
    assert (await thread_state(passed_id))["status"] == "queued"
    for socket in (phone1, phone2, k):
        await socket.close()


async def test_the_coach_who_passed_a_thread_back_may_still_claim_it():
    kelly, k, phone, thread_id = await kelly_with_a_thread()
    await k.request({"type": "thread.transfer", "thread": thread_id, "to_queue": True}, "thread")
    claimed = await k.request({"type": "queue.claim", "thread": thread_id}, "thread")
    assert claimed["thread"]["coach"]["id"] == kelly.pk
    assert (await thread_state(thread_id))["status"] == "active"
    # Taken again, it is hers like any other: continuity applies to it as before.
    passed_by = await database_sync_to_async(
        lambda: Thread.objects.values_list("passed_by", flat=True).get(pk=thread_id)
    )()
    assert passed_by is None
    for socket in (phone, k):
        await socket.close()


async def test_coaches_and_supervisors_tag_and_rules_never_remove_a_persons_tag():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello there")
    await phone.expect_thread(status="active")
    tagged = await console.request(
        {"type": "thread.tag", "thread": thread_id, "add": ["diastasis", "c-section"]}, "thread"
    )
    assert tagged["thread"]["tags"] == ["c-section", "diastasis"]
    untagged = await console.request(
        {"type": "thread.tag", "thread": thread_id, "remove": ["c-section"]}, "thread"
    )
    assert untagged["thread"]["tags"] == ["diastasis"]
    # The member mentions her section again: the coach's removal stands.
    await write(phone, thread_id, "my c-section scar pulls when I run", client_id="scar")
    rows = await database_sync_to_async(
        lambda: sorted(
            ThreadTag.objects.filter(thread_id=thread_id).values_list("tag__slug", "source")
        )
    )()
    assert ("c-section", "rule") not in rows
    assert ("diastasis", "coach") in rows
    assert ("return-to-running", "rule") in rows
    unknown = await console.error({"type": "thread.tag", "thread": thread_id, "add": ["made-up"]})
    assert unknown["code"] == "not_found"
    await phone.close()
    await console.close()


async def test_removing_the_red_flag_tag_lowers_the_priority():
    coach, supervisor = await amake_coach(), await amake_supervisor()
    thread = await amake_thread(await amake_member(), coach=coach)
    s = await connect(supervisor)
    up = await s.request({"type": "thread.tag", "thread": thread.pk, "add": ["red-flag"]}, "thread")
    assert up["thread"]["priority"] == "urgent"
    down = await s.request(
        {"type": "thread.tag", "thread": thread.pk, "remove": ["red-flag"]}, "thread"
    )
    assert down["thread"]["priority"] == "normal"
    await s.close()


async def test_unanswered_threads_are_flagged_to_the_coach_and_supervisors():
    coach, supervisor = await amake_coach(), await amake_supervisor()
    console = await online(coach)
    floor = await connect(supervisor)
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello?")
    await phone.expect_thread(status="active")
    long_ago = timezone.now() - datetime.timedelta(seconds=301)
    await database_sync_to_async(Thread.objects.filter(pk=thread_id).update)(
        awaiting_reply_since=long_ago, assigned_at=long_ago
    )
    with override_settings(CHAT_UNANSWERED_SECONDS=300):
        assert await database_sync_to_async(unanswered_flag)() == 1
        assert await database_sync_to_async(unanswered_flag)() == 0  # once
    flagged = await console.expect_thread(id=thread_id, unanswered=True)
    assert flagged["waiting_since"] is not None
    for _ in range(5):
        queue = await floor.expect("queue", timeout=4)
        if queue["flagged"]:
            break
    assert [t["id"] for t in queue["flagged"]] == [thread_id]
    # The coach answers: the flag clears.
    await write(console, thread_id, "Sorry for the wait!", client_id="late")
    cleared = await console.expect_thread(id=thread_id, waiting_since=None)
    assert cleared["unanswered"] is False
    events = await database_sync_to_async(
        lambda: list(ThreadEvent.objects.filter(thread_id=thread_id).values_list("kind", flat=True))
    )()
    assert "unanswered" in events
    for socket in (phone, console, floor):
        await socket.close()


async def test_a_red_flag_with_no_coach_online_shows_the_safety_notice_and_alerts_supervisors():
    supervisor = await amake_supervisor()
    floor = await connect(supervisor)
    member = await amake_member()
    phone, thread_id = await first_message(
        member, "I'm soaking a pad every hour and passing big clots"
    )
    notice = await phone.expect("message.new")
    while notice["message"]["kind"] != "system":
        notice = await phone.expect("message.new")
    assert notice["message"]["event"] == "safety"
    assert "call" in notice["message"]["text"].lower()
    queued = await phone.expect_thread(status="queued")
    assert queued["queue_position"] == 1 and "priority" not in queued
    alert = await floor.expect("alert")
    assert alert["kind"] == "red_flag" and alert["thread"]["id"] == thread_id
    assert alert["thread"]["priority"] == "urgent" and "red-flag" in alert["thread"]["tags"]
    assert alert["reason"]
    recorded = await database_sync_to_async(
        lambda: list(
            ThreadEvent.objects.filter(thread_id=thread_id, kind="red_flag").values_list(
                "data", flat=True
            )
        )
    )()
    assert len(recorded) == 1 and recorded[0]["reasons"]
    for socket in (phone, floor):
        await socket.close()


async def test_a_red_flag_in_an_active_thread_alerts_her_coach_too():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "quick question about squats")
    await phone.expect_thread(status="active")
    await write(phone, thread_id, "also I have a fever of 39 and chest pain", client_id="rf")
    alert = await console.expect("alert")
    assert alert["thread"]["id"] == thread_id and alert["thread"]["priority"] == "urgent"
    messages = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(thread_id=thread_id, event="safety").values_list(
                "seq", flat=True
            )
        )
    )()
    assert len(messages) == 1
    for socket in (phone, console):
        await socket.close()


async def test_queue_frames_show_coaches_the_members_words_but_not_supervisors():
    coach, supervisor = await amake_coach(), await amake_supervisor()
    console, floor = await connect(coach), await connect(supervisor)
    member = await amake_member()
    phone, thread_id = await first_message(member, "heaviness down below since the birth")

    async def queued_frame(socket):
        for _ in range(5):
            frame = await socket.expect("queue", timeout=4)
            if frame["total"]:
                return frame
        raise AssertionError("no queue frame with the thread")

    at_console, at_floor = await queued_frame(console), await queued_frame(floor)
    (row,) = at_console["threads"]
    assert row["id"] == thread_id and row["preview"] == "heaviness down below since the birth"
    (row,) = at_floor["threads"]
    assert "preview" not in row  # a supervisor reads her words only in the audited transcript
    assert at_floor["oldest"]["high"] is not None and at_floor["oldest"]["urgent"] is None
    assert at_floor["by_priority"] == {"urgent": 0, "high": 1, "normal": 0}
    for socket in (console, floor, phone):
        await socket.close()


async def test_the_coach_who_takes_a_red_flagged_thread_is_alerted_too():
    member = await amake_member()
    phone, thread_id = await first_message(member, "I have chest pain and can't breathe properly")
    await phone.expect_thread(status="queued")
    coach = await amake_coach()
    console = await online(coach)
    alert = await console.expect("alert")
    assert alert["thread"]["id"] == thread_id
    assert alert["thread"]["coach"]["id"] == coach.pk
    assert alert["reason"]
    for socket in (phone, console):
        await socket.close()


async def test_thread_objects_say_how_far_each_side_has_read():
    coach, member = await amake_coach(), await amake_member()
    thread = await amake_thread(member, coach=coach, messages=4)
    console, phone = await connect(coach), await connect(member)
    await console.send({"type": "read", "thread": thread.pk, "seq": 3})
    await phone.expect("read")
    await phone.close()
    phone = await connect(member)  # after a reload she still knows what the coach read
    (listed,) = phone.hello["threads"]
    assert listed["read"] == {"member": 0, "coach": 3}
    for socket in (console, phone):
        await socket.close()


async def test_the_unanswered_clock_starts_no_earlier_than_the_assignment():
    # She waited in the queue longer than the limit; her new coach must get the whole
    # limit to answer before the thread is flagged, not a second.
    member = await amake_member()
    phone, thread_id = await first_message(member, "hello, anyone?")
    await database_sync_to_async(Thread.objects.filter(pk=thread_id).update)(
        awaiting_reply_since=timezone.now() - datetime.timedelta(seconds=400)
    )
    coach = await amake_coach()
    console = await online(coach)
    await console.expect_thread(id=thread_id, status="active")
    with override_settings(CHAT_UNANSWERED_SECONDS=300):
        assert await database_sync_to_async(unanswered_flag)() == 0
        # ...until she has had the thread that long.
        await database_sync_to_async(Thread.objects.filter(pk=thread_id).update)(
            assigned_at=timezone.now() - datetime.timedelta(seconds=301)
        )
        assert await database_sync_to_async(unanswered_flag)() == 1
    for socket in (phone, console):
        await socket.close()


async def safety_notices(thread_id):
    return await database_sync_to_async(
        lambda: list(
            Message.objects.filter(thread_id=thread_id, event="safety").values_list(
                "text", flat=True
            )
        )
    )()


async def test_a_new_red_flag_counts_even_after_a_person_removed_the_tag():
    coach, supervisor = await amake_coach(), await amake_supervisor()
    console = await online(coach)
    floor = await connect(supervisor)
    member = await amake_member()
    phone, thread_id = await first_message(member, "I felt a bit dizzy standing up")
    await floor.expect("alert")
    await floor.request(
        {"type": "thread.tag", "thread": thread_id, "remove": ["red-flag"]}, "thread"
    )
    assert len(await safety_notices(thread_id)) == 1
    await write(phone, thread_id, "now I'm soaking through a pad every hour", client_id="rf2")
    alert = await floor.expect("alert")
    assert alert["thread"]["priority"] == "urgent" and "red-flag" in alert["thread"]["tags"]
    # The staff judged the first flag away; she is told again for the new sign.
    assert len(await safety_notices(thread_id)) == 2
    for socket in (phone, console, floor):
        await socket.close()


async def test_a_reopened_thread_does_not_carry_the_old_red_flag():
    coach = await amake_coach()
    console = await online(coach)
    member = await amake_member()
    phone, thread_id = await first_message(member, "I have chest pain and can't breathe properly")
    await console.expect("alert")
    resolved = await console.request({"type": "thread.resolve", "thread": thread_id}, "thread")
    await write(phone, thread_id, "all fine now, a question about running", client_id="back")
    reopened = await console.expect_thread(id=thread_id, status="active")
    while reopened["version"] < resolved["thread"]["version"]:
        reopened = await console.expect_thread(id=thread_id, status="active")
    assert reopened["priority"] == "normal" and "red-flag" not in reopened["tags"]
    await console.nothing("alert")
    # A new warning sign in the reopened thread is a red flag again.
    await write(phone, thread_id, "actually the chest pain is back", client_id="again")
    alert = await console.expect("alert")
    assert alert["thread"]["priority"] == "urgent"
    for socket in (phone, console):
        await socket.close()


async def test_the_safety_notice_does_not_promise_a_coach_who_is_not_there():
    member = await amake_member()
    phone, thread_id = await first_message(member, "I have a fever of 39 and the wound is oozing")
    [text] = await safety_notices(thread_id)
    assert "your coach" not in text and "a supervisor has been alerted" in text
    coach = await amake_coach()
    console = await online(coach)
    await console.expect_thread(id=thread_id, status="active")
    await database_sync_to_async(
        Message.objects.filter(thread_id=thread_id, event="safety").update
    )(created_at=timezone.now() - datetime.timedelta(hours=1))
    await write(phone, thread_id, "and now chest pain too", client_id="cp")
    assert "your coach and a supervisor have been alerted" in (await safety_notices(thread_id))[-1]
    for socket in (phone, console):
        await socket.close()

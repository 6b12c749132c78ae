"""Reading a thread: sync after a gap, history pages, read receipts, typing."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import ReadState
from tests.support.factories import amake_coach, amake_member, amake_supervisor, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


def seqs(page):
    return [m["seq"] for m in page["messages"]]


async def test_reconnect_then_sync_fills_the_gap_exactly():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach, messages=3)
    phone = await connect(member)
    await phone.close()  # the network drops; she holds seq 3
    console = await connect(coach)
    for n in range(4):
        await console.request(
            {
                "type": "message.send",
                "thread": thread.pk,
                "client_id": f"k{n}",
                "body": f"reply {n}",
            },
            "message.ack",
        )
    phone = await connect(member)
    (listed,) = phone.hello["threads"]
    assert listed["last_seq"] == 7
    page = await phone.request(
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 3}, "thread.messages"
    )
    assert seqs(page) == [4, 5, 6, 7]
    assert page["has_more"] is False
    assert [m["text"] for m in page["messages"]] == [f"reply {n}" for n in range(4)]
    await phone.close()
    await console.close()


async def test_sync_pages_with_limit_and_has_more():
    member = await amake_member()
    thread = await amake_thread(member, messages=12)
    socket = await connect(member)
    first = await socket.request(
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 0, "limit": 5}, "thread.messages"
    )
    assert seqs(first) == [1, 2, 3, 4, 5] and first["has_more"] is True
    rest = await socket.request(
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 10, "limit": 5}, "thread.messages"
    )
    assert seqs(rest) == [11, 12] and rest["has_more"] is False
    await socket.close()


async def test_history_pages_backwards_from_the_newest():
    member = await amake_member()
    thread = await amake_thread(member, messages=120)
    socket = await connect(member)
    newest = await socket.request(
        {"type": "thread.history", "thread": thread.pk}, "thread.messages"
    )
    assert seqs(newest) == list(range(71, 121)) and newest["has_more"] is True
    older = await socket.request(
        {"type": "thread.history", "thread": thread.pk, "before_seq": 71, "limit": 60},
        "thread.messages",
    )
    assert seqs(older) == list(range(11, 71)) and older["has_more"] is True
    oldest = await socket.request(
        {"type": "thread.history", "thread": thread.pk, "before_seq": 11, "limit": 100},
        "thread.messages",
    )
    assert seqs(oldest) == list(range(1, 11)) and oldest["has_more"] is False
    # ...and forwards again with sync, meeting exactly where history began.
    forward = await socket.request(
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 10, "limit": 61},
        "thread.messages",
    )
    assert seqs(forward) == list(range(11, 72))
    await socket.close()


async def test_read_receipts_are_stored_relayed_and_reported_in_hello():
    member, coach = await amake_member(), await amake_coach("Kelly")
    thread = await amake_thread(member, coach=coach, messages=4)
    phone, console = await connect(member), await connect(coach)
    await console.send({"type": "read", "thread": thread.pk, "seq": 3})
    relayed = await phone.expect("read")
    assert relayed == {
        "type": "read",
        "thread": thread.pk,
        "user": {"id": coach.pk, "role": "coach"},
        "seq": 3,
    }
    # Going backwards is not news; beyond the last message is capped.
    await console.send({"type": "read", "thread": thread.pk, "seq": 1})
    await phone.nothing("read")
    await console.send({"type": "read", "thread": thread.pk, "seq": 99})
    assert (await phone.expect("read"))["seq"] == 4
    await console.close()
    console = await connect(coach)
    assert console.hello["threads"][0]["read_seq"] == 4
    stored = await database_sync_to_async(ReadState.objects.get)(thread=thread, user=coach)
    assert stored.read_seq == 4
    await phone.close()
    await console.close()


async def test_typing_is_relayed_to_the_other_side():
    member, coach = await amake_member("Dana"), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await connect(member), await connect(coach)
    await phone.send({"type": "typing", "thread": thread.pk, "state": True})
    frame = await console.expect("typing")
    assert frame == {
        "type": "typing",
        "thread": thread.pk,
        "user": {"id": member.pk, "role": "member", "name": "Dana"},
        "state": True,
    }
    await phone.send({"type": "typing", "thread": thread.pk, "state": False})
    assert (await console.expect("typing"))["state"] is False
    await phone.close()
    await console.close()


async def test_typing_is_not_echoed_to_the_typists_own_sockets():
    # PROTOCOL.md: "typing to the other participants". A client that sends typing and
    # then waits for its next frame must not find its own indicator there.
    member, coach = await amake_member("Dana"), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, laptop, console = await connect(member), await connect(member), await connect(coach)
    await phone.send({"type": "typing", "thread": thread.pk, "state": True})
    assert (await console.expect("typing"))["user"]["id"] == member.pk
    await phone.nothing("typing")
    await laptop.nothing("typing")
    for socket in (phone, laptop, console):
        await socket.close()


async def test_supervisor_watches_read_only_and_every_read_is_audited():
    from chat.models import TranscriptAccess

    member, coach, supervisor = await amake_member(), await amake_coach(), await amake_supervisor()
    thread = await amake_thread(member, coach=coach, messages=2)
    watcher, phone = await connect(supervisor), await connect(member)
    assert watcher.hello["threads"] == []
    watched = await watcher.request({"type": "thread.watch", "thread": thread.pk}, "thread")
    assert watched["thread"]["id"] == thread.pk and "tags" in watched["thread"]
    page = await watcher.request({"type": "thread.history", "thread": thread.pk}, "thread.messages")
    assert seqs(page) == [1, 2]
    await phone.send({"type": "typing", "thread": thread.pk, "state": True})
    assert (await watcher.expect("typing"))["user"]["id"] == member.pk
    await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "x", "body": "hi"}, "message.ack"
    )
    assert (await watcher.expect("message.new"))["message"]["seq"] == 3

    for frame in (
        {"type": "message.send", "thread": thread.pk, "client_id": "s", "body": "hello"},
        {"type": "typing", "thread": thread.pk, "state": True},
        {"type": "read", "thread": thread.pk, "seq": 3},
    ):
        error = await watcher.error(frame)
        assert error["code"] == "forbidden", frame

    accesses = await database_sync_to_async(
        lambda: list(TranscriptAccess.objects.values_list("user_id", "thread_id", "action"))
    )()
    assert accesses == [(supervisor.pk, thread.pk, "watch")]

    unwatched = await watcher.request(
        {"type": "thread.unwatch", "thread": thread.pk}, "thread.unwatched"
    )
    assert unwatched["thread"] == thread.pk
    await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "y", "body": "again"},
        "message.ack",
    )
    await watcher.nothing("message.new")
    await watcher.close()
    await phone.close()


async def test_a_supervisors_first_read_of_a_thread_is_recorded_once_per_socket():
    from chat.models import TranscriptAccess

    member, supervisor = await amake_member(), await amake_supervisor()
    thread = await amake_thread(member, messages=3)
    socket = await connect(supervisor)
    for _ in range(3):
        await socket.request(
            {"type": "thread.sync", "thread": thread.pk, "after_seq": 0}, "thread.messages"
        )
    views = await database_sync_to_async(
        lambda: list(TranscriptAccess.objects.values_list("action", flat=True))
    )()
    assert views == ["view"]
    await socket.close()

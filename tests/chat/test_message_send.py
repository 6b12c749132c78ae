"""message.send: stored once, acked after commit, delivered to every socket of the thread."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from chat.models import Message, Thread
from tests.support.factories import amake_coach, amake_member, amake_supervisor, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored(thread_id: int) -> list[tuple[int, str]]:
    return list(
        Message.objects.filter(thread_id=thread_id).order_by("seq").values_list("seq", "text")
    )


async def test_member_opens_a_thread_and_gets_the_same_one_again():
    member = await amake_member()
    socket = await connect(member)
    first = await socket.request({"type": "thread.open"}, "thread")
    again = await socket.request({"type": "thread.open"}, "thread")
    assert first["thread"]["status"] == "new"
    assert again["thread"]["id"] == first["thread"]["id"]
    # Members never see the coaches' working notes.
    assert "tags" not in first["thread"] and "priority" not in first["thread"]
    await socket.close()


async def test_two_tabs_opening_at_once_share_one_thread():
    member = await amake_member()
    tab1, tab2 = await connect(member), await connect(member)
    replies = await asyncio.gather(
        tab1.request({"type": "thread.open"}, "thread"),
        tab2.request({"type": "thread.open"}, "thread"),
    )
    assert replies[0]["thread"]["id"] == replies[1]["thread"]["id"]
    assert await database_sync_to_async(Thread.objects.count)() == 1
    await tab1.close()
    await tab2.close()


async def test_ack_then_message_new_to_every_socket_of_the_thread():
    member, coach, supervisor = (
        await amake_member("Dana"),
        await amake_coach("Kelly"),
        await amake_supervisor(),
    )
    thread = await amake_thread(member, coach=coach)
    phone, laptop = await connect(member), await connect(member)
    console, watcher = await connect(coach), await connect(supervisor)
    await watcher.request({"type": "thread.watch", "thread": thread.pk}, "thread")

    ack = await phone.request(
        {
            "type": "message.send",
            "thread": thread.pk,
            "client_id": "c-1",
            "body": "  Hello <b>Kelly</b>  ",
        },
        "message.ack",
    )
    assert ack["seq"] == 1 and ack["client_id"] == "c-1" and ack["thread"] == thread.pk
    for socket in (phone, laptop, console, watcher):
        frame = await socket.expect("message.new")
        message = frame["message"]
        assert message["id"] == ack["id"] and message["seq"] == 1
        assert message["text"] == "Hello <b>Kelly</b>"  # trimmed, as typed
        assert message["body"] == "Hello &lt;b&gt;Kelly&lt;/b&gt;"
        assert message["sender"] == {"id": member.pk, "role": "member", "name": "Dana"}
        assert message["kind"] == "text" and message["created_at"].endswith("Z")
    assert await stored(thread.pk) == [(1, "Hello <b>Kelly</b>")]
    for socket in (phone, laptop, console, watcher):
        await socket.close()


async def test_retry_with_the_same_client_id_returns_the_first_ack_and_stores_nothing():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await connect(member), await connect(coach)
    first = await phone.request(
        {
            "type": "message.send",
            "thread": thread.pk,
            "client_id": "same",
            "body": "first body",
            "ref": "a",
        },
        "message.ack",
    )
    await console.expect("message.new")
    retry = await phone.request(
        {
            "type": "message.send",
            "thread": thread.pk,
            "client_id": "same",
            "body": "second body",
            "ref": "b",
        },
        "message.ack",
    )
    assert retry["ref"] == "b"
    assert {k: v for k, v in retry.items() if k != "ref"} == {
        k: v for k, v in first.items() if k != "ref"
    }
    assert await stored(thread.pk) == [(1, "first body")]
    await console.nothing("message.new")
    await phone.close()
    await console.close()


async def test_a_retry_gets_its_ack_back_after_the_thread_moved_on():
    # The ack was lost; meanwhile the coach resolved the thread and the member opened a
    # new one. Her retry and the coach's must still learn "stored", not get conflict
    # (which would make a client send the message a second time).
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await connect(member), await connect(coach)
    send = {"type": "message.send", "thread": thread.pk}
    first = await phone.request({**send, "client_id": "m-1", "body": "hello"}, "message.ack")
    reply = await console.request({**send, "client_id": "c-1", "body": "hi"}, "message.ack")
    await console.request({"type": "thread.resolve", "thread": thread.pk, "ref": "r"}, "thread")
    opened = await phone.request({"type": "thread.open", "ref": "o"}, "thread")
    assert opened["thread"]["id"] != thread.pk

    retry = await phone.request(
        {**send, "client_id": "m-1", "body": "hello", "ref": "m"}, "message.ack"
    )
    assert (retry["id"], retry["seq"], retry["ref"]) == (first["id"], first["seq"], "m")
    coach_retry = await console.request(
        {**send, "client_id": "c-1", "body": "hi", "ref": "c"}, "message.ack"
    )
    assert (coach_retry["id"], coach_retry["seq"]) == (reply["id"], reply["seq"])
    # A new message is still refused: the retry path opened nothing.
    refused = await phone.request({**send, "client_id": "m-2", "body": "again"}, "error")
    assert refused["code"] == "conflict"
    refused = await console.request({**send, "client_id": "c-2", "body": "again"}, "error")
    assert refused["code"] == "conflict"
    assert (await database_sync_to_async(Thread.objects.get)(pk=thread.pk)).status == "resolved"
    await phone.close()
    await console.close()


async def test_an_empty_ref_is_a_ref():
    # PROTOCOL.md: a ref is a string of at most 64 characters; "" is one.
    member = await amake_member()
    phone = await connect(member)
    reply = await phone.request({"type": "thread.open", "ref": ""}, "thread")
    assert reply["ref"] == ""
    await phone.close()


async def test_the_same_client_id_from_another_sender_is_a_different_message():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await connect(member), await connect(coach)
    a = await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "x", "body": "hi"}, "message.ack"
    )
    b = await console.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "x", "body": "hello"},
        "message.ack",
    )
    assert (a["seq"], b["seq"]) == (1, 2)
    await phone.close()
    await console.close()


async def test_many_senders_at_once_get_seqs_one_to_n_with_no_gap():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    sockets = [await connect(member) for _ in range(3)] + [await connect(coach) for _ in range(3)]

    async def burst(index, socket):
        acks = []
        for n in range(8):
            frame = {
                "type": "message.send",
                "thread": thread.pk,
                "client_id": f"s{index}-{n}",
                "body": f"{index}/{n}",
            }
            acks.append(await socket.request(frame, "message.ack", timeout=10))
        return acks

    results = await asyncio.gather(*(burst(i, s) for i, s in enumerate(sockets)))
    seqs = sorted(ack["seq"] for acks in results for ack in acks)
    assert seqs == list(range(1, 49))
    assert [seq for seq, _ in await stored(thread.pk)] == list(range(1, 49))
    for socket in sockets:
        await socket.close()


async def test_a_members_first_message_queues_her_new_thread():
    member = await amake_member()
    socket = await connect(member)
    thread = (await socket.request({"type": "thread.open"}, "thread"))["thread"]
    await socket.request(
        {
            "type": "message.send",
            "thread": thread["id"],
            "client_id": "1",
            "body": "hi, 6 weeks pp",
        },
        "message.ack",
    )
    queued = await socket.expect_thread(status="queued")
    assert queued["version"] > thread["version"]
    assert queued["queue_position"] == 1
    # No coach online: no number, and the member is told so in words.
    assert queued["eta_seconds"] is None
    system = [f["message"] for f in await socket.drain() if f["type"] == "message.new"]
    notice = next(m for m in system if m["kind"] == "system")
    assert notice["event"] == "queued" and "No coach is online" in notice["text"]
    await socket.close()


async def test_body_limits_after_trimming():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    socket = await connect(member)
    blank = await socket.error(
        {"type": "message.send", "thread": thread.pk, "client_id": "b", "body": "   \n "}
    )
    assert blank["code"] == "invalid" and "body" in blank["message"]
    long = await socket.error(
        {"type": "message.send", "thread": thread.pk, "client_id": "l", "body": "x" * 4001}
    )
    assert long["code"] == "invalid"
    padded = "  " + "x" * 4000 + "  "
    ack = await socket.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "p", "body": padded},
        "message.ack",
    )
    assert ack["seq"] == 1
    await socket.close()


async def test_coach_reply_stamps_first_response_and_clears_the_wait():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    phone, console = await connect(member), await connect(coach)
    await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "m", "body": "hi"}, "message.ack"
    )
    waiting = await database_sync_to_async(Thread.objects.get)(pk=thread.pk)
    assert waiting.awaiting_reply_since is not None
    await console.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "c", "body": "hello"},
        "message.ack",
    )
    answered = await database_sync_to_async(Thread.objects.get)(pk=thread.pk)
    assert answered.awaiting_reply_since is None
    assert answered.first_response_at is not None
    await phone.close()
    await console.close()

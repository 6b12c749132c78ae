"""Every error code, every close code, and nobody reaching a thread that is not theirs."""

from __future__ import annotations

import dataclasses
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import override_settings

from chat.models import Message
from tests.support.factories import amake_coach, amake_member, amake_supervisor, amake_thread
from tests.support.sockets import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_malformed_frames_get_bad_json_and_the_socket_stays_usable():
    member = await amake_member()
    socket = await connect(member)
    for text in ("not json", "[1, 2]", '"a string"', "", "{", "[" * 20_000 + "]" * 20_000):
        error = await socket.error(text)
        assert error["code"] == "bad_json", text[:20]
    await socket.communicator.send_to(bytes_data=b'{"type": "thread.open"}')
    assert (await socket.expect("error"))["code"] == "bad_json"
    assert (await socket.request({"type": "thread.open"}, "thread"))["thread"]["status"] == "new"
    await socket.close()


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"type": None},
        {"type": 5},
        {"type": "message.delete"},
        # Channel-layer handler names must never be reachable from a client.
        {"type": "chat.frame", "frame": '{"type":"hello"}'},
        {"type": "chat.close", "code": 4000},
        {"type": "websocket.disconnect"},
        {"type": "queue.changed"},
        {"type": "hello"},
    ],
)
async def test_unknown_types(frame):
    member = await amake_member()
    socket = await connect(member)
    frame["ref"] = "q"
    error = await socket.error(json.dumps(frame))
    assert error == {
        "type": "error",
        "code": "unknown_type",
        "message": "type is missing or not a known frame type",
        "ref": "q",
    }
    await socket.close()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "message.send", "thread": "1", "client_id": "c", "body": "x"}, "thread"),
        ({"type": "message.send", "thread": 1.5, "client_id": "c", "body": "x"}, "thread"),
        ({"type": "message.send", "thread": True, "client_id": "c", "body": "x"}, "thread"),
        ({"type": "message.send", "thread": -3, "client_id": "c", "body": "x"}, "thread"),
        ({"type": "message.send", "thread": 2**70, "client_id": "c", "body": "x"}, "thread"),
        ({"type": "message.send", "thread": 1, "client_id": "", "body": "x"}, "client_id"),
        ({"type": "message.send", "thread": 1, "client_id": "c" * 65, "body": "x"}, "client_id"),
        ({"type": "message.send", "thread": 1, "client_id": 7, "body": "x"}, "client_id"),
        ({"type": "message.send", "thread": 1, "client_id": "c", "body": ["x"]}, "body"),
        ({"type": "message.send", "thread": 1, "client_id": "c", "body": "nul\x00"}, "body"),
        ({"type": "message.send", "thread": 1, "client_id": "c", "body": "\ud800"}, "body"),
        ({"type": "message.send", "thread": 1, "client_id": "c"}, "body"),
        ({"type": "thread.sync", "thread": 1, "after_seq": -1}, "after_seq"),
        ({"type": "thread.sync", "thread": 1, "after_seq": 1.0}, "after_seq"),
        ({"type": "thread.sync", "thread": 1}, "after_seq"),
        ({"type": "thread.sync", "thread": 1, "after_seq": 0, "limit": 201}, "limit"),
        ({"type": "thread.history", "thread": 1, "limit": 0}, "limit"),
        ({"type": "thread.history", "thread": 1, "before_seq": "9"}, "before_seq"),
        ({"type": "typing", "thread": 1, "state": "yes"}, "state"),
        ({"type": "read", "thread": 1, "seq": None}, "seq"),
        ({"type": "presence.set", "status": "busy"}, "status"),
        ({"type": "thread.transfer", "thread": 1}, "to_coach"),
        ({"type": "thread.transfer", "thread": 1, "to_coach": 2, "to_queue": True}, "to_coach"),
        ({"type": "thread.transfer", "thread": 1, "to_queue": "yes"}, "to_queue"),
        ({"type": "thread.tag", "thread": 1}, "add"),
        ({"type": "thread.tag", "thread": 1, "add": "leaking"}, "add"),
        ({"type": "thread.tag", "thread": 1, "add": [1]}, "add"),
        ({"type": "thread.open", "ref": 12}, "ref"),
        ({"type": "thread.open", "ref": "r" * 65}, "ref"),
    ],
)
async def test_invalid_fields_name_the_field(frame, field):
    member = await amake_member()
    socket = await connect(member)
    await socket.send(json.dumps(frame))
    error = await socket.expect("error")
    assert error["code"] == "invalid"
    assert field in error["message"]
    await socket.close()


async def test_a_frame_over_64_kib_is_too_large_and_nothing_is_stored():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    socket = await connect(member)
    frame = {"type": "message.send", "thread": thread.pk, "client_id": "big", "body": "é" * 40000}
    error = await socket.error(json.dumps(frame, ensure_ascii=False))
    assert error["code"] == "too_large"
    assert not await database_sync_to_async(Message.objects.exists)()
    ack = await socket.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "ok", "body": "still here"},
        "message.ack",
    )
    assert ack["seq"] == 1
    await socket.close()


async def test_another_members_thread_is_not_found_exactly_like_a_missing_one():
    owner, intruder = await amake_member(), await amake_member()
    thread = await amake_thread(owner, messages=2)
    socket = await connect(intruder)
    for thread_id in (thread.pk, thread.pk + 1000):
        for frame in (
            {"type": "message.send", "thread": thread_id, "client_id": "c", "body": "x"},
            {"type": "thread.sync", "thread": thread_id, "after_seq": 0},
            {"type": "thread.history", "thread": thread_id},
            {"type": "typing", "thread": thread_id, "state": True},
            {"type": "read", "thread": thread_id, "seq": 1},
            {"type": "thread.resolve", "thread": thread_id},
            {"type": "thread.tag", "thread": thread_id, "add": ["leaking"]},
            {"type": "thread.transfer", "thread": thread_id, "to_queue": True},
            {"type": "member.context", "thread": thread_id},
        ):
            error = await socket.error(frame)
            assert {k: error[k] for k in ("code", "message")} == {
                "code": "not_found",
                "message": "no such thread",
            }, frame
    assert await database_sync_to_async(Message.objects.count)() == 2
    await socket.close()


async def test_sql_in_ids_is_invalid_not_executed():
    member = await amake_member()
    socket = await connect(member)
    error = await socket.error(
        {"type": "thread.sync", "thread": "1 OR 1=1; DROP TABLE chat_message;--", "after_seq": 0}
    )
    assert error["code"] == "invalid"
    assert await database_sync_to_async(get_user_model().objects.count)() == 1
    await socket.close()


async def test_forbidden_where_the_user_sees_the_thread_but_may_not_act():
    member, coach, supervisor = await amake_member(), await amake_coach(), await amake_supervisor()
    thread = await amake_thread(member, coach=coach)
    phone, watcher = await connect(member), await connect(supervisor)
    for frame in (
        {"type": "queue.claim", "thread": thread.pk},
        {"type": "thread.resolve", "thread": thread.pk},
        {"type": "thread.tag", "thread": thread.pk, "add": ["leaking"]},
        {"type": "thread.transfer", "thread": thread.pk, "to_queue": True},
        {"type": "thread.watch", "thread": thread.pk},
        {"type": "presence.set", "status": "online"},
        {"type": "member.context", "thread": thread.pk},
    ):
        assert (await phone.error(frame))["code"] == "forbidden", frame
    assert (await watcher.error({"type": "queue.claim", "thread": thread.pk}))[
        "code"
    ] == "forbidden"
    assert (await watcher.error({"type": "thread.open"}))["code"] == "forbidden"
    await phone.close()
    await watcher.close()


async def test_a_coach_cannot_touch_a_thread_she_does_not_hold():
    member, kelly, maria = await amake_member(), await amake_coach(), await amake_coach()
    thread = await amake_thread(member, coach=kelly)
    socket = await connect(maria)
    assert socket.hello["threads"] == []
    for frame in (
        {"type": "message.send", "thread": thread.pk, "client_id": "c", "body": "x"},
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 0},
        {"type": "thread.resolve", "thread": thread.pk},
    ):
        assert (await socket.error(frame))["code"] == "not_found"
    claim = await socket.error({"type": "queue.claim", "thread": thread.pk})
    assert claim["code"] == "conflict"
    await socket.close()


async def test_a_coach_unassigned_stops_receiving_and_sending_at_once():
    member, kelly, maria = (
        await amake_member(),
        await amake_coach("Kelly"),
        await amake_coach("Maria"),
    )
    await database_sync_to_async(
        lambda: type(maria.coach_profile).objects.filter(user=maria).update(status="online")
    )()
    thread = await amake_thread(member, coach=kelly)
    phone, kelly_socket = await connect(member), await connect(kelly)
    await kelly_socket.request(
        {
            "type": "thread.transfer",
            "thread": thread.pk,
            "to_coach": maria.pk,
            "note": "prolapse q",
        },
        "thread",
    )
    await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "m", "body": "hello?"},
        "message.ack",
    )
    await kelly_socket.nothing("message.new")
    error = await kelly_socket.error(
        {"type": "message.send", "thread": thread.pk, "client_id": "k", "body": "still me"}
    )
    assert error["code"] == "not_found"
    await phone.close()
    await kelly_socket.close()


async def test_rate_limit_answers_rate_limited_then_closes_a_flooder():
    member = await amake_member()
    with override_settings(CHAT_RATE_PER_10S=5):
        socket = await connect(member)
        for _ in range(5):
            await socket.request({"type": "thread.open"}, "thread")
        limited = await socket.error({"type": "thread.open"})
        assert limited["code"] == "rate_limited"
        assert 0 < limited["retry_after"] <= 2.0
        assert "retry in" in limited["message"]
        for _ in range(10):
            await socket.send({"type": "thread.open"})
        assert await socket.closed() == 4429


async def test_an_unexpected_failure_is_unavailable_without_a_trace(monkeypatch, caplog):
    from chat import consumers

    def explode(**kwargs):
        raise RuntimeError("secret internal detail")

    route = dataclasses.replace(consumers.ROUTES["thread.open"], action=explode)
    monkeypatch.setitem(consumers.ROUTES, "thread.open", route)
    member = await amake_member()
    socket = await connect(member)
    error = await socket.error({"type": "thread.open"})
    assert error["code"] == "unavailable"
    assert "secret" not in error["message"]
    assert "unexpected error in a frame" in caplog.text  # logged for the operator
    await socket.close()


async def test_a_database_failure_is_unavailable_and_the_retry_succeeds(monkeypatch):
    from django.db import OperationalError

    from chat.actions import messages

    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    socket = await connect(member)
    real = messages._sql  # every write of a message goes through it

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(messages, "_sql", down)
    frame = {"type": "message.send", "thread": thread.pk, "client_id": "retry-me", "body": "hi"}
    assert (await socket.error(dict(frame)))["code"] == "unavailable"
    assert not await database_sync_to_async(Message.objects.exists)()
    monkeypatch.setattr(messages, "_sql", real)
    ack = await socket.request(dict(frame), "message.ack")
    assert ack["seq"] == 1
    await socket.close()


async def test_logout_closes_that_sessions_sockets_with_4000_only():
    from asgiref.sync import sync_to_async
    from django.test import Client

    member = await amake_member()
    browser = Client()
    await sync_to_async(browser.force_login)(member)
    cookie = browser.cookies["sessionid"].value
    this_session = await connect(None, cookie=cookie)
    other_session = await connect(member)
    await sync_to_async(browser.post)("/accounts/logout/")
    assert await this_session.closed() == 4000
    assert (await other_session.request({"type": "thread.open"}, "thread"))["type"] == "thread"
    # The cookie is dead now: replaying it is refused.
    replay = await connect(None, cookie=cookie)
    assert await replay.closed() == 4401
    await other_session.close()


async def test_deactivating_an_account_closes_all_her_sockets():
    member = await amake_member()
    phone, laptop = await connect(member), await connect(member)

    @database_sync_to_async
    def deactivate():
        member.is_active = False
        member.save()

    await deactivate()
    assert await phone.closed() == 4000
    assert await laptop.closed() == 4000


async def test_sockets_beyond_the_per_user_cap_are_refused():
    member = await amake_member()
    with override_settings(CHAT_MAX_SOCKETS_PER_USER=2):
        first, second = await connect(member), await connect(member)
        third = await connect(member)
        assert await third.closed() == 4429
        await first.close()
        fourth = await connect(member)  # a closed tab frees its place
        assert fourth.hello is not None
        await second.close()
        await fourth.close()

"""Hostile input over the real socket stack: every malformed, mistyped, oversized or
malicious frame gets its documented error, or is stored and rendered inert, and the
socket stays usable after each one. Then access (every frame against threads that are
not yours) and floods. docs/reliability.md lists what each test proves.

Access cases already in test_errors_and_access.py (a member's frames against another
member's thread, claims, logout and deactivation with their close events, a foreign
Origin, a replayed cookie) are not repeated here.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from html import escape
from itertools import pairwise
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from chat.models import Message, Thread
from chat.protocol import MAX_FRAME_BYTES
from config.asgi import application
from routing.models import Assignment
from tests.support.factories import amake_coach, amake_member, amake_supervisor, amake_thread
from tests.support.sockets import ORIGIN, connect
from tests.support.xss import (
    PAYLOADS,
    assert_inert_body,
    assert_no_script,
    tags_and_attributes,
)

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTED_CODES = {
    "bad_json",
    "unknown_type",
    "invalid",
    "not_found",
    "forbidden",
    "conflict",
    "too_large",
    "rate_limited",
    "unavailable",
}


@pytest.fixture(autouse=True)
def no_rate_limit():
    """Hundreds of frames a test; the rate limit has tests of its own below."""
    with override_settings(CHAT_RATE_PER_10S=100_000):
        yield


async def conversation():
    """A member and her coach, both connected, in an active thread."""
    member, coach = await amake_member("Dana"), await amake_coach("Kelly")
    thread = await amake_thread(member, coach=coach, messages=2)
    return thread, await connect(member), await connect(coach)


async def still_usable(socket, thread_id: int) -> None:
    """The socket answers a valid frame, and was not closed."""
    reply = await socket.request(
        {"type": "thread.history", "thread": thread_id, "limit": 1}, "thread.messages"
    )
    assert reply["thread"] == thread_id


async def reply_to(socket, text: str | bytes) -> dict[str, Any]:
    """Send one raw frame (no ref: it may not even be JSON); the next reply or error."""
    if isinstance(text, bytes):
        await socket.communicator.send_input({"type": "websocket.receive", "bytes": text})
    else:
        await socket.send(text)
    return await socket.first(
        lambda f: f["type"] in ("error", "thread", "thread.messages", "message.ack"),
        3,
        f"a reply to {text[:60]!r}",
    )


# --- Malformed frames ------------------------------------------------------------------------


def _padded(size: int) -> str:
    """A valid thread.open frame of exactly `size` bytes of UTF-8."""
    head = '{"type":"thread.open","pad":"'
    return head + "x" * (size - len(head) - 2) + '"}'


MALFORMED: list[tuple[str, str | bytes, str]] = [
    ("empty text frame", "", "bad_json"),
    ("whitespace", " \n\t ", "bad_json"),
    ("not JSON", "hello", "bad_json"),
    ("single quotes", "{'type': 'thread.open'}", "bad_json"),
    ("unterminated object", '{"type": "thread.open"', "bad_json"),
    ("trailing garbage", '{"type": "thread.open"}}', "bad_json"),
    ("two objects", '{"type": "thread.open"} {"type": "thread.open"}', "bad_json"),
    ("byte order mark", '\ufeff{"type": "thread.open"}', "bad_json"),
    ("null", "null", "bad_json"),
    ("true", "true", "bad_json"),
    ("a number", "42", "bad_json"),
    ("NaN", "NaN", "bad_json"),
    ("a string", '"thread.open"', "bad_json"),
    ("an array", '[{"type": "thread.open"}]', "bad_json"),
    ("5,000 digits", "1" * 5000, "bad_json"),
    (
        "5,000 digits in a field",
        '{"type": "read", "thread": 1, "seq": ' + "9" * 5000 + "}",
        "bad_json",
    ),
    ("nested arrays", "[" * 30_000 + "]" * 30_000, "bad_json"),
    ("nested objects", '{"a":' * 10_000 + "1" + "}" * 10_000, "bad_json"),
    (
        "nesting inside a valid frame",
        '{"type": "thread.open", "x": ' + "[" * 20_000 + "]" * 20_000 + "}",
        "bad_json",
    ),
    ("binary frame", b'{"type": "thread.open"}', "bad_json"),
    ("empty binary frame", b"", "bad_json"),
    ("binary garbage", bytes(range(256)), "bad_json"),
    ("no type", '{"thread": 1}', "unknown_type"),
    ("type null", '{"type": null}', "unknown_type"),
    ("type a number", '{"type": 7}', "unknown_type"),
    ("type a list", '{"type": ["thread.open"]}', "unknown_type"),
    ("type an object", '{"type": {"thread.open": 1}}', "unknown_type"),
    ("type empty", '{"type": ""}', "unknown_type"),
    ("type padded", '{"type": " thread.open"}', "unknown_type"),
    ("type upper case", '{"type": "THREAD.OPEN"}', "unknown_type"),
    ("type with NUL", '{"type": "thread.open\\u0000"}', "unknown_type"),
    ("type a lone surrogate", '{"type": "\\ud800"}', "unknown_type"),
    ("type underscored", '{"type": "thread_open"}', "unknown_type"),
    ("type a dunder", '{"type": "__init__"}', "unknown_type"),
    ("type a consumer method", '{"type": "dispatch"}', "unknown_type"),
    ("type a server frame", '{"type": "message.new"}', "unknown_type"),
    ("type hello", '{"type": "hello"}', "unknown_type"),
    ("type error", '{"type": "error", "code": "bad_json"}', "unknown_type"),
    ("NaN in a field", '{"type": "read", "thread": 1, "seq": NaN}', "invalid"),
    ("Infinity in a field", '{"type": "read", "thread": 1, "seq": Infinity}', "invalid"),
    ("1e999 as an id", '{"type": "queue.claim", "thread": 1e999}', "invalid"),
    ("-0.0 as an id", '{"type": "queue.claim", "thread": -0.0}', "invalid"),
    ("one byte over 64 KiB", _padded(MAX_FRAME_BYTES + 1), "too_large"),
    (
        "one 4-byte character over",
        _padded(MAX_FRAME_BYTES - 3)[:-2] + "\U0001d11e" + '"}',
        "too_large",
    ),
    ("1 MiB", _padded(1 << 20), "too_large"),
]


async def test_every_malformed_frame_gets_its_error_and_the_socket_stays_usable():
    thread, phone, console = await conversation()
    for name, text, code in MALFORMED:
        if isinstance(text, str):
            text = text.replace("THREAD", str(thread.pk))
        error = await reply_to(phone, text)
        assert (error["type"], error.get("code")) == ("error", code), name
        assert set(error) <= {"type", "code", "message"}, name  # no ref, no trace
        await still_usable(phone, thread.pk)
    # Exactly 64 KiB is allowed.
    assert (await reply_to(phone, _padded(MAX_FRAME_BYTES)))["type"] == "thread"
    await phone.close()
    await console.close()


async def test_channel_layer_handler_names_are_unknown_types_and_do_nothing():
    """An event's `type` names a consumer method; a client's must never reach one."""
    thread, phone, console = await conversation()
    for frame in (
        {"type": "chat.close", "code": 4000, "session": None},
        {"type": "chat.frame", "frame": '{"type":"hello","protocol":1}', "frame_type": "hello"},
        {"type": "websocket.disconnect", "code": 1000},
        {"type": "websocket.receive", "text": '{"type": "thread.open"}'},
        {"type": "websocket.connect"},
        {"type": "queue.changed"},
    ):
        error = await phone.error(frame)
        assert error["code"] == "unknown_type", frame
    await still_usable(phone, thread.pk)
    # Nothing was relayed, opened or closed on her behalf.
    frames = await phone.drain(0.3)
    assert {f["type"] for f in frames} <= {"thread.messages"}, frames
    await phone.close()
    await console.close()


# --- Wrong types in every field of every frame type -------------------------------------------

MISSING = object()  # the field left out, as a client forgets it (None is an explicit null)
ID_WRONG = [MISSING, None, True, False, 0, -1, 1.5, 2**63, 2**70, "1", "", [], {}, [1]]
SEQ_WRONG = [MISSING, None, True, -1, 1.5, -(2**70), 2**63, "0", [], {}]
LIMIT_WRONG = [None, True, 0, -1, 1.5, 10**6, "10", [], {}]
BOOL_WRONG = [MISSING, None, 0, 1, "true", "false", [], {}]
TEXT_WRONG = [MISSING, None, 7, 1.5, True, [], {}, ["x"], "", "   \n\t ", "nul\x00", "\ud800 x"]
OPTIONAL_TEXT_WRONG = [7, True, [], {}, "nul\x00", "x" * 2001]
SLUGS_WRONG = ["leaking", 7, True, {}, {"leaking": 1}, [1], [None], [""], ["x" * 41], ["a"] * 21]
REF_WRONG = [7, 1.5, True, [], {}, "r" * 65]  # "" is a ref: a string of at most 64

# Each frame type: a valid frame (THREAD and COACH are filled in), and for each field
# the values that must be refused as `invalid`, with the field's name in the message.
FRAME_FIELDS: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "message.send": (
        {"thread": "THREAD", "client_id": "c1", "body": "hello"},
        {
            "thread": ID_WRONG,
            "client_id": [MISSING, None, 7, True, [], {}, "", "c" * 65, "\x00", "\udfff"],
            "body": [*TEXT_WRONG, "x" * 4001],
        },
    ),
    "thread.sync": (
        {"thread": "THREAD", "after_seq": 0},
        {"thread": ID_WRONG, "after_seq": SEQ_WRONG, "limit": [*LIMIT_WRONG, 201]},
    ),
    "thread.history": (
        {"thread": "THREAD"},
        # An absent or null before_seq asks for the newest page.
        {"thread": ID_WRONG, "before_seq": SEQ_WRONG[2:], "limit": [*LIMIT_WRONG, 101]},
    ),
    "typing": ({"thread": "THREAD", "state": True}, {"thread": ID_WRONG, "state": BOOL_WRONG}),
    "read": ({"thread": "THREAD", "seq": 1}, {"thread": ID_WRONG, "seq": SEQ_WRONG}),
    "presence.set": (
        {"status": "online"},
        {"status": [MISSING, None, 1, True, [], {}, "", "ONLINE", "busy", "online "]},
    ),
    "queue.claim": ({"thread": "THREAD"}, {"thread": ID_WRONG}),
    "thread.transfer": (
        {"thread": "THREAD", "to_coach": "COACH", "note": "over to you"},
        {
            "thread": ID_WRONG,
            "to_coach": ID_WRONG,  # absent or null: neither to_coach nor to_queue
            "to_queue": [None, 1, "true", [], {}],
            "note": OPTIONAL_TEXT_WRONG,
        },
    ),
    "thread.resolve": ({"thread": "THREAD"}, {"thread": ID_WRONG}),
    "thread.tag": (
        {"thread": "THREAD", "add": ["leaking"], "remove": []},
        {"thread": ID_WRONG, "add": SLUGS_WRONG},
    ),
    "thread.watch": ({"thread": "THREAD"}, {"thread": ID_WRONG}),
    "thread.unwatch": ({"thread": "THREAD"}, {"thread": ID_WRONG}),
    "member.context": ({"thread": "THREAD"}, {"thread": ID_WRONG}),
    "thread.open": ({}, {}),
}


def wrong_type_cases(thread_id: int, coach_id: int):
    for frame_type, (valid, fields) in FRAME_FIELDS.items():
        base = {"type": frame_type}
        for name, value in valid.items():
            base[name] = {"THREAD": thread_id, "COACH": coach_id}.get(str(value), value)
        for name, wrong_values in [*fields.items(), ("ref", REF_WRONG)]:
            for wrong in wrong_values:
                frame = dict(base)
                if wrong is MISSING:
                    frame.pop(name, None)
                else:
                    frame[name] = wrong
                yield f"{frame_type}.{name}={wrong!r:.30}", name, frame


async def test_a_wrong_value_in_any_field_of_any_frame_is_invalid_and_names_the_field():
    thread, phone, console = await conversation()
    coach_id = console.hello["user"]["id"]
    cases = list(wrong_type_cases(thread.pk, coach_id))
    assert len(cases) > 350
    for case, field, frame in cases:
        await console.send(json.dumps(frame))  # lone surrogates go as "\ud800" escapes
        error = await console.expect("error")
        assert error["code"] == "invalid", (case, error)
        assert field in error["message"] or (
            field in ("to_coach", "to_queue") and "to_coach or to_queue" in error["message"]
        ), (case, error)
    await still_usable(console, thread.pk)
    assert await database_sync_to_async(Message.objects.count)() == 2  # nothing stored
    await phone.close()
    await console.close()


# --- Text that must come out exactly as typed, and inert ---------------------------------------

UNICODE_BODIES = [
    "right-to-left override: \u202egnp.exe",
    "isolates: \u2067\u0645\u0631\u062d\u0628\u0627\u2069 and \u2066ltr\u2069",
    "zero\u200bwidth\u200cjoiners\u200dand\u2060word\ufeffjoiner",
    "\u200b\u200b\u200b",  # no whitespace to Python: a message of invisible characters
    "combining: e" + "\u0301" * 300,
    "Z\u0337\u0322\u031b\u034ea\u0335l\u0336g\u0334o\u0337 text",
    "family: \U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "flag: \U0001f3f3\ufe0f\u200d\U0001f308",
    "astral: \U0001d11e \U0010fffd",
    "noncharacters: \ufffe\uffff",
    "separators: a\u2028b\u2029c",
    "line one\r\nline two\rline three",
    "controls: \x07\x08\x1b[31mred\x1b[0m",
    "replacement: \ufffd",
    "full-width: \uff1cscript\uff1e\uff1c/script\uff1e",
    "homoglyph: https://ex\u0430mple.com/login",
    "emoji" * 800,  # 4,000 characters
    "\U0001f600" * 4000,  # 4,000 characters, 16,000 bytes
]


async def test_unicode_edge_cases_are_stored_and_shown_exactly_as_typed():
    thread, phone, console = await conversation()
    for n, text in enumerate(UNICODE_BODIES):
        ack = await phone.request(
            {"type": "message.send", "thread": thread.pk, "client_id": f"u{n}", "body": text},
            "message.ack",
        )
        new = await console.expect("message.new", timeout=5)
        assert new["message"]["seq"] == ack["seq"]
        assert new["message"]["text"] == text.strip(), n
        assert_inert_body(new["message"]["body"], text.strip())
    stored = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(thread=thread, seq__gt=2).order_by("seq").values_list("text")
        )
    )()
    assert [t for (t,) in stored] == [text.strip() for text in UNICODE_BODIES]
    await phone.close()
    await console.close()


@database_sync_to_async
def supervisor_downloads(supervisor, thread_id: int) -> dict[str, Any]:
    client = Client()
    client.force_login(supervisor)
    page = client.get(f"/supervisor/transcripts/{thread_id}/")
    exported = client.get(f"/supervisor/transcripts/{thread_id}/export.json")
    table = client.get(f"/supervisor/transcripts/{thread_id}/export.csv")
    for response in (page, exported, table):
        assert response.status_code == 200
        assert response["X-Content-Type-Options"] == "nosniff"
    assert exported["Content-Type"].startswith("application/json")
    assert exported["Content-Disposition"].startswith("attachment")
    assert table["Content-Type"].startswith("text/csv")
    assert "Content-Security-Policy" in page
    return {
        "page": page.content.decode(),
        "json": json.loads(exported.content),
        "csv": list(csv.reader(io.StringIO(table.content.decode("utf-8-sig")))),
    }


@database_sync_to_async
def admin_pages(*thread_ids: int) -> list[list[str]]:
    """Each thread's assignment pages in Django admin (list and detail), as a superuser."""
    admin, _ = get_user_model().objects.get_or_create(
        username="root-xss", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    pages = []
    for thread_id in thread_ids:
        pages.append([])
        for assignment in Assignment.objects.filter(thread_id=thread_id):
            for url in (
                f"/admin/routing/assignment/?thread__id__exact={thread_id}",
                f"/admin/routing/assignment/{assignment.pk}/change/",
            ):
                response = client.get(url)
                assert response.status_code == 200, url
                pages[-1].append(response.content.decode())
    return pages


async def test_xss_payloads_are_stored_as_typed_and_rendered_inert_everywhere():
    """Through the socket into the body, the supervisor's transcript page, its JSON and
    CSV exports, and Django admin (where only handoff notes appear: messages do not)."""
    member, kelly, maria = await amake_member(), await amake_coach("Kelly"), await amake_coach()
    await database_sync_to_async(
        lambda: type(maria.coach_profile).objects.filter(user=maria).update(status="online")
    )()
    supervisor = await amake_supervisor()
    thread = await amake_thread(member, coach=kelly)
    phone, console = await connect(member), await connect(kelly)
    # A page of the same template without payloads (a link included) sets what may appear.
    plain = await amake_thread(await amake_member(), coach=kelly)
    await console.request(
        {"type": "message.send", "thread": plain.pk, "client_id": "p", "body": "see example.com"},
        "message.ack",
    )
    await console.request(
        {"type": "thread.transfer", "thread": plain.pk, "to_coach": maria.pk, "note": "a\nb"},
        "thread",
    )
    allowed = tags_and_attributes((await supervisor_downloads(supervisor, plain.pk))["page"])

    typed = [text.strip() for text in PAYLOADS]
    for n, text in enumerate(PAYLOADS):
        socket = phone if n % 2 else console
        ack = await socket.request(
            {"type": "message.send", "thread": thread.pk, "client_id": f"x{n}", "body": text},
            "message.ack",
        )
        for receiver in (phone, console):
            new = await receiver.expect("message.new", timeout=5, thread=thread.pk)
            assert new["message"]["seq"] == ack["seq"]
            assert new["message"]["text"] == typed[n]
            assert_inert_body(new["message"]["body"], typed[n])
    note = PAYLOADS[2] + " " + PAYLOADS[27]
    await console.request(
        {"type": "thread.transfer", "thread": thread.pk, "to_coach": maria.pk, "note": note},
        "thread",
    )

    downloads = await supervisor_downloads(supervisor, thread.pk)
    page = downloads["page"]
    assert_no_script(page, allowed)
    bodies = await database_sync_to_async(
        lambda: dict(Message.objects.filter(thread=thread).values_list("client_id", "body"))
    )()
    for n in range(len(PAYLOADS)):
        assert bodies[f"x{n}"] in page  # the page shows the (inert) body, nothing else
    assert escape(note).replace("\n", "<br>") in page  # the handoff note, escaped

    entries = [e for e in downloads["json"]["timeline"] if e["type"] == "message"]
    by_client_id = {e["message"]["client_id"]: e["message"] for e in entries}
    for n in range(len(PAYLOADS)):
        assert by_client_id[f"x{n}"]["text"] == typed[n]
        assert by_client_id[f"x{n}"]["body"] == bodies[f"x{n}"]

    header, *rows = downloads["csv"]
    texts = [row[header.index("text")] for row in rows if row[header.index("seq")]]
    for text in typed:
        expected = "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
        assert expected in texts
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell

    plain_admin, payload_admin = await admin_pages(plain.pk, thread.pk)
    allowed = set().union(*map(tags_and_attributes, plain_admin))
    assert any(escape(note) in html for html in payload_admin)  # shown, escaped
    for html in payload_admin:
        assert_no_script(html, allowed)
    await phone.close()
    await console.close()


# --- Access: every frame, against threads that are not yours -----------------------------------


def frames_naming(thread_id: int, coach_id: int) -> list[dict[str, Any]]:
    """One frame of every type that names a thread, valid in everything but access."""
    return [
        {"type": "message.send", "thread": thread_id, "client_id": "intruder", "body": "hi"},
        {"type": "thread.sync", "thread": thread_id, "after_seq": 0},
        {"type": "thread.history", "thread": thread_id},
        {"type": "typing", "thread": thread_id, "state": True},
        {"type": "read", "thread": thread_id, "seq": 1},
        {"type": "queue.claim", "thread": thread_id},
        {"type": "thread.transfer", "thread": thread_id, "to_coach": coach_id},
        {"type": "thread.transfer", "thread": thread_id, "to_queue": True},
        {"type": "thread.resolve", "thread": thread_id},
        {"type": "thread.tag", "thread": thread_id, "add": ["leaking"], "remove": ["bowel"]},
        {"type": "thread.watch", "thread": thread_id},
        {"type": "member.context", "thread": thread_id},
    ]


async def answer(socket, frame: dict[str, Any]) -> tuple[str, str | None]:
    """(reply type, error code) of a frame that has a direct reply or error."""
    if frame["type"] in ("typing", "read"):
        # No reply when it succeeds: send, then a probe; an error comes first.
        await socket.send({**frame, "ref": "q"})
        await socket.send({"type": "thread.unwatch", "thread": 1, "ref": "probe"})
        reply = await socket.first(lambda f: f.get("ref") in ("q", "probe"), 3, "a reply")
        if reply["ref"] == "probe":
            return "none", None
        await socket.expect("thread.unwatched")
    else:
        frame = {**frame, "ref": f"a{time.monotonic_ns()}"}
        await socket.send(frame)
        reply = await socket.first(lambda f: f.get("ref") == frame["ref"], 3, "a reply")
    return reply["type"], reply.get("code")


@pytest.mark.parametrize("status", ["new", "queued", "active", "resolved"])
@pytest.mark.parametrize("intruder_role", ["member", "coach"])
async def test_someone_elses_thread_answers_exactly_like_a_missing_one(status, intruder_role):
    owner, holder = await amake_member(), await amake_coach()
    thread = await amake_thread(
        owner,
        coach=holder if status in ("active", "resolved") else None,
        status=status,
        messages=2,
    )
    missing = thread.pk + 10_000
    intruder = await (amake_member() if intruder_role == "member" else amake_coach())
    socket = await connect(intruder)
    for frame in frames_naming(thread.pk, holder.pk):
        if intruder_role == "coach" and frame["type"] == "queue.claim":
            continue  # coaches see the queue; claiming is tested below
        theirs = await answer(socket, frame)
        nobodys = await answer(socket, {**frame, "thread": missing})
        assert theirs == nobodys, (frame, theirs, nobodys)
        assert theirs[0] == "error", (frame, theirs)
    # Nothing changed hands (the queue feed may raise a queued thread's version: its
    # position is announced to the member).
    assert await database_sync_to_async(Message.objects.count)() == 2
    state = await database_sync_to_async(
        lambda: Thread.objects.values_list("status", "coach_id").get(pk=thread.pk)
    )()
    assert state == (status, thread.coach_id)
    assert not await database_sync_to_async(Assignment.objects.exists)()
    await socket.close()


async def test_a_coach_claims_only_what_is_queued():
    owner, holder, other = await amake_member(), await amake_coach(), await amake_coach()
    socket = await connect(other)
    # Away: she takes nothing by herself, and may claim (an offline coach may not).
    await socket.request({"type": "presence.set", "status": "away"}, "presence")
    for status, code in (("new", "not_found"), ("active", "conflict"), ("resolved", "conflict")):
        thread = await amake_thread(
            await amake_member(), coach=holder if status != "new" else None, status=status
        )
        assert (await socket.error({"type": "queue.claim", "thread": thread.pk}))["code"] == code
    queued = await amake_thread(owner, status="queued", messages=1)
    claimed = await socket.request({"type": "queue.claim", "thread": queued.pk}, "thread")
    assert claimed["thread"]["coach"]["id"] == other.pk
    await socket.close()


async def test_a_coach_transferred_away_loses_every_frame_and_every_event_at_once():
    member, kelly, maria = await amake_member(), await amake_coach("Kelly"), await amake_coach()
    await database_sync_to_async(
        lambda: type(maria.coach_profile).objects.filter(user=maria).update(status="online")
    )()
    thread = await amake_thread(member, coach=kelly, messages=2)
    phone, kelly_socket, maria_socket = (
        await connect(member),
        await connect(kelly),
        await connect(maria),
    )
    await kelly_socket.request(
        {"type": "thread.transfer", "thread": thread.pk, "to_coach": maria.pk}, "thread"
    )
    missing = thread.pk + 10_000
    for frame in frames_naming(thread.pk, maria.pk):
        if frame["type"] == "queue.claim":
            continue
        assert await answer(kelly_socket, frame) == await answer(
            kelly_socket, {**frame, "thread": missing}
        ), frame
    await kelly_socket.drain(0.1)
    await phone.request(
        {"type": "message.send", "thread": thread.pk, "client_id": "m", "body": "hello?"},
        "message.ack",
    )
    await phone.send({"type": "typing", "thread": thread.pk, "state": True})
    await maria_socket.expect("message.new", thread=thread.pk)
    await maria_socket.expect("typing", thread=thread.pk)
    stray = [f for f in await kelly_socket.drain(0.3) if f.get("thread") == thread.pk]
    assert not stray, stray
    for socket in (phone, kelly_socket, maria_socket):
        await socket.close()


async def test_a_supervisor_reads_and_watches_but_never_writes():
    member, coach, supervisor = await amake_member(), await amake_coach(), await amake_supervisor()
    thread = await amake_thread(member, coach=coach, messages=2)
    socket = await connect(supervisor)
    for frame in (
        {"type": "message.send", "thread": thread.pk, "client_id": "s", "body": "hello"},
        {"type": "typing", "thread": thread.pk, "state": True},
        {"type": "read", "thread": thread.pk, "seq": 2},
        {"type": "thread.open"},
        {"type": "queue.claim", "thread": thread.pk},
        {"type": "presence.set", "status": "online"},
    ):
        assert (await socket.error(frame))["code"] == "forbidden", frame
    page = await socket.request(
        {"type": "thread.sync", "thread": thread.pk, "after_seq": 0}, "thread.messages"
    )
    assert [m["seq"] for m in page["messages"]] == [1, 2]
    await socket.request({"type": "thread.watch", "thread": thread.pk}, "thread")
    assert await database_sync_to_async(Message.objects.count)() == 2
    await socket.close()


async def test_a_member_claims_nothing_not_even_her_own_thread():
    member, other = await amake_member(), await amake_member()
    own = await amake_thread(member, status="queued", messages=1)
    theirs = await amake_thread(other, status="queued", messages=1)
    socket = await connect(member)
    assert (await socket.error({"type": "queue.claim", "thread": own.pk}))["code"] == "forbidden"
    assert (await socket.error({"type": "queue.claim", "thread": theirs.pk}))["code"] == "not_found"
    await socket.close()


# --- Signed out or deactivated while a socket is open, with the close event lost ---------------


@database_sync_to_async
def quietly(change) -> None:
    """Change the database behind the signals' back (a queryset update sends none), as if
    the close event had been lost with the channel layer down at that moment."""
    change()


@pytest.mark.parametrize(
    "how",
    ["deactivated", "session deleted", "session expired", "password changed"],
)
async def test_a_socket_whose_access_ended_is_closed_at_its_next_frame(how):
    from django.utils import timezone

    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach, messages=1)
    socket = await connect(member)
    await still_usable(socket, thread.pk)
    user = get_user_model().objects.filter(pk=member.pk)
    if how == "deactivated":
        await quietly(lambda: user.update(is_active=False))
    elif how == "session deleted":
        await quietly(lambda: Session.objects.all().delete())
    elif how == "session expired":
        await quietly(lambda: Session.objects.update(expire_date=timezone.now()))
    else:

        def change_password():
            account = user.get()
            account.set_password("a new password entirely")
            get_user_model().objects.filter(pk=member.pk).update(password=account.password)

        await quietly(change_password)
    # The socket's next frame after the re-check interval (here: at once) closes it.
    with override_settings(CHAT_SESSION_RECHECK_SECONDS=0):
        await socket.send(
            {"type": "message.send", "thread": thread.pk, "client_id": "late", "body": "still me?"}
        )
        assert await socket.closed() == 4000
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_a_secret_key_rotation_keeps_sockets_open():
    """The check above accepts a session signed with a key in SECRET_KEY_FALLBACKS, as
    Django does for a request."""
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    socket = await connect(member)
    old_key = settings.SECRET_KEY
    with override_settings(SECRET_KEY="the-next-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[old_key]):
        await still_usable(socket, thread.pk)
    await socket.close()


@pytest.mark.parametrize(
    "origin",
    [
        b"null",
        b"http://evil.example",
        b"http://localhost.evil.example",
        b"http://localhost@evil.example",
        b"http://127.0.0.1.evil.example",
        b"file://",
        b"",
        None,
    ],
)
async def test_a_foreign_or_missing_origin_is_refused_at_the_handshake(origin):
    member = await amake_member()
    socket = await connect(member, origin=origin)
    assert not socket.accepted


async def test_the_allowed_origin_is_accepted():
    socket = await connect(await amake_member(), origin=ORIGIN)
    assert socket.hello is not None
    await socket.close()


# --- Floods ----------------------------------------------------------------------------------


async def test_frames_over_the_rate_limit_are_refused_unexecuted_then_the_flooder_is_closed():
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    with override_settings(CHAT_RATE_PER_10S=5):
        socket = await connect(member)
        for n in range(12):
            await socket.send(
                {"type": "message.send", "thread": thread.pk, "client_id": f"f{n}", "body": "x"}
            )
        frames = []
        while (output := await socket.output(3))["type"] != "websocket.close":
            frames.append(json.loads(output["text"]))
        assert output["code"] == 4429
    assert [f["type"] for f in frames].count("message.ack") == 5
    errors = [f for f in frames if f["type"] == "error"]
    assert {e["code"] for e in errors} == {"rate_limited"}
    # Each refused frame is given its own slot, one token (2 s at 5 per 10 s) apart.
    waits = [e["retry_after"] for e in errors]
    assert 0 < waits[0] <= 2.0
    assert all(abs(later - earlier - 2.0) <= 0.1 for earlier, later in pairwise(waits))
    stored = await database_sync_to_async(
        lambda: sorted(Message.objects.values_list("client_id", flat=True))
    )()
    assert stored == [f"f{n}" for n in range(5)]  # the first five; nothing after
    # Reconnecting would start a full bucket: she waits out a cool-down first, alone.
    assert (await connect(member)).close_code == 4429
    other = await connect(coach)
    assert other.hello is not None
    await other.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x00" * 10, "not json", '{"type": "nope"}', "x" * (MAX_FRAME_BYTES + 1)],
    ids=["binary", "bad_json", "unknown_type", "too_large"],
)
async def test_garbage_counts_against_the_rate_limit_like_any_frame(garbage):
    member = await amake_member()
    with override_settings(CHAT_RATE_PER_10S=5):
        socket = await connect(member)
        for _ in range(10):
            if isinstance(garbage, bytes):
                await socket.communicator.send_input(
                    {"type": "websocket.receive", "bytes": garbage}
                )
            else:
                await socket.send(garbage)
        assert await socket.closed() == 4429
        await socket.close()


@database_sync_to_async
def cookie_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_the_socket_cap_holds_when_the_sockets_open_at_once():
    """Ten sockets of one user arrive together, each before the others have been through
    their database hop (the cap was counted after it, and all ten got in)."""
    member = await amake_member()
    headers = [(b"origin", ORIGIN), (b"cookie", f"sessionid={await cookie_of(member)}".encode())]
    with override_settings(CHAT_MAX_SOCKETS_PER_USER=4):
        # Communicators made here, not in tasks of their own: tests/support/sockets.py's
        # connect() run concurrently leaves a PostgreSQL connection open in a thread.
        arriving = [WebsocketCommunicator(application, "/ws/chat/", headers) for _ in range(10)]
        for communicator in arriving:
            await communicator.send_input({"type": "websocket.connect"})
        outcomes = []
        for communicator in arriving:
            assert (await communicator.receive_output(5))["type"] == "websocket.accept"
            first = await communicator.receive_output(5)
            outcomes.append(first.get("code") or json.loads(first["text"])["type"])
        # All answered before any leaves: a place freed early would let a late one in.
        for communicator in arriving:
            await communicator.disconnect()
        assert sorted(outcomes, key=str) == [4429] * 6 + ["hello"] * 4
        again = await connect(member)  # closed sockets free their places
        assert again.hello is not None
        await again.close()


async def test_a_flooder_is_closed_without_slowing_another_user():
    """In-process, on one event loop: the flooder's refused frames cost no database time."""
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    with override_settings(CHAT_RATE_PER_10S=30):
        flooder = await connect(await amake_member())
        phone = await connect(member)
        big = json.dumps({"type": "thread.sync", "thread": 1, "after_seq": 0, "pad": "x" * 60_000})
        flood = asyncio.create_task(_flood(flooder, big))
        latencies = []
        for n in range(10):
            started = time.monotonic()
            await phone.request(
                {"type": "message.send", "thread": thread.pk, "client_id": f"p{n}", "body": "hi"},
                "message.ack",
            )
            latencies.append(time.monotonic() - started)
        assert await flooder.closed() == 4429
        await flood
    assert max(latencies) < 0.5, latencies
    await phone.close()


async def _flood(socket, frame: str) -> None:
    for _ in range(200):
        if socket.communicator.future.done():
            return
        await socket.send(frame)
        await asyncio.sleep(0)


# --- Messages that are expensive to triage ------------------------------------------------------

LONG_WORDS = [
    "x" * 4000,
    "".join(chr(97 + (n * 7 + n // 26) % 26) for n in range(4000)),  # no repeats to dedupe
    "leaking" + "g" * 3993,
    "é" * 4000,
    "38.5" * 1000,
    " ".join(["pelvic"] * 571),
]


async def test_long_words_are_triaged_quickly_and_do_not_stall_the_process():
    """Triage runs on the process's one database thread: a message that takes it seconds
    stalls every socket of the process (a fuzzy-matching loop cubic in a word's length
    once took 9 s for a 4,000-letter word)."""
    member, coach = await amake_member(), await amake_coach()
    thread = await amake_thread(member, coach=coach)
    socket = await connect(member)
    for n, body in enumerate(LONG_WORDS):
        started = time.monotonic()
        await socket.request(
            {"type": "message.send", "thread": thread.pk, "client_id": f"w{n}", "body": body},
            "message.ack",
            timeout=10,
        )
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"{elapsed:.1f} s for message {n}"
    await socket.close()

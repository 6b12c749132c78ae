"""Transcript search, the transcript page and its exports, over HTTP as a supervisor.

Threads are made through the real write path (the same actions the socket calls), so
their messages, system messages, tags, events and assignments are what production
would store.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat.actions.messages import message_send
from chat.actions.threads import thread_open
from chat.models import Thread, ThreadStatus, TranscriptAccess
from chat.transcripts import csv_cell, transcript_load
from routing.actions.assignment import queue_claim
from routing.actions.resolve import thread_resolve
from routing.actions.tags import thread_tag
from routing.actions.transfer import thread_transfer
from tests.support.factories import actor, make_coach, make_member, make_supervisor

pytestmark = pytest.mark.django_db


def converse(member, *lines: tuple[object, str]) -> Thread:
    """Her thread with these lines, each (speaker, text); a coach's first line claims it."""
    member_actor = actor(member)
    thread_id = thread_open(actor=member_actor)["id"]
    for number, (speaker, text) in enumerate(lines):
        speaker_actor = actor(speaker)
        thread = Thread.objects.get(pk=thread_id)
        if speaker_actor.role == "coach" and thread.coach_id != speaker.pk:
            queue_claim(actor=speaker_actor, thread_id=thread_id)
        message_send(actor=speaker_actor, thread_id=thread_id, client_id=f"c{number}", text=text)
    return Thread.objects.get(pk=thread_id)


def away_coach(name: str):
    """A coach who keeps her threads and takes no new ones: a supervisor may transfer to her."""
    return make_coach(name, status="away")


def resolve(thread: Thread, by) -> None:
    thread_resolve(actor=actor(by), thread_id=thread.pk)


@pytest.fixture
def supervisor():
    return make_supervisor("Sophie")


@pytest.fixture
def client(client, supervisor):
    client.force_login(supervisor)
    return client


def search(client, **params) -> list[int]:
    """The thread ids listed by a search, in order."""
    response = client.get(reverse("chat:transcripts"), params)
    assert response.status_code == 200
    return [int(i) for i in re.findall(r'<tr data-thread="(\d+)">', response.content.decode())]


# --- search ------------------------------------------------------------------------------


def test_each_filter_narrows_the_list(client):
    kelly, maria, sam = away_coach("Kelly"), away_coach("Maria"), away_coach("Sam")
    dana, priya, lena = make_member("Dana"), make_member("Priya"), make_member("Lena")
    running = converse(
        dana,
        (dana, "I leak when I run, training for a Marathon"),
        (kelly, "Let's look at your running load."),
    )
    thread_transfer(
        actor=actor(make_supervisor()), thread_id=running.pk, to_coach=maria.pk, note="prolapse?"
    )
    prolapse = converse(priya, (priya, "There is a heavy feeling, like dragging"), (sam, "Hi"))
    resolve(prolapse, sam)
    queued = converse(lena, (lena, "Hello, is anyone there?"))
    everyone = {running.pk, prolapse.pk, queued.pk}

    assert set(search(client)) == everyone
    # Member: part of the username or of the name, case-insensitive.
    assert search(client, member="DAN") == [running.pk]
    assert search(client, member=priya.username) == [prolapse.pk]
    # Coach: every thread she ever held, not only those she holds now.
    assert search(client, coach=kelly.pk) == [running.pk]
    assert search(client, coach=maria.pk) == [running.pk]
    assert search(client, coach=sam.pk) == [prolapse.pk]
    # Tag, status.
    assert search(client, tag="leaking") == [running.pk]
    assert search(client, tag="prolapse") == [prolapse.pk]
    assert search(client, status="resolved") == [prolapse.pk]
    assert search(client, status="queued") == [queued.pk]
    assert set(search(client, status="active")) == {running.pk}
    # Filters combine.
    assert search(client, tag="leaking", status="resolved") == []
    assert search(client, member="lena", coach=kelly.pk) == []


def test_created_range_is_inclusive_whole_days(client):
    threads = []
    for day in (1, 2, 3):
        member = make_member()
        thread = converse(member, (member, f"day {day}"))
        Thread.objects.filter(pk=thread.pk).update(
            created_at=timezone.make_aware(datetime.datetime(2026, 3, day, 23, 59))
        )
        threads.append(thread.pk)
    first, second, third = threads
    assert search(client, created_from="2026-03-02") == [third, second]
    assert search(client, created_to="2026-03-02") == [second, first]
    assert search(client, created_from="2026-03-02", created_to="2026-03-02") == [second]
    assert search(client, created_from="2026-03-04") == []


def test_a_start_after_the_end_is_an_error_not_an_empty_list(client):
    response = client.get(
        reverse("chat:transcripts"), {"created_from": "2026-03-05", "created_to": "2026-03-01"}
    )
    assert "The start date is after the end date." in response.content.decode()
    assert response.context["page"] is None


def test_a_search_nobody_matches_says_so(client):
    member = make_member("Dana")
    converse(member, (member, "I leak when I run"))
    page = client.get(reverse("chat:transcripts"), {"words": "trampoline"}).content.decode()
    assert ">0 threads</p>" in page
    assert "No thread matches these filters." in page


def test_a_refused_filter_shows_its_error_and_no_empty_result(client):
    page = client.get(reverse("chat:transcripts"), {"created_from": "soon"}).content.decode()
    assert "Enter a valid date." in page
    assert "0 threads" not in page
    assert "No thread matches these filters." not in page


def test_words_find_a_thread_by_a_word_in_any_message_and_not_others(client):
    kelly = away_coach("Kelly")
    dana, priya = make_member("Dana"), make_member("Priya")
    pessary = converse(
        dana,
        (dana, "My physio mentioned a Pessary for running"),
        (kelly, "A pessary can help; let's talk about fitting."),
    )
    other = converse(priya, (priya, "I feel some coning when I sit up"))

    assert search(client, words="pessary") == [pessary.pk]
    assert search(client, words="PESSARY") == [pessary.pk]
    assert search(client, words="coning") == [other.pk]
    # A word a coach wrote finds the thread too; the member's name does not.
    assert search(client, words="fitting") == [pessary.pk]
    assert search(client, words="Dana") == []
    # Every term must occur, in the same message or not.
    assert search(client, words="pessary fitting") == [pessary.pk]
    assert search(client, words="pessary coning") == []
    # LIKE wildcards are taken literally.
    assert search(client, words="%") == []
    assert search(client, words="_") == []


def test_the_list_shows_no_message_text_and_is_not_a_transcript_read(client):
    member = make_member("Dana")
    converse(member, (member, "Something private about my recovery"))
    response = client.get(reverse("chat:transcripts"), {"words": "private"})
    page = response.content.decode()
    assert "Dana" in page
    assert "Something private" not in page
    assert TranscriptAccess.objects.count() == 0


def test_the_list_shows_coaches_tags_status_dates_and_message_count(client):
    kelly, maria = away_coach("Kelly"), away_coach("Maria")
    dana = make_member("Dana")
    thread = converse(dana, (dana, "I leak when I run"), (kelly, "Hi Dana"), (dana, "Thanks"))
    thread_transfer(actor=actor(kelly), thread_id=thread.pk, to_coach=maria.pk, note="")
    resolve(thread, maria)
    response = client.get(reverse("chat:transcripts"))
    (row,) = response.context["rows"]
    assert row.coaches == ["Kelly", "Maria"]
    assert row.tags == ["leaking", "return-to-running"]
    assert row.member["name"] == "Dana"
    assert row.thread.status == ThreadStatus.RESOLVED
    thread.refresh_from_db()
    # Three lines written plus system messages: queued, assigned, transferred, resolved.
    assert row.message_count == thread.messages.count() == 7
    page = response.content.decode()
    assert "Kelly, Maria" in page
    assert thread.resolved_at.strftime("%Y-%m-%d %H:%M") in page


def test_results_are_paginated_newest_first_keeping_the_filters(client):
    made = []
    for _ in range(27):
        member = make_member()
        made.append(converse(member, (member, "leaking when I sneeze")).pk)
    first = search(client, words="sneeze")
    assert first == sorted(made, reverse=True)[:25]
    second_page = client.get(reverse("chat:transcripts"), {"words": "sneeze", "page": 2})
    assert [row.thread.pk for row in second_page.context["rows"]] == sorted(made, reverse=True)[25:]
    assert "Page 2 of 2" in second_page.content.decode()
    assert 'href="?words=sneeze&amp;page=1"' in second_page.content.decode()


# --- the transcript page -------------------------------------------------------------------


@pytest.fixture
def story():
    """A red-flagged thread, tagged by a supervisor, transferred with a note, resolved."""
    kelly, maria = away_coach("Kelly"), away_coach("Maria")
    dana = make_member("Dana")
    sophie = make_supervisor("Head")
    thread = converse(
        dana,
        (dana, "I leak when I run <b>really</b> & see https://example.com/pf"),
        (kelly, "Hi Dana, tell me more"),
        (dana, "Also heavy bleeding since this morning"),
    )
    thread_tag(actor=actor(sophie), thread_id=thread.pk, add=["prolapse"], remove=["leaking"])
    thread_transfer(actor=actor(sophie), thread_id=thread.pk, to_coach=maria.pk, note="Over to M")
    message_send(actor=actor(maria), thread_id=thread.pk, client_id="m1", text="Maria here")
    resolve(thread, maria)
    thread.refresh_from_db()
    return thread


def test_the_transcript_merges_messages_events_and_assignments_in_time_order(story):
    transcript = transcript_load(thread_id=story.pk)
    kinds = []
    for entry in transcript.entries:
        if entry.type == "message":
            message = entry.data["message"]
            kinds.append(f"{message['sender']['role']}:{message.get('event') or message['seq']}")
        elif entry.type == "event":
            kinds.append(f"event:{entry.data['kind']}")
        else:
            kinds.append(f"assignment:{entry.data['reason']}")
    assert kinds == [
        "member:1",
        "event:tag_added",
        "event:tag_added",
        "system:queued",
        "assignment:claim",
        "system:assigned",
        "coach:4",
        "member:5",
        "event:tag_added",
        "event:priority",
        "event:red_flag",
        "system:safety",
        # The supervisor's tags, then the transfer.
        "event:tag_added",
        "event:tag_removed",
        "assignment:transfer",
        "system:transferred",
        "coach:8",
        "assignment:resolved",
        "system:resolved",
    ]
    times = [entry.at for entry in transcript.entries]
    assert times == sorted(times)
    assert [c["name"] for c in transcript.coaches] == ["Kelly", "Maria"]


def test_the_transcript_page_shows_the_whole_timeline(client, story):
    response = client.get(reverse("chat:transcript", args=[story.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    # Bodies as sanitized HTML: typed markup stays text, URLs become safe links.
    assert "&lt;b&gt;really&lt;/b&gt; &amp; see" in page
    assert "<b>really</b>" not in page
    assert 'href="https://example.com/pf" rel="nofollow noopener" target="_blank"' in page
    for expected in [
        "Hi Dana, tell me more",
        "Also heavy bleeding since this morning",
        "Red flag: heavy bleeding (message 5)",
        "Priority normal → urgent",
        "Tag prolapse added by Head",
        "Tag leaking removed by Head",
        "Tag leaking added by triage",
        "Claimed by the coach: queue → Kelly, by Kelly",
        "Transferred to a coach: Kelly → Maria, by Head",
        "Note: Over to M",
        "Resolved (with Maria), by Maria",
        "Kelly has joined the chat.",
        "What you describe can be a sign that needs medical care now.",
    ]:
        assert expected in page, expected
    # Timeline order on the page is the order of the record.
    positions = [
        page.index(text)
        for text in ["I leak when I run", "Kelly has joined", "heavy bleeding since", "Maria here"]
    ]
    assert positions == sorted(positions)
    # Timings: waited, first response, handle time.
    assert "Waited in the queue" in page
    assert "First response" in page
    assert "Handle time" in page
    assert "Over to M" in page


def test_open_threads_link_to_watching_them_live(client):
    dana, priya = make_member("Dana"), make_member("Priya")
    kelly = away_coach("Kelly")
    open_thread = converse(dana, (dana, "Hello"))
    closed = converse(priya, (priya, "Hello"), (kelly, "Hi"))
    resolve(closed, kelly)
    watch_live = f'href="/supervisor/?watch={open_thread.pk}"'
    assert watch_live in client.get(reverse("chat:transcripts")).content.decode()
    assert (
        watch_live in client.get(reverse("chat:transcript", args=[open_thread.pk])).content.decode()
    )
    listing = client.get(reverse("chat:transcripts")).content.decode()
    assert f"?watch={closed.pk}" not in listing
    page = client.get(reverse("chat:transcript", args=[closed.pk])).content.decode()
    assert "Watch live" not in page


def test_timings_count_the_stay_in_progress(client):
    kelly = away_coach("Kelly")
    dana = make_member("Dana")
    thread = converse(dana, (dana, "Hello"), (kelly, "Hi"))
    Thread.objects.filter(pk=thread.pk).update(
        assigned_at=timezone.now() - datetime.timedelta(minutes=5), handle_seconds=60
    )
    timings = transcript_load(thread_id=thread.pk).timings
    assert timings.ongoing == "active"
    assert 360 <= timings.handle_seconds < 370
    assert timings.first_response_seconds is not None
    assert timings.first_response_seconds < 5


def test_viewing_records_exactly_one_view_per_read(client, supervisor, story):
    url = reverse("chat:transcript", args=[story.pk])
    client.get(url)
    assert list(TranscriptAccess.objects.values_list("user_id", "role", "thread_id", "action")) == [
        (supervisor.pk, "supervisor", story.pk, "view")
    ]
    client.get(url)
    assert TranscriptAccess.objects.filter(action="view").count() == 2
    assert TranscriptAccess.objects.filter(action="export").count() == 0


def test_a_missing_thread_is_404_and_records_nothing(client):
    for name in ("chat:transcript", "chat:transcript_json", "chat:transcript_csv"):
        assert client.get(reverse(name, args=[999999])).status_code == 404
    assert TranscriptAccess.objects.count() == 0


# --- exports -------------------------------------------------------------------------------


def test_json_export_round_trips_and_is_recorded(client, supervisor, story):
    response = client.get(reverse("chat:transcript_json", args=[story.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="transcript-{story.pk}.json"'
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content.decode("utf-8"))
    assert data["thread"]["id"] == story.pk
    assert data["thread"]["member"]["name"] == "Dana"
    assert data["thread"]["status"] == "resolved"
    assert data["thread"]["tags"] == ["prolapse", "red-flag", "return-to-running"]
    assert [c["name"] for c in data["thread"]["coaches"]] == ["Kelly", "Maria"]
    messages = [e["message"] for e in data["timeline"] if e["type"] == "message"]
    assert [m["seq"] for m in messages] == list(range(1, story.last_seq + 1))
    assert messages[0]["text"] == "I leak when I run <b>really</b> & see https://example.com/pf"
    assert messages[0]["sender"] == {"id": story.member_id, "role": "member", "name": "Dana"}
    (transfer,) = [e for e in data["timeline"] if e.get("reason") == "transfer"]
    assert transfer["note"] == "Over to M"
    assert transfer["from"]["name"] == "Kelly"
    assert transfer["to"]["name"] == "Maria"
    assert transfer["actor"]["role"] == "supervisor"
    (flag,) = [e for e in data["timeline"] if e.get("kind") == "red_flag"]
    assert flag["data"]["reasons"] == ["heavy bleeding"]
    assert set(data["timings"]) == {
        "wait_seconds",
        "first_response_seconds",
        "handle_seconds",
        "ongoing",
    }
    assert list(TranscriptAccess.objects.values_list("user_id", "thread_id", "action")) == [
        (supervisor.pk, story.pk, "export")
    ]


def test_json_export_keeps_unicode_quotes_and_newlines_exactly(client):
    member = make_member("Zoë")
    text = 'Müde 😴 "quoted"\nsecond line\t\\ </script>'
    thread = converse(member, (member, text))
    data = json.loads(client.get(reverse("chat:transcript_json", args=[thread.pk])).content)
    assert data["timeline"][0]["message"]["text"] == text
    assert data["thread"]["member"]["name"] == "Zoë"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+44 7700 900123", "'+44 7700 900123"),
        ("-3 kg since birth", "'-3 kg since birth"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a = b", "a = b"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_csv_export_escapes_formulas_commas_newlines_and_keeps_unicode(client, supervisor):
    member = make_member("Zoë")
    kelly = away_coach("Kelly")
    lines = [
        "=1+1",
        "+44 7700 900123",
        '-3 kg, then "more"',
        "@home",
        "\tstarts with a tab",
        "first line\nsecond line, with a comma",
        "Müde 😴 ça va, I leak a bit",
    ]
    thread = converse(member, *[(member, line) for line in lines], (kelly, "=cmd|' /C calc'!A0"))
    response = client.get(reverse("chat:transcript_csv", args=[thread.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="transcript-{thread.pk}.csv"'
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["thread", "at", "entry", "seq", "who", "role", "event", "text", "detail"]
    texts = [row[7] for row in rows[1:] if row[2] == "text"]
    assert texts == [
        "'=1+1",
        "'+44 7700 900123",
        '\'-3 kg, then "more"',
        "'@home",
        "'\tstarts with a tab",
        "first line\nsecond line, with a comma",
        "Müde 😴 ça va, I leak a bit",
        "'=cmd|' /C calc'!A0",
    ]
    member_rows = [row for row in rows[1:] if row[5] == "member"]
    assert {row[4] for row in member_rows} == {"Zoë"}
    assert all(row[0] == str(thread.pk) for row in rows[1:])
    # Events and assignments have rows too, described in words.
    assert any(row[2] == "assignment" and "Kelly" in row[8] for row in rows)
    assert any(row[2] == "event" and row[6] == "tag_added" for row in rows)
    assert list(TranscriptAccess.objects.values_list("user_id", "thread_id", "action")) == [
        (supervisor.pk, thread.pk, "export")
    ]


def test_each_export_records_one_export(client, story):
    client.get(reverse("chat:transcript_json", args=[story.pk]))
    client.get(reverse("chat:transcript_csv", args=[story.pk]))
    client.get(reverse("chat:transcript_csv", args=[story.pk]))
    assert TranscriptAccess.objects.filter(action="export").count() == 3
    assert TranscriptAccess.objects.filter(action="view").count() == 0


def test_pages_cost_the_same_queries_however_many_rows_and_messages(client):
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def add_threads(count: int) -> Thread:
        for _ in range(count):
            member, coach = make_member(), away_coach("Coach")
            thread = converse(member, (member, "I leak"), (coach, "Hi"), (member, "thanks"))
        return thread

    first = add_threads(1)
    urls = [
        reverse("chat:transcripts"),
        reverse("chat:transcript", args=[first.pk]),
        reverse("chat:transcript_csv", args=[first.pk]),
        reverse("chat:access"),
    ]
    before = [queries(url) for url in urls]
    add_threads(6)
    for number in range(10):
        message_send(
            actor=actor(first.member), thread_id=first.pk, client_id=f"x{number}", text="+"
        )
    assert [queries(url) for url in urls] == before

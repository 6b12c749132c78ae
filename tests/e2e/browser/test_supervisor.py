"""The supervisor in a browser: finding, reading and exporting a transcript, the audit
trail it leaves, and the live floor as members write and red flags come in.

Threads are made the way people make them: members and coaches speak the socket
protocol to the same daphne server (tests/support/live_client.py). That client is
async; Playwright's sync API keeps an event loop in this thread, so it runs in a
worker thread of its own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chat.models import Thread, ThreadStatus, ThreadTag, TranscriptAccess
from tests.e2e.browser.conftest import DESKTOP, PHONE, log_in, screenshot
from tests.support.factories import PASSWORD, make_coach, make_member, make_supervisor
from tests.support.live_client import LiveSocket, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def run(coroutine: Any) -> Any:
    """Run a coroutine to the end on a fresh event loop in another thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


async def open_socket(base_url: str, username: str) -> LiveSocket:
    session = await asyncio.to_thread(login, base_url, username, PASSWORD)
    socket = await LiveSocket.connect(base_url, session)
    await socket.expect("hello")
    return socket


async def say(socket: LiveSocket, thread_id: int, text: str) -> None:
    ref = uuid.uuid4().hex[:12]
    await socket.send(
        {
            "type": "message.send",
            "ref": ref,
            "thread": thread_id,
            "client_id": ref,
            "body": text,
        }
    )
    await socket.expect("message.ack", ref=ref)


async def member_writes(base_url: str, username: str, *texts: str) -> int:
    """A member opens (or reopens) her thread and writes; returns its id."""
    socket = await open_socket(base_url, username)
    await socket.send({"type": "thread.open", "ref": "open"})
    thread_id = (await socket.expect("thread", ref="open"))["thread"]["id"]
    for text in texts:
        await say(socket, thread_id, text)
    await socket.close()
    return thread_id


async def coached_chat(base_url: str, member: str, coach: str, lines: list[tuple[str, str]]) -> int:
    """A whole conversation: the coach comes online, the member writes, the thread is
    assigned, they talk, and the coach resolves it."""
    coach_socket = await open_socket(base_url, coach)
    await coach_socket.send({"type": "presence.set", "status": "online", "ref": "on"})
    await coach_socket.expect("presence", ref="on")
    member_socket = await open_socket(base_url, member)
    await member_socket.send({"type": "thread.open", "ref": "open"})
    thread_id = (await member_socket.expect("thread", ref="open"))["thread"]["id"]
    assigned = False
    for speaker, text in lines:
        if speaker == "member":
            await say(member_socket, thread_id, text)
            continue
        while not assigned:
            frame = await coach_socket.expect("thread", timeout=10)
            assigned = frame["thread"]["status"] == "active"
        await say(coach_socket, thread_id, text)
    await coach_socket.send({"type": "thread.resolve", "thread": thread_id, "ref": "done"})
    await coach_socket.expect("thread", ref="done")
    await coach_socket.send({"type": "presence.set", "status": "offline", "ref": "off"})
    await coach_socket.expect("presence", ref="off")
    await member_socket.close()
    await coach_socket.close()
    return thread_id


def accesses(user) -> list[tuple[int, str]]:
    return list(
        TranscriptAccess.objects.filter(user=user).order_by("id").values_list("thread_id", "action")
    )


def test_a_supervisor_finds_reads_and_exports_a_transcript(new_page, daphne_server):
    dana, priya = make_member("Dana"), make_member("Priya")
    kelly = make_coach("Kelly", specialties=("leaking",))
    supervisor = make_supervisor("Sophie")
    wanted = run(
        coached_chat(
            daphne_server.url,
            dana.username,
            kelly.username,
            [
                ("member", "I leak when I run, and my physio mentioned a pessary"),
                ("coach", "Hi Dana, a pessary can help. See https://example.com/pessary-guide"),
                ("member", 'Thanks! "=cost" was a worry, <b>not</b> anymore'),
            ],
        )
    )
    other = run(member_writes(daphne_server.url, priya.username, "Some doming when I sit up"))

    page = new_page(DESKTOP)
    log_in(page, supervisor.username, PASSWORD)
    page.goto("/supervisor/transcripts/")
    page.get_by_label("Words in messages").fill("PESSARY")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#result-count")).to_have_text("1 thread")
    expect(page.get_by_role("link", name=f"Thread {wanted}")).to_be_visible()
    expect(page.get_by_role("link", name=f"Thread {other}")).to_have_count(0)
    # The list is not a read: no message text on it, nothing recorded.
    expect(page.get_by_text("physio")).to_have_count(0)
    assert accesses(supervisor) == []
    screenshot(page, "supervisor-search-desktop")

    page.get_by_role("link", name=f"Thread {wanted}").click()
    expect(page.get_by_role("heading", name=f"Thread {wanted}")).to_be_visible()
    expect(page.get_by_text("my physio mentioned a pessary")).to_be_visible()
    # Typed markup is shown as text; links are links.
    expect(page.get_by_text('"=cost" was a worry, <b>not</b> anymore')).to_be_visible()
    expect(page.get_by_role("link", name="https://example.com/pessary-guide")).to_be_visible()
    expect(page.get_by_text("Kelly has joined the chat.")).to_be_visible()
    expect(page.get_by_text("Tag leaking added by triage")).to_be_visible()
    expect(page.get_by_text("Assigned from the queue: queue → Kelly")).to_be_visible()
    expect(page.get_by_text("Resolved (with Kelly), by Kelly")).to_be_visible()
    screenshot(page, "supervisor-transcript-desktop")
    assert accesses(supervisor) == [(wanted, "view")]

    with page.expect_download() as json_download:
        page.get_by_role("link", name="Export JSON").click()
    download = json_download.value
    assert download.suggested_filename == f"transcript-{wanted}.json"
    exported = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    texts = [e["message"]["text"] for e in exported["timeline"] if e["type"] == "message"]
    assert 'Thanks! "=cost" was a worry, <b>not</b> anymore' in texts
    assert exported["thread"]["status"] == "resolved"

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:3] == ["thread", "at", "entry"]
    assert any(row[7] == 'Thanks! "=cost" was a worry, <b>not</b> anymore' for row in rows)
    assert accesses(supervisor) == [(wanted, "view"), (wanted, "export"), (wanted, "export")]

    page.goto("/supervisor/access/")
    table = page.locator("table tbody tr")
    expect(table).to_have_count(3)
    expect(table.nth(0)).to_contain_text("export")
    expect(table.nth(2)).to_contain_text("view")
    expect(table.nth(2)).to_contain_text(supervisor.username)
    expect(table.nth(2).get_by_role("link", name=f"Thread {wanted}")).to_be_visible()
    screenshot(page, "supervisor-access-desktop")

    # The same pages on a phone.
    page.set_viewport_size(PHONE)
    page.goto(f"/supervisor/transcripts/?words=pessary&status=resolved&coach={kelly.pk}")
    expect(page.get_by_role("link", name=f"Thread {wanted}")).to_be_visible()
    screenshot(page, "supervisor-search-phone")
    page.goto(f"/supervisor/transcripts/{wanted}/")
    expect(page.get_by_text("my physio mentioned a pessary")).to_be_visible()
    screenshot(page, "supervisor-transcript-phone")
    page.goto("/supervisor/access/")
    expect(page.locator("table tbody tr")).to_have_count(4)
    screenshot(page, "supervisor-access-phone")
    assert TranscriptAccess.objects.filter(action="view").count() == 2
    assert page.errors == []


def test_the_floor_shows_the_queue_and_red_flags_live_and_acts_on_a_thread(new_page, daphne_server):
    dana = make_member("Dana")
    make_coach("Kelly", status="away", capacity=2)
    make_coach("Maria")
    supervisor = make_supervisor("Sophie")

    page = new_page(DESKTOP)
    log_in(page, supervisor.username, PASSWORD)
    expect(page).to_have_url(f"{daphne_server.url}/supervisor/")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("#queue-empty")).to_be_visible()
    coaches = page.locator("#coach-rows tr")
    expect(coaches).to_have_count(2)
    expect(coaches.nth(0)).to_contain_text("Kelly")
    expect(coaches.nth(0)).to_contain_text("away")
    expect(coaches.nth(0)).to_contain_text("0 / 2")

    # A member writes: her thread enters the queue, and the floor shows it.
    thread_id = run(member_writes(daphne_server.url, dana.username, "I leak when I sneeze"))
    queued = page.locator(f'#queue-list li[data-thread="{thread_id}"]')
    expect(queued).to_contain_text("Dana")
    expect(queued).to_contain_text("leaking")
    expect(queued).to_contain_text("normal")
    expect(page.locator("#queue-total")).to_have_text("1")
    expect(page.locator('[data-priority="normal"] .sv-depth')).to_have_text("1")
    expect(page.locator('[data-priority="normal"] .sv-oldest')).to_contain_text("oldest")
    # Her words are not on the floor: reading them is a recorded read.
    expect(page.get_by_text("sneeze")).to_have_count(0)
    screenshot(page, "supervisor-floor-desktop")

    # A red flag: an alert arrives and the thread jumps to urgent.
    run(member_writes(daphne_server.url, dana.username, "now heavy bleeding and dizzy"))
    alert = page.locator(f'#alert-list li[data-thread="{thread_id}"]')
    expect(alert).to_contain_text("Dana")
    expect(alert).to_contain_text("heavy bleeding")
    expect(page.locator('[data-priority="urgent"] .sv-depth')).to_have_text("1")
    expect(queued).to_contain_text("urgent")
    expect(queued).to_contain_text("red-flag")

    # Watch it from the alert: the messages so far, then new ones as they arrive.
    alert.get_by_role("button", name="Watch").click()
    watch = page.locator("#watch")
    expect(watch).to_be_visible()
    messages = page.locator("#watch-messages")
    expect(messages).to_contain_text("now heavy bleeding and dizzy")
    expect(messages.locator(".sv-safety")).to_contain_text("medical care now")
    run(member_writes(daphne_server.url, dana.username, "are you there?"))
    expect(messages.locator("li").last).to_contain_text("are you there?")
    assert accesses(supervisor) == [(thread_id, "watch")]
    screenshot(page, "supervisor-floor-watch-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "supervisor-floor-phone")
    page.set_viewport_size(DESKTOP)

    # Tag it, transfer it to a coach over her status "away", then resolve it.
    page.locator("#tag-add").select_option("prolapse")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#action-status")).to_have_text("Tag prolapse added.")
    expect(page.locator("#watch-tags")).to_contain_text("prolapse")
    assert ThreadTag.objects.filter(thread_id=thread_id, tag__slug="prolapse").exists()
    page.get_by_role("button", name="Remove tag leaking").click()
    expect(page.locator("#action-status")).to_have_text("Tag leaking removed.")
    expect(page.locator("#watch-tags")).not_to_contain_text("leaking")

    page.locator("#transfer-to").select_option(label="Kelly (away, 0/2)")
    page.locator("#transfer-note").fill("Red flag: please check in now")
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator("#action-status")).to_have_text("Transferred to Kelly.")
    expect(page.locator("#watch-meta")).to_contain_text("coach: Kelly")
    expect(page.locator("#watch-handoff")).to_contain_text("please check in now")
    expect(page.locator("#queue-empty")).to_be_visible()
    flagged = page.locator(f'#flagged-list li[data-thread="{thread_id}"]')
    expect(flagged).to_contain_text("with Kelly")
    expect(flagged).to_contain_text("urgent")
    expect(coaches.nth(0)).to_contain_text("2 / 2")
    thread = Thread.objects.get(pk=thread_id)
    assert (thread.status, thread.coach.first_name) == (ThreadStatus.ACTIVE, "Kelly")

    page.get_by_role("button", name="Resolve…").click()
    page.get_by_role("button", name="Yes, resolve").click()
    expect(page.locator("#action-status")).to_have_text("Resolved.")
    expect(page.locator("#watch-meta")).to_contain_text("resolved")
    expect(page.locator("#flagged-empty")).to_be_visible()
    assert Thread.objects.get(pk=thread_id).status == ThreadStatus.RESOLVED

    page.get_by_role("button", name="Stop watching").click()
    expect(watch).to_be_hidden()
    assert accesses(supervisor) == [(thread_id, "watch")]

    # Any thread can be watched from a link (the transcript pages have one); a resolved
    # thread is read only.
    page.goto(f"/supervisor/?watch={thread_id}")
    expect(messages).to_contain_text("are you there?")
    expect(page.locator("#watch-meta")).to_contain_text("resolved")
    expect(page.locator("#transfer-to")).to_be_disabled()
    expect(page.get_by_role("button", name="Resolve…")).to_be_disabled()
    assert accesses(supervisor) == [(thread_id, "watch"), (thread_id, "watch")]
    assert page.errors == []

"""Cross-site scripting in a real browser: every payload in tests/support/xss.py, posted
through the socket by the member and her coach, shown in the member's portal, the
coach's console, the supervisor's live floor and the transcript page, and none runs.
Nor does markup in the other text people write that the console and the floor show:
a member's display name, the queue's preview of her message, a handoff note and the
reason in a red-flag alert.

The pages are opened with the Content-Security-Policy bypassed: the policy (no inline
script) is a second wall, and this test is about the first one, rendering. A payload
that ran would set `window.__xss` or open an `alert` dialog.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from routing.models import Tag, TriageRule
from tests.e2e.browser.conftest import DESKTOP, log_in
from tests.support.factories import (
    PASSWORD,
    make_coach,
    make_member,
    make_supervisor,
    make_thread,
)
from tests.support.live_client import login
from tests.support.xss import PAYLOADS, RUN

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACTIVE = "img,script,svg,iframe,object,embed,style,math,form,input,base,meta,link,template"


def open_page(browser, base_url: str, user, path: str):
    context = browser.new_context(base_url=base_url, bypass_csp=True, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.dialogs = []

    def dismiss(dialog) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    log_in(page, user.username, PASSWORD)
    page.goto(path)
    return page


def connect_as(base_url: str, user):
    return connect(
        base_url.replace("http://", "ws://") + "/ws/chat/",
        origin=base_url,
        additional_headers={"Cookie": f"sessionid={login(base_url, user.username, PASSWORD)}"},
        open_timeout=10,
    )


def post_all(base_url: str, senders: list, thread_id: int) -> None:
    """Every payload, through the socket, from each sender in turn; waits for each ack."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(connect_as(base_url, user)) for user in senders]
        for n, text in enumerate(PAYLOADS):
            socket = sockets[n % len(sockets)]
            frame = {
                "type": "message.send",
                "thread": thread_id,
                "client_id": f"x{n}",
                "body": text,
            }
            socket.send(json.dumps(frame))
            while True:
                reply = json.loads(socket.recv(timeout=10))
                if reply["type"] == "message.ack" and reply["client_id"] == f"x{n}":
                    break
                assert reply["type"] != "error", reply


def assert_inert(page, bodies: str) -> None:
    """The bodies read as typed; nothing in them is active; nothing ran."""
    expected = [text.strip() for text in PAYLOADS]
    expect(page.locator(bodies)).to_have_text(expected, use_inner_text=False)
    assert page.locator(f":is({bodies}) :is({ACTIVE})").count() == 0
    handlers, schemes = page.evaluate(
        """(selector) => {
            const nodes = [...document.querySelectorAll(selector)].flatMap(
                (body) => [...body.querySelectorAll("*")]);
            return [
                nodes.flatMap((n) => [...n.attributes].map((a) => a.name))
                     .filter((name) => name.startsWith("on")),
                [...new Set(nodes.filter((n) => n.tagName === "A").map((a) => a.protocol))],
            ];
        }""",
        bodies,
    )
    assert handlers == []
    assert set(schemes) <= {"http:", "https:", "mailto:"}
    # Hover and click every link in the bodies: a handler or script URL would run now.
    for link in page.locator(f":is({bodies}) a").all():
        link.hover()
        link.click(modifiers=["Alt"], no_wait_after=True)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []


def test_no_payload_runs_in_the_portal_console_floor_or_transcript(browser, daphne_factory):
    base = daphne_factory(CHAT_RATE_PER_10S="1000").url  # ~70 frames in a few seconds
    member, coach = make_member("Dana"), make_coach("Kelly", status="online")
    supervisor = make_supervisor("Sophie")
    thread = make_thread(member, coach=coach)

    portal = open_page(browser, base, member, "/portal/")
    expect(portal.get_by_label("Message your coach")).to_be_enabled()
    console = open_page(browser, base, coach, "/console/")
    console.locator("#mine .thread-item").filter(has_text="Dana").click()
    expect(console.locator("#thread-title")).to_have_text("Dana")
    floor = open_page(browser, base, supervisor, f"/supervisor/?watch={thread.pk}")
    expect(floor.locator("#connection")).to_have_text("Live")

    post_all(base, [member, coach], thread.pk)

    assert_inert(portal, "#messages .msg:not(.msg--system) .msg__body")
    assert_inert(console, "#messages .msg:not(.msg--system) .msg__body")
    assert_inert(floor, "#watch-messages .sv-msg:not(.sv-msg-system) .sv-body")
    transcript = open_page(browser, base, supervisor, f"/supervisor/transcripts/{thread.pk}/")
    assert_inert(transcript, ".sv-timeline .sv-msg:not(.sv-msg-system) .sv-body")
    for page in (portal, console, floor, transcript):
        page.context.close()


# Each in one field only, so a failure names the render that let it through.
NAME = f"<img src=x onerror={RUN}>Dana"
PREVIEW = f'<svg/onload={RUN}><img src=x onerror="{RUN}"> is this normal?'
NOTE = f"<img src=x onerror={RUN}><b onmouseover={RUN}>Wants a plan</b>"
REASON = f"<img src=x onerror={RUN}>heavy bleeding"


def ask(socket, frame: dict, reply: str) -> dict:
    """Send a frame and wait for its reply."""
    socket.send(json.dumps({**frame, "ref": frame["type"]}))
    while True:
        answer = json.loads(socket.recv(timeout=10))
        if answer.get("ref") == frame["type"]:
            assert answer["type"] == reply, answer
            return answer


def assert_nothing_injected(*pages) -> None:
    """No element on the pages came from a payload, and nothing ran.

    Checked as soon as each text is on screen: some of it (the queue item) is gone
    by the end of the test, and a payload element with it.
    """
    for page in pages:
        assert page.locator("[onerror], [onload], [onmouseover]").count() == 0
        assert page.evaluate("window.__xss") is None
        assert page.dialogs == []


def test_names_previews_notes_and_alerts_show_as_text_in_the_console_and_floor(
    browser, daphne_factory
):
    # A rule's note is what staff read as the reason in a red-flag alert.
    TriageRule.objects.create(
        tag=Tag.objects.get(slug="red-flag"), phrase="xssflag", negatable=False, note=REASON
    )
    member, coach = make_member("Dana"), make_coach("Kelly", status="away")
    member.member_profile.display_name = NAME
    member.member_profile.save()
    supervisor = make_supervisor("Sophie")
    base = daphne_factory().url
    console = open_page(browser, base, coach, "/console/")
    floor = open_page(browser, base, supervisor, "/supervisor/")
    expect(floor.locator("#connection")).to_have_text("Live")

    with connect_as(base, member) as member_socket, connect_as(base, supervisor) as desk:
        thread_id = ask(member_socket, {"type": "thread.open"}, "thread")["thread"]["id"]
        message = {"type": "message.send", "thread": thread_id, "client_id": "p", "body": PREVIEW}
        ask(member_socket, message, "message.ack")

        # The queue: her name and the start of her message in the console, her name on
        # the floor.
        item = console.locator("#queue .queue-item")
        queued = floor.locator(f'#queue-list li[data-thread="{thread_id}"] .sv-who')
        expect(item.locator(".queue-item__preview")).to_contain_text("is this normal?")
        expect(queued).to_contain_text("Dana")
        assert_nothing_injected(console, floor)
        expect(item.locator(".queue-item__preview")).to_have_text(PREVIEW)
        expect(item.locator(".queue-item__head strong")).to_have_text(NAME)
        expect(queued).to_have_text(NAME)

        # A supervisor hands the thread to the coach with a note.
        transfer = {"type": "thread.transfer", "thread": thread_id, "to_coach": coach.pk}
        ask(desk, {**transfer, "note": NOTE}, "thread")
        console.locator("#mine .thread-item").filter(has_text="Dana").click()
        expect(console.locator("#handoff-text")).to_contain_text("Wants a plan")
        assert_nothing_injected(console)
        expect(console.locator("#thread-title")).to_have_text(NAME)
        expect(console.locator("#handoff-text")).to_have_text(NOTE)

        message = {"type": "message.send", "thread": thread_id, "client_id": "r", "body": "xssflag"}
        ask(member_socket, message, "message.ack")

    # The red-flag alert, in the console and on the floor.
    alert = console.locator(".alert--red-flag")
    floor_alert = floor.locator(f'#alert-list li[data-thread="{thread_id}"]')
    expect(alert.locator(".alert__reason")).to_contain_text("heavy bleeding")
    expect(floor_alert).to_contain_text("heavy bleeding")
    assert_nothing_injected(console, floor)
    expect(alert.locator(".alert__text")).to_contain_text(f"Red flag in {NAME}'s thread")
    expect(alert.locator(".alert__reason")).to_have_text(f"Triage matched: {REASON}")
    expect(floor_alert.locator("strong")).to_have_text(NAME)
    expect(floor_alert).to_contain_text(f"(thread {thread_id}): {REASON}")

    # Watching it on the floor shows the note too.
    floor_alert.get_by_role("button", name="Watch").click()
    expect(floor.locator("#watch-handoff")).to_contain_text("Wants a plan")
    assert_nothing_injected(floor)
    expect(floor.locator("#watch-meta strong")).to_have_text(NAME)
    expect(floor.locator("#watch-handoff")).to_have_text(f"Handoff note: {NOTE}")

    for page in (console, floor):
        page.context.close()

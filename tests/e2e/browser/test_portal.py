"""The member portal in a real browser: dropped networks, the keyboard, the queue."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Message, Thread, ThreadStatus
from tests.e2e.browser.conftest import DESKTOP, PHONE, log_in, screenshot
from tests.support.factories import PASSWORD, make_coach, make_member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_portal(new_page, member, viewport=PHONE):
    page = new_page(viewport)
    log_in(page, member.username, PASSWORD)
    assert page.url.endswith("/portal/")
    expect(page.get_by_label("Message your coach")).to_be_enabled()
    return page


def send(page, composer_label: str, text: str) -> None:
    composer = page.get_by_label(composer_label, exact=True)
    composer.fill(text)
    composer.press("Enter")


def test_a_dropped_network_loses_nothing_and_shows_nothing_twice(new_page):
    coach = make_coach("Sam")
    member = make_member("Dana")
    console = new_page(DESKTOP)
    log_in(console, coach.username, PASSWORD)
    console.get_by_label("Online", exact=True).check()
    expect(console.locator("#presence-note")).to_have_text(re.compile("^Online"))
    portal = open_portal(new_page, member)
    send(portal, "Message your coach", "Is it normal to feel heaviness after a long walk?")
    console.locator("#mine .thread-item").filter(has_text="Dana").click()
    expect(console.locator("#messages .msg--peer")).to_have_count(1)

    portal.context.set_offline(True)
    connection = portal.locator("#connection")
    expect(connection).to_be_visible()
    expect(connection).to_contain_text("Reconnecting")

    for text in ("First, while you were away.", "Second, while you were away."):
        send(console, "Reply", text)
        expect(
            console.locator("#messages .msg--own").filter(has_text=text).locator(".msg__status")
        ).to_have_text("Sent")
    send(portal, "Message your coach", "Written while offline.")
    expect(
        portal.locator(".msg--pending").filter(has_text="Written while offline.")
    ).to_contain_text("Sending…")

    portal.context.set_offline(False)
    expect(connection).to_be_hidden()
    expect(portal.locator(".msg--pending")).to_have_count(0)
    expect(
        console.locator("#messages .msg--peer").filter(has_text="Written while offline.")
    ).to_have_count(1)
    bodies = portal.locator("#messages .msg:not(.msg--system) .msg__body")
    expect(bodies).to_have_text(
        [
            "Is it normal to feel heaviness after a long walk?",
            "First, while you were away.",
            "Second, while you were away.",
            "Written while offline.",
        ]
    )
    seqs = [
        int(seq)
        for seq in portal.locator("#messages .msg").evaluate_all(
            "items => items.map(item => item.dataset.seq)"
        )
    ]
    assert seqs == sorted(set(seqs)), "every message once, in seq order"
    screenshot(portal, "portal-phone-after-reconnect")

    assert portal.errors == []
    assert console.errors == []


def test_the_member_can_write_with_the_keyboard_alone(new_page):
    member = make_member("Priya")
    page = open_portal(new_page, member, DESKTOP)
    expect(page.locator("#thread-status")).to_contain_text("Write your question below")

    page.locator("body").focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "composer-text":
            break
    else:
        pytest.fail("Tab never reached the composer")

    page.keyboard.type("Is it safe to start running?")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("I'm 14 weeks postpartum.")
    page.keyboard.press("Enter")

    own = page.locator(".msg--own")
    expect(own).to_have_count(1)
    expect(own.locator(".msg__body")).to_have_text(
        "Is it safe to start running?\nI'm 14 weeks postpartum."
    )
    expect(own.locator(".msg__status")).to_have_text("Sent")
    expect(page.get_by_label("Message your coach")).to_be_focused()
    expect(page.get_by_label("Message your coach")).to_have_value("")
    # No coach is online: she is told so in words.
    expect(page.locator("#thread-status")).to_have_text(
        "No coach is online right now. Your message is saved and a coach will reply here "
        "as soon as one is online."
    )
    screenshot(page, "portal-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "portal-phone-queued")

    assert page.errors == []


def test_the_member_scrolls_back_through_her_history_page_by_page(new_page):
    member = make_member("Dana")
    coach = make_coach("Kelly")
    thread = Thread.objects.create(
        member=member, coach=coach, status=ThreadStatus.ACTIVE, last_seq=120, version=2
    )
    start = timezone.now() - datetime.timedelta(hours=2)
    Message.objects.bulk_create(
        Message(
            thread=thread,
            seq=n,
            sender=member if n % 2 else coach,
            client_id=f"seed-{n}",
            text=f"Message number {n}",
            body=f"Message number {n}",
            created_at=start + datetime.timedelta(seconds=n),
        )
        for n in range(1, 121)
    )
    page = open_portal(new_page, member)
    expect(page.locator("#coach-line")).to_have_text("Your coach: Kelly")
    expect(page.locator("#messages .msg").last).to_contain_text("Message number 120")

    # Scrolling to the top fetches older pages (thread.history) until the first message.
    messages = page.locator("#messages .msg")
    expect(messages).to_have_count(50)
    for _ in range(5):
        if page.locator("#older").is_hidden():
            break
        before = messages.count()
        page.locator("#log").evaluate("node => { node.scrollTop = 0; }")
        expect(messages).not_to_have_count(before)
    expect(page.locator("#older")).to_be_hidden()
    expect(messages).to_have_count(120)
    seqs = messages.evaluate_all("items => items.map(item => Number(item.dataset.seq))")
    assert seqs == list(range(1, 121))
    assert page.errors == []


def test_a_message_whose_ack_was_lost_is_sent_again_and_stored_once(new_page):
    member = make_member("Dana")
    page = new_page(PHONE)
    sent_ids: list[list[str]] = []  # client_ids of message.send frames, per connection
    lost_acks: list[str] = []

    def relay(ws) -> None:
        """Pass frames through; the first ack is lost with its connection."""
        server = ws.connect_to_server()
        sent_ids.append([])
        mine = sent_ids[-1]

        def from_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") == "message.send":
                mine.append(frame["client_id"])
            server.send(message)

        def from_server(message) -> None:
            if not lost_acks and json.loads(message).get("type") == "message.ack":
                lost_acks.append(message)
                ws.close()
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    log_in(page, member.username, PASSWORD)
    composer = page.get_by_label("Message your coach")
    expect(composer).to_be_enabled()
    send(page, "Message your coach", "Does this count as leaking?")

    own = page.locator(".msg--own")
    expect(own).to_have_count(1)
    expect(own.locator(".msg__status")).to_have_text("Sent")
    expect(page.locator(".msg--pending")).to_have_count(0)
    assert len(lost_acks) == 1
    assert len(sent_ids) == 2, "it reconnected once"
    assert sent_ids[0] == sent_ids[1], "the retry used the same client_id"
    assert Message.objects.filter(text="Does this count as leaking?").count() == 1
    assert page.errors == []


# socket.js on its own, in the browser, against a scripted socket: gaps, duplicates,
# stale thread versions, and a send whose ack never comes.
SOCKET_SCENARIO = """
async () => {
  const { ChatClient } = await import("/static/js/socket.js");
  const sent = [];
  class ScriptedSocket extends EventTarget {
    static OPEN = 1;
    constructor() { super(); this.readyState = 1; ScriptedSocket.all.push(this); }
    send(text) { sent.push(JSON.parse(text)); }
    close() { this.readyState = 3; }
    serve(frame) {
      this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(frame) }));
    }
  }
  ScriptedSocket.all = [];
  window.WebSocket = ScriptedSocket;
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const last = (type) => sent.filter((frame) => frame.type === type).at(-1);
  const T = (version, lastSeq) => ({ id: 7, version, status: "active", last_seq: lastSeq });
  const M = (seq, extra = {}) => ({
    id: 100 + seq, thread: 7, seq, client_id: null, kind: "text", text: `m${seq}`,
    body: `m${seq}`, created_at: "2026-01-01T00:00:00.000Z",
    sender: { id: 2, role: "coach", name: "Kelly" }, ...extra,
  });

  const client = new ChatClient({
    storage: null, ackTimeout: 300, backoff: { base: 20, max: 40 },
  });
  const states = [];
  client.on("state", ({ state }) => states.push(state));
  client.connect();
  let ws = ScriptedSocket.all.at(-1);
  ws.serve({ type: "hello", protocol: 1, user: { id: 1, role: "member", name: "Dana" },
             threads: [{ ...T(3, 2), read_seq: 2 }] });
  const loading = client.load(7);
  ws.serve({ type: "thread.messages", ref: last("thread.history").ref, thread: 7,
             messages: [M(1), M(2)], has_more: false });
  await loading;

  ws.serve({ type: "message.new", thread: 7, message: M(2) });  // a duplicate
  ws.serve({ type: "message.new", thread: 7, message: M(5) });  // 3 and 4 are missing
  const gapSync = last("thread.sync");
  ws.serve({ type: "thread.messages", ref: gapSync.ref, thread: 7,
             messages: [M(3), M(4), M(5)], has_more: false });
  await wait(0);
  ws.serve({ type: "thread", thread: T(2, 5) });  // an older version: ignored
  ws.serve({ type: "thread", thread: T(4, 6) });  // newer, and ahead of what is held
  const aheadSync = last("thread.sync");
  ws.serve({ type: "thread.messages", ref: aheadSync.ref, thread: 7,
             messages: [M(6)], has_more: false });
  await wait(0);

  const entry = client.sendMessage(7, "hello");
  const firstSend = last("message.send");
  await wait(450);  // no ack: the socket is taken for dead and opened again
  ws = ScriptedSocket.all.at(-1);
  ws.serve({ type: "hello", protocol: 1, user: { id: 1, role: "member", name: "Dana" },
             threads: [{ ...T(4, 6), read_seq: 6 }] });
  const resend = last("message.send");
  ws.serve({ type: "message.ack", ref: resend.ref, thread: 7, client_id: resend.client_id,
             id: 200, seq: 7, created_at: "2026-01-01T00:00:01.000Z" });
  const afterAck = entry.state;
  ws.serve({ type: "message.new", thread: 7,
             message: M(7, { client_id: resend.client_id, sender: { id: 1, role: "member" } }) });
  await wait(0);
  return {
    seqs: client.thread(7).messages.map((m) => m.seq),
    version: client.thread(7).t.version,
    syncs: [gapSync.after_seq, aheadSync.after_seq],
    sends: [firstSend.client_id, resend.client_id],
    sockets: ScriptedSocket.all.length,
    afterAck,
    final: entry.state,
    outbox: client.outbox(7).length,
    reconnecting: states.includes("reconnecting"),
  };
}
"""


def test_the_socket_client_fills_gaps_drops_duplicates_and_resends_unacked(new_page):
    page = new_page(PHONE)
    page.goto("/accounts/login/")
    result = page.evaluate(SOCKET_SCENARIO)
    assert result["seqs"] == [1, 2, 3, 4, 5, 6, 7]
    assert result["version"] == 4
    assert result["syncs"] == [2, 5], "thread.sync from the last seq held"
    assert result["sends"][0] == result["sends"][1], "the resend kept its client_id"
    assert result["sockets"] == 2
    assert result["afterAck"] == "sent"
    assert result["final"] == "done"
    assert result["outbox"] == 0
    assert result["reconnecting"]
    assert page.errors == []


def test_a_member_back_after_a_resolved_conversation_sees_it_and_writing_reopens_it(new_page):
    member, coach = make_member("Dana"), make_coach("Kelly", status="online")
    thread = Thread.objects.create(
        member=member,
        coach=coach,
        status=ThreadStatus.RESOLVED,
        last_seq=2,
        version=5,
        resolved_at=timezone.now(),
        enqueued_at=timezone.now(),
    )
    Message.objects.bulk_create(
        Message(thread=thread, seq=n, sender=sender, client_id=f"s{n}", text=text, body=text)
        for n, sender, text in (
            (1, member, "Is running ok at 12 weeks?"),
            (2, coach, "Start with walk-run intervals."),
        )
    )
    page = open_portal(new_page, member)
    expect(page.locator("#messages .msg").last).to_contain_text("Start with walk-run intervals.")
    send(page, "Message your coach", "Tried it, a little leaking on day 3")
    expect(page.locator("#messages .msg").last).to_contain_text("a little leaking")
    page.wait_for_function(
        "() => !document.body.innerText.includes('This conversation is resolved')"
    )
    reopened = Thread.objects.get(pk=thread.pk)
    assert reopened.status != ThreadStatus.RESOLVED
    assert Thread.objects.filter(member=member).count() == 1
    assert page.errors == []

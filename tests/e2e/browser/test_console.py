"""The coach console with a member on the portal, both in real browsers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from coaches.models import CannedReply, CoachStatus
from tests.e2e.browser.conftest import DESKTOP, PHONE, log_in, screenshot
from tests.support.factories import PASSWORD, make_coach, make_member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_console(new_page, coach, viewport=DESKTOP):
    page = new_page(viewport)
    log_in(page, coach.username, PASSWORD)
    assert page.url.endswith("/console/")
    return page


def go_online(page) -> None:
    page.get_by_label("Online", exact=True).check()
    expect(page.locator("#presence-note")).to_have_text(re.compile("^Online"))


def open_portal(new_page, member, viewport=PHONE):
    page = new_page(viewport)
    log_in(page, member.username, PASSWORD)
    assert page.url.endswith("/portal/")
    expect(page.get_by_label("Message your coach")).to_be_enabled()
    return page


def member_sends(page, text: str) -> None:
    composer = page.get_by_label("Message your coach")
    composer.fill(text)
    composer.press("Enter")
    expect(page.locator(".msg--own").filter(has_text=text)).to_have_count(1)


def open_thread(page, member_name: str) -> None:
    page.locator("#mine .thread-item").filter(has_text=member_name).click()
    expect(page.locator("#thread-title")).to_have_text(member_name)


def test_member_and_coach_hold_a_conversation_through_assignment(new_page):
    coach = make_coach("Kelly", specialties=("leaking",))
    member = make_member("Dana", weeks=16)
    console = open_console(new_page, coach)
    go_online(console)
    portal = open_portal(new_page, member)

    member_sends(portal, "I leak when I run, 4 months postpartum")
    expect(portal.locator(".msg--own .msg__status").last).to_have_text(re.compile("Sent|Read"))

    # The thread is assigned to Kelly: both sides know it.
    expect(console.locator(".alert--assigned")).to_contain_text("New thread assigned: Dana")
    expect(portal.locator("#coach-line")).to_have_text("Your coach: Kelly")
    open_thread(console, "Dana")
    expect(console.locator(".alert--assigned")).to_have_count(0)
    expect(console.locator("#messages .msg--peer")).to_contain_text(
        "I leak when I run, 4 months postpartum"
    )
    expect(console.locator("#context")).to_contain_text("16")
    expect(console.locator("#tags")).to_contain_text("Bladder leaking")
    # Kelly has the thread open: Dana's message shows it was read.
    expect(portal.locator(".msg--own .msg__status").last).to_have_text("Read")

    # Typing shows on the other side, both ways.
    reply = console.get_by_label("Reply", exact=True)
    reply.press_sequentially("Hi Dana")
    expect(portal.locator("#typing")).to_have_text("Kelly is typing…")
    reply.fill("Hi Dana, Kelly here. Does it happen with walking too, or only running?")
    reply.press("Enter")
    expect(portal.locator(".msg--peer").filter(has_text="Kelly here")).to_have_count(1)
    expect(portal.locator("#typing")).to_be_hidden()

    portal.get_by_label("Message your coach").press_sequentially("Only")
    expect(console.locator("#typing")).to_have_text("Dana is typing…")
    member_sends(portal, "Only running, walking is fine")
    expect(console.locator("#messages .msg--peer").filter(has_text="Only running")).to_have_count(1)
    expect(console.locator("#messages .msg--own .msg__status").last).to_have_text("Read")
    screenshot(portal, "portal-phone")
    screenshot(console, "console-desktop")

    # Resolve, with its confirm step.
    console.get_by_role("button", name="Resolve…").click()
    console.get_by_role("dialog").get_by_role("button", name="Resolve", exact=True).click()
    expect(console.locator(".alert--notice")).to_contain_text("Dana's thread is resolved.")
    expect(console.locator("#mine .thread-item")).to_have_count(0)
    expect(portal.locator("#thread-status")).to_contain_text("This conversation is resolved")
    expect(portal.locator(".msg--system").last).to_contain_text("marked resolved")

    assert console.errors == []
    assert portal.errors == []


def test_a_red_flag_shows_the_member_the_safety_notice_and_alerts_the_coach(new_page):
    coach = make_coach("Maria")
    member = make_member("Priya", weeks=2)
    console = open_console(new_page, coach)
    go_online(console)
    portal = open_portal(new_page, member)
    member_sends(portal, "Hello, I had my baby two weeks ago")
    expect(console.locator("#mine .thread-item")).to_have_count(1)
    open_thread(console, "Priya")

    member_sends(portal, "I'm soaking a pad every hour and passing big clots")

    # The notice, in the server's words, is an alert that stands out in her thread.
    notice = portal.get_by_role("alert").filter(has_text="Please read this now")
    expect(notice).to_be_in_viewport()
    expect(notice).to_contain_text("call your midwife, doctor or maternity unit right away")
    expect(notice).to_have_class(re.compile("msg--safety"))
    expect(portal.locator(".msg--safety")).to_have_count(1)
    alert = console.locator(".alert--red-flag")
    expect(alert).to_contain_text("Red flag in Priya's thread")
    expect(alert).to_have_attribute("role", "alert")
    expect(console.locator("#mine .badge--urgent")).to_have_text("Red flag")
    expect(console.locator("#tags")).to_contain_text("Red flag")
    screenshot(portal, "portal-phone-safety")
    # Scrolled away from the notice, a banner recalls it.
    portal.set_viewport_size({"width": 390, "height": 520})
    portal.locator("#log").evaluate("node => { node.scrollTop = 0; }")
    banner = portal.locator("#safety")
    expect(banner).to_contain_text("You have a safety notice")
    screenshot(portal, "portal-phone-safety-recall")
    banner.get_by_role("button", name="Read it").click()
    expect(notice).to_be_focused()
    expect(banner).to_be_hidden()
    screenshot(console, "console-desktop-red-flag")
    console.set_viewport_size(PHONE)
    screenshot(console, "console-phone")

    assert console.errors == []
    assert portal.errors == []


def test_a_coach_claims_tags_uses_a_canned_reply_and_transfers_with_a_note(new_page):
    CannedReply.objects.create(
        title="Welcome", body="Thanks for writing in. I'm here to help.", sort_order=1
    )
    kelly = make_coach("Kelly", capacity=2)
    maria = make_coach("Maria", status=CoachStatus.ONLINE)
    make_coach("Sam")  # offline: not a transfer target
    member = make_member("Priya")
    console = open_console(new_page, kelly)
    console.get_by_label("Away", exact=True).check()
    expect(console.locator("#presence-note")).to_have_text(re.compile("^Away"))
    portal = open_portal(new_page, member)
    member_sends(portal, "Can I go back to running? I'm 10 weeks postpartum")

    # Away: nothing is assigned to her, but she may claim from the queue.
    item = console.locator("#queue .queue-item").filter(has_text="Priya")
    expect(item).to_contain_text("Can I go back to running?")
    expect(item).to_contain_text("Return to running")
    expect(item.locator(".badge")).to_have_text("Normal")
    waited = item.locator(".wait").inner_text()
    expect(item.locator(".wait")).not_to_have_text(waited)  # the wait ticks
    item.get_by_role("button", name="Claim Priya's thread").click()
    expect(console.locator("#thread-title")).to_have_text("Priya")
    expect(console.locator("#queue .queue-item")).to_have_count(0)
    expect(portal.locator("#coach-line")).to_have_text("Your coach: Kelly")

    # Tags: add one from the catalogue, remove one.
    console.get_by_label("Tag to add").select_option(label="Prolapse symptoms")
    console.get_by_role("button", name="Add tag").click()
    expect(console.locator("#tags")).to_contain_text("Prolapse symptoms")
    expect(console.locator("#thread-badges")).to_contain_text("High")
    console.get_by_role("button", name="Remove tag Return to running").click()
    expect(console.locator("#tags")).not_to_contain_text("Return to running")

    # A canned reply goes into the composer, is edited there, then sent.
    console.get_by_label("Insert a canned reply").select_option(label="Welcome")
    reply = console.get_by_label("Reply", exact=True)
    expect(reply).to_have_value("Thanks for writing in. I'm here to help.")
    reply.press("End")
    reply.press_sequentially(" Which distance?")
    reply.press("Enter")
    expect(portal.locator(".msg--peer")).to_have_text(
        re.compile("Thanks for writing in. I'm here to help. Which distance?")
    )

    # Transfer to Maria (online); Sam is offline and cannot be chosen.
    maria_console = open_console(new_page, maria)
    console.get_by_role("button", name="Transfer…").click()
    dialog = console.get_by_role("dialog")
    expect(dialog.get_by_label(re.compile("^ Sam"))).to_be_disabled()
    dialog.get_by_label(re.compile("^ Maria")).check()
    dialog.get_by_label("Handoff note (optional)").fill("Wants a return-to-running plan.")
    dialog.get_by_role("button", name="Transfer", exact=True).click()
    expect(console.locator(".alert--notice")).to_contain_text("Priya's thread is now with Maria.")
    expect(console.locator("#mine .thread-item")).to_have_count(0)
    expect(console.locator("#thread-empty")).to_be_visible()

    expect(maria_console.locator(".alert--assigned")).to_contain_text("New thread assigned: Priya")
    open_thread(maria_console, "Priya")
    expect(maria_console.locator("#handoff")).to_contain_text("Wants a return-to-running plan.")
    expect(maria_console.locator("#messages")).to_contain_text("Which distance?")
    expect(portal.locator("#coach-line")).to_have_text("Your coach: Maria")
    screenshot(maria_console, "console-desktop-handoff")
    maria_console.set_viewport_size({"width": 900, "height": 1100})
    screenshot(maria_console, "console-tablet")

    assert console.errors == []
    assert maria_console.errors == []
    assert portal.errors == []

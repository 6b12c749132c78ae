"""Triage of a member's message, inside the transaction that stores it.

Rules only add tags, never remove one, and never re-add a tag a person removed
from this thread, except a red flag (a tag the catalogue marks so): a new message
with a warning sign is new evidence, whatever was judged of an earlier one. A red
flag makes the thread urgent, posts the safety notice to the member at once
(whether or not a coach is online), alerts supervisors and the assigned coach,
and is recorded for review. A red flag belongs to its episode: a resolved thread
that reopens starts without the rules' red flags (:func:`red_flag_clear`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from chat.actions.notify import system_message_post, thread_frames
from chat.events import SUPERVISORS_GROUP, frame_event, send_on_commit, user_group
from chat.frames import dumps
from chat.models import (
    SystemEvent,
    TagSource,
    Thread,
    ThreadEvent,
    ThreadEventKind,
    ThreadTag,
)
from routing.actions.tags import priority_apply
from routing.models import Tag
from routing.triage import red_flag_slugs, triage_text

# A member in trouble often writes several messages in a row: one notice is
# enough for a while, but every red-flag message alerts the staff again.
SAFETY_NOTICE_INTERVAL = datetime.timedelta(minutes=10)


def safety_notice_text(*, coach_assigned: bool) -> str:
    number = settings.CHAT_EMERGENCY_NUMBER
    alerted = (
        "your coach and a supervisor have been alerted and will check in with you here."
        if coach_assigned
        else "a supervisor has been alerted, and your thread goes to the front of the "
        "queue for the next free coach."
    )
    return (
        "What you describe can be a sign that needs medical care now. Please call your "
        "midwife, doctor or maternity unit right away. If it is an emergency, or you feel "
        f"you might harm yourself or your baby, call {number} now. Our coaches are not "
        f"clinicians, but {alerted}"
    )


@dataclass(frozen=True, slots=True)
class TriageOutcome:
    changed: bool
    red_flag_reason: str | None = None


def triage_message(thread: Thread, *, text: str) -> TriageOutcome:
    """Tag a locked thread from a member's message, and post the safety notice on a red flag.

    The caller saves the thread, then calls :func:`red_flag_alert` if the outcome
    has a red_flag_reason, so the alert names the thread as it was saved.
    """
    result = triage_text(text)
    if not result.tags:
        return TriageOutcome(changed=False)
    present = set(thread.thread_tags.values_list("tag__slug", flat=True))
    red_flags = red_flag_slugs()
    new = result.tags - present
    if new:
        removed_by_people = set(
            ThreadEvent.objects.filter(thread=thread, kind=ThreadEventKind.TAG_REMOVED).values_list(
                "data__tag", flat=True
            )
        )
        new -= removed_by_people - red_flags
    for tag in Tag.objects.filter(slug__in=new, active=True):
        ThreadTag.objects.create(thread=thread, tag=tag, source=TagSource.RULE)
        ThreadEvent.objects.create(
            thread=thread, kind=ThreadEventKind.TAG_ADDED, data={"tag": tag.slug, "source": "rule"}
        )
    changed = priority_apply(thread, actor_id=None) or bool(new)
    if not result.red_flag:
        return TriageOutcome(changed=changed)
    reasons = list(dict.fromkeys(result.red_flag_reasons))
    ThreadEvent.objects.create(
        thread=thread,
        kind=ThreadEventKind.RED_FLAG,
        data={"reasons": reasons, "seq": thread.last_seq},
    )
    # A notice a few minutes ago is enough while the thread is still flagged; once a
    # person has judged the flag away, a new warning sign gets its own notice.
    recent_notice = bool(present & red_flags) and (
        thread.messages.filter(
            event=SystemEvent.SAFETY, created_at__gte=timezone.now() - SAFETY_NOTICE_INTERVAL
        ).exists()
    )
    if not recent_notice:
        system_message_post(
            thread,
            text=safety_notice_text(coach_assigned=thread.coach_id is not None),
            event=SystemEvent.SAFETY,
        )
    return TriageOutcome(changed=True, red_flag_reason=", ".join(reasons))


def red_flag_clear(thread: Thread) -> None:
    """Drop the rules' red flag from a locked, resolved thread the member writes in again.

    The episode it belonged to was handled and resolved; left in place, it made the
    reopened thread urgent, jump the queue and alert its next coach with the old
    reason. Her new message is triaged afresh after this. A red flag a person added
    stays, as every tag a person added does. The caller saves the priority.
    """
    flags = ThreadTag.objects.filter(thread=thread, tag__is_red_flag=True, source=TagSource.RULE)
    slugs = list(flags.values_list("tag__slug", flat=True))
    if not slugs:
        return
    flags.delete()
    ThreadEvent.objects.bulk_create(
        ThreadEvent(
            thread=thread, kind=ThreadEventKind.TAG_REMOVED, data={"tag": slug, "source": "reopen"}
        )
        for slug in slugs
    )
    priority_apply(thread, actor_id=None)


def red_flag_alert(thread: Thread, *, reason: str, supervisors: bool = True) -> None:
    """Alert the assigned coach, and supervisors, about a saved, red-flagged thread."""
    _, staff = thread_frames(thread)
    frame = dumps({"type": "alert", "kind": "red_flag", "thread": staff, "reason": reason})
    groups = [SUPERVISORS_GROUP] if supervisors else []
    if thread.coach_id:
        groups.append(user_group(thread.coach_id))
    send_on_commit([frame_event(group, frame, "alert") for group in groups])


def red_flag_reason(thread: Thread) -> str | None:
    """Why the thread was last red-flagged, or None if it never was."""
    event = (
        thread.events.filter(kind=ThreadEventKind.RED_FLAG).order_by("-created_at", "-id").first()
    )
    return ", ".join(event.data.get("reasons", [])) if event else None

"""Putting a thread in the queue: a member's first message, a reopen, a transfer to the
queue, or its coach going offline or past her grace period.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from chat.actions.notify import system_message_post, thread_changed, thread_save
from chat.models import SystemEvent, Thread, ThreadStatus
from routing import selectors
from routing.models import Assignment, AssignmentReason

QUEUED_TEXT = "Thanks for your message. A coach will join you here as soon as one is free."
NO_COACH_TEXT = (
    "Thanks for your message. No coach is online right now; your message is saved, you keep "
    "your place in the queue, and a coach will reply here as soon as one comes online."
)
REOPENED_TEXT = "You wrote again, so this thread is open again. A coach will join you here."


def thread_enqueue(thread: Thread, *, reopened: bool = False) -> None:
    """Queue a locked `new` or `resolved` thread after the member wrote in it."""
    now = timezone.now()
    thread.status = ThreadStatus.QUEUED
    thread.enqueued_at = thread.queued_since = now
    if reopened:
        thread.resolved_at = None
        thread.previous_coach_id = thread.coach_id or thread.previous_coach_id
        thread.coach = None
        thread.passed_by = None
        text = REOPENED_TEXT
        event = SystemEvent.REOPENED
    else:
        text = QUEUED_TEXT
        event = SystemEvent.QUEUED
    if not selectors.floor_now().online_coaches:
        text = NO_COACH_TEXT
    system_message_post(thread, text=text, event=event)
    thread_save(
        thread,
        "status",
        "enqueued_at",
        "queued_since",
        "resolved_at",
        "previous_coach",
        "passed_by",
        "coach",
        "awaiting_reply_since",
        "priority",
    )
    thread_changed(thread, queue_changed=True)


def thread_requeue(
    thread: Thread, *, reason: AssignmentReason, actor_id: int | None, note: str = "", text: str
) -> dict[str, Any]:
    """Take a locked active thread from its coach and put it back in the queue; returns
    the staff T.

    It keeps its `enqueued_at`, and so its place: ahead of everyone who came later.
    """
    now = timezone.now()
    coach_id = thread.coach_id
    if thread.assigned_at is not None:
        thread.handle_seconds += int((now - thread.assigned_at).total_seconds())
    thread.status = ThreadStatus.QUEUED
    thread.previous_coach_id = coach_id
    # Continuity would give a thread its coach passed on straight back to her.
    thread.passed_by_id = coach_id if reason == AssignmentReason.TO_QUEUE else None
    thread.coach = None
    thread.assigned_at = None
    thread.queued_since = now
    thread.enqueued_at = thread.enqueued_at or now
    thread.unanswered = False
    if note:
        thread.handoff_note = note
    Assignment.objects.record(
        thread=thread,
        from_coach_id=coach_id,
        to_coach_id=None,
        reason=reason,
        actor_id=actor_id,
        note=note,
    )
    system_message_post(thread, text=text, event=SystemEvent.REQUEUED)
    thread_save(
        thread,
        "status",
        "previous_coach",
        "passed_by",
        "coach",
        "assigned_at",
        "queued_since",
        "enqueued_at",
        "handle_seconds",
        "unanswered",
        "handoff_note",
    )
    return thread_changed(thread, unassigned_coach_id=coach_id, queue_changed=True)

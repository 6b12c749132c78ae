"""Resolving a thread: the assigned coach or a supervisor closes the conversation."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.roles import Actor
from chat.access import thread_for_handling
from chat.actions.notify import system_message_post, thread_changed, thread_save
from chat.models import SystemEvent, ThreadStatus
from routing.actions.assignment import assign_waiting
from routing.models import Assignment, AssignmentReason

RESOLVED_TEXT = (
    "This conversation is marked resolved. Thank you for talking with us. If anything else "
    "comes up, write here any time and a coach will pick it up."
)


def thread_resolve(*, actor: Actor, thread_id: int) -> dict[str, Any]:
    """Close an active thread (a supervisor may also close a queued one); returns the staff T."""
    with transaction.atomic():
        thread = thread_for_handling(actor, thread_id, "resolve")
        now = timezone.now()
        was_queued = thread.status == ThreadStatus.QUEUED
        if thread.assigned_at is not None:
            thread.handle_seconds += int((now - thread.assigned_at).total_seconds())
        if was_queued and thread.queued_since is not None:
            thread.wait_seconds += int((now - thread.queued_since).total_seconds())
        Assignment.objects.record(
            thread=thread,
            from_coach_id=thread.coach_id,
            to_coach_id=thread.coach_id,
            reason=AssignmentReason.RESOLVED,
            actor_id=actor.id,
        )
        thread.status = ThreadStatus.RESOLVED
        thread.resolved_at = now
        thread.assigned_at = thread.queued_since = thread.awaiting_reply_since = None
        thread.unanswered = False
        thread.previous_coach_id = thread.coach_id or thread.previous_coach_id
        system_message_post(thread, text=RESOLVED_TEXT, event=SystemEvent.RESOLVED)
        thread_save(
            thread,
            "status",
            "resolved_at",
            "assigned_at",
            "queued_since",
            "awaiting_reply_since",
            "unanswered",
            "previous_coach",
            "handle_seconds",
            "wait_seconds",
        )
        frame = thread_changed(thread, queue_changed=True)
    # Her load just fell: the next queued thread may be hers.
    assign_waiting()
    return frame

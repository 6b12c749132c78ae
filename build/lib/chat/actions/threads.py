"""Opening a member's thread, and supervisors watching one."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.roles import Actor, Role
from chat.access import require_role, thread_for_reader
from chat.actions.audit import transcript_access_record
from chat.actions.notify import thread_changed
from chat.frames import Audience
from chat.models import Thread, ThreadStatus, TranscriptAction
from chat.selectors import thread_for_frames, thread_objects


def thread_open(*, actor: Actor) -> dict[str, Any]:
    """The member's unresolved thread, or a new one; returns her T."""
    require_role(actor, Role.MEMBER, "open threads")
    current = _unresolved(actor.id)
    if current is not None:
        return thread_objects([current], audience=Audience.MEMBER)[0]
    last = Thread.objects.filter(member_id=actor.id).order_by("-created_at", "-id").first()
    try:
        with transaction.atomic():
            thread = Thread.objects.create(
                member_id=actor.id,
                status=ThreadStatus.NEW,
                # Continuity: her last coach is preferred when this thread is queued.
                previous_coach_id=(last.coach_id or last.previous_coach_id) if last else None,
            )
            thread = thread_for_frames(thread.pk)
            return thread_changed(thread, audience=Audience.MEMBER)
    except IntegrityError:
        # Her other tab opened one at the same moment (one unresolved thread per member).
        current = _unresolved(actor.id)
        if current is None:
            raise
        return thread_objects([current], audience=Audience.MEMBER)[0]


def _unresolved(member_id: int) -> Thread | None:
    return (
        Thread.objects.with_people()
        .filter(member_id=member_id)
        .exclude(status=ThreadStatus.RESOLVED)
        .first()
    )


def thread_watch(*, actor: Actor, thread_id: int) -> dict[str, Any]:
    """A supervisor starts watching a thread live; the watch is audited. Returns the staff T."""
    require_role(actor, Role.SUPERVISOR, "watch threads")
    thread = thread_for_reader(actor, thread_id)
    transcript_access_record(
        user_id=actor.id, role=actor.role, thread_id=thread.pk, action=TranscriptAction.WATCH
    )
    return thread_objects([thread_for_frames(thread.pk)], audience=Audience.STAFF)[0]

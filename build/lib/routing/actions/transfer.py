"""Transfer: the assigned coach or a supervisor hands a thread to a coach or the queue."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.roles import Actor, Role
from chat.access import thread_for_handling
from chat.errors import conflict, not_found
from chat.models import ThreadStatus
from coaches.models import CoachProfile, CoachStatus
from routing import selectors
from routing.actions.assignment import assign_waiting, thread_assign
from routing.actions.queueing import thread_requeue
from routing.models import AssignmentReason


def thread_transfer(
    *, actor: Actor, thread_id: int, to_coach: int | None, note: str
) -> dict[str, Any]:
    """Move a thread to another coach or back to the queue, with an optional handoff note.

    A coach transfers only her active threads, to a coach who is not offline and
    has room; a supervisor may also place a queued thread, and may go over capacity.
    """
    with transaction.atomic():
        thread = thread_for_handling(actor, thread_id, "transfer")
        if to_coach is None:
            if thread.status == ThreadStatus.QUEUED:
                raise conflict("the thread is already in the queue")
            by = "The coaching team" if actor.role == Role.SUPERVISOR else actor.name
            frame = thread_requeue(
                thread,
                reason=AssignmentReason.TO_QUEUE,
                actor_id=actor.id,
                note=note,
                text=f"{by} has passed your conversation on. You keep your place in the queue "
                "and the next free coach will continue here.",
            )
        else:
            _check_target(actor, thread.coach_id, to_coach)
            frame = thread_assign(
                thread,
                coach_id=to_coach,
                reason=AssignmentReason.TRANSFER,
                actor_id=actor.id,
                note=note,
            )
    # The coach who handed it on may now have room for the next queued thread.
    assign_waiting()
    return frame


def _check_target(actor: Actor, current_coach_id: int | None, to_coach: int) -> None:
    target = (
        CoachProfile.objects.select_for_update()
        .filter(user_id=to_coach, user__is_active=True)
        .first()
    )
    if target is None:
        raise not_found("coach")
    if to_coach == current_coach_id:
        raise conflict("the thread is already with that coach")
    if target.status == CoachStatus.OFFLINE:
        raise conflict(f"{target.display_name} is offline")
    load = selectors.coach_load(to_coach)
    if actor.role != Role.SUPERVISOR and load >= target.capacity:
        raise conflict(f"{target.display_name} is at capacity ({load} of {target.capacity})")

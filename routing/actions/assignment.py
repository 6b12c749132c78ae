"""Choosing a coach for a thread, and claiming one from the queue.

Work-conserving: :func:`assign_waiting` runs after every event that can free a
coach or fill the queue (enqueue, coach online or connected, resolve, transfer,
capacity change) and from the periodic sweep, and keeps matching the head of
the queue to the best available coach until one side runs out.

Atomic across processes: each decision is one transaction that takes the head
thread with SELECT … FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite serializes
write transactions), then locks the chosen coach's profile row and re-reads her
load before giving her the thread, so two processes never push a coach over
capacity nor hand one thread to two coaches.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Actor
from chat.access import thread_for_claim
from chat.actions.notify import people_load, system_message_post, thread_changed, thread_save
from chat.errors import conflict
from chat.models import SystemEvent, Thread, ThreadStatus
from coaches.models import CoachProfile, CoachStatus
from config import metrics
from routing import selectors
from routing.actions.triage import red_flag_alert, red_flag_reason
from routing.models import Assignment, AssignmentReason, CoachSocket, Priority

MAX_DECISIONS_PER_RUN = 200
# How many threads passed back to the queue an assignment run looks past when none of
# the coaches free now may take them (bounds the run when one coach passes many).
MAX_PASSED_OVER = 20


class _Head(enum.Enum):
    """What became of the head of the queue in one assignment decision."""

    ASSIGNED = "assigned"
    NO_COACH = "no coach may take it (or the queue is empty)"
    PASSED_OVER = "only the coach who passed it back could: the threads behind it go next"


def assign_waiting(*, max_decisions: int = MAX_DECISIONS_PER_RUN) -> int:
    """Match queued threads to available coaches until one side runs out; returns how many."""
    made = 0
    passed_over: list[int] = []
    while made < max_decisions and len(passed_over) < MAX_PASSED_OVER:
        head = _assign_head(passed_over)
        if head is _Head.ASSIGNED:
            made += 1
        elif head is _Head.NO_COACH:
            break
    return made


@transaction.atomic
def _assign_head(passed_over: list[int]) -> _Head:
    """Give the head of the queue (but those `passed_over`) to the best available coach.

    A head that only the coach who passed it back to the queue could have taken is
    added to `passed_over`, so that it does not hold up the threads behind it.
    """
    thread = selectors.queue_head(lock="FOR UPDATE SKIP LOCKED", passed_over=passed_over)
    if thread is None:
        return _Head.NO_COACH
    now = timezone.now()
    for coach_id in selectors.ranked_coaches(thread):
        if _take_if_available(coach_id, now):
            thread_assign(
                thread,
                coach_id=coach_id,
                reason=AssignmentReason.AUTO,
                actor_id=None,
                now=now,
                coach_stamped=True,
            )
            return _Head.ASSIGNED
    if thread.passed_by_id is None:
        return _Head.NO_COACH
    passed_over.append(thread.pk)
    return _Head.PASSED_OVER


def _take_if_available(coach_id: int, now: datetime.datetime) -> bool:
    """Lock her profile row and, if as of now she may take one more thread (online,
    connected, under capacity), mark her as assigned at `now`; True if she was.

    Two statements, not one: on PostgreSQL a statement that waits for a row lock
    re-reads that row when it gets it, but not its subqueries, which would still
    count her load as it was before the other process's assignment committed. The
    second runs with the lock held, so it sees every assignment committed before.
    """
    profile, thread = CoachProfile._meta.db_table, Thread._meta.db_table
    sockets = CoachSocket._meta.db_table
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    status_sql = f"SELECT status FROM {profile} WHERE user_id = %s{lock}"  # noqa: S608
    sql = f"""
        UPDATE {profile} SET last_assigned_at = %s
        WHERE user_id = %s
          AND EXISTS (SELECT 1 FROM {sockets} s WHERE s.coach_id = %s)
          AND (SELECT COALESCE(SUM(CASE WHEN priority = %s THEN %s ELSE 1 END), 0)
               FROM {thread} WHERE coach_id = %s AND status = %s) < capacity
    """  # noqa: S608 (table names from the models; values are parameters)
    params = [
        now,
        coach_id,
        coach_id,
        Priority.URGENT,
        settings.CHAT_URGENT_WEIGHT,
        coach_id,
        ThreadStatus.ACTIVE,
    ]
    with connection.cursor() as cursor:
        cursor.execute(status_sql, [coach_id])
        row = cursor.fetchone()
        if row is None or row[0] != CoachStatus.ONLINE:
            return False
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def thread_assign(
    thread: Thread,
    *,
    coach_id: int,
    reason: AssignmentReason,
    actor_id: int | None,
    note: str = "",
    now: datetime.datetime | None = None,
    coach_stamped: bool = False,
) -> dict[str, Any]:
    """Give a locked thread to a coach (whose row the caller locked); returns the staff T.

    `coach_stamped`: the caller already set her `last_assigned_at` to `now`.
    """
    now = now or timezone.now()
    old_coach_id = thread.coach_id
    if thread.status == ThreadStatus.QUEUED and thread.queued_since is not None:
        waited = (now - thread.queued_since).total_seconds()
        thread.wait_seconds += int(waited)
        metrics.WAIT_SECONDS.observe(waited)
    elif thread.assigned_at is not None:
        thread.handle_seconds += int((now - thread.assigned_at).total_seconds())
    thread.status = ThreadStatus.ACTIVE
    thread.coach_id = coach_id
    # Her profile and the member's, in the one query the thread frames need anyway.
    people_load(thread)
    coach = thread.coach
    thread.assigned_at = now
    thread.queued_since = None
    thread.passed_by = None
    thread.unanswered = False
    if note:
        thread.handoff_note = note
    if not coach_stamped:
        CoachProfile.objects.filter(user_id=coach_id).update(last_assigned_at=now)
    Assignment.objects.record(
        thread=thread,
        from_coach_id=old_coach_id,
        to_coach_id=coach_id,
        reason=reason,
        actor_id=actor_id,
        note=note,
    )
    name = coach.coach_profile.display_name
    if old_coach_id is None:
        text = f"{name} has joined the chat."
        event = SystemEvent.ASSIGNED
    else:
        text = f"You are now chatting with {name}, who has your conversation so far."
        event = SystemEvent.TRANSFERRED
    system_message_post(thread, text=text, event=event)
    thread_save(
        thread,
        "status",
        "coach",
        "assigned_at",
        "queued_since",
        "passed_by",
        "wait_seconds",
        "handle_seconds",
        "unanswered",
        "handoff_note",
    )
    if thread.priority == Priority.URGENT:
        # Supervisors were alerted when the red flag was raised; the coach who
        # takes the thread now must be, too.
        reason = red_flag_reason(thread)
        if reason is not None:
            red_flag_alert(thread, reason=reason, supervisors=False)
    return thread_changed(thread, unassigned_coach_id=old_coach_id, queue_changed=True)


def queue_claim(*, actor: Actor, thread_id: int) -> dict[str, Any]:
    """A coach takes a queued thread herself; conflict if it is taken or she is full."""
    with transaction.atomic():
        thread = thread_for_claim(actor, thread_id)
        coach = CoachProfile.objects.select_for_update().get(user_id=actor.id)
        if coach.status == CoachStatus.OFFLINE:
            # Offline sends her threads back to the queue; one she claimed would sit
            # with a coach nobody expects to answer.
            raise conflict("you are offline: go online or away to claim a thread")
        load = selectors.coach_load(actor.id)
        if load >= coach.capacity:
            raise conflict(f"you are at capacity ({load} of {coach.capacity})")
        return thread_assign(
            thread, coach_id=actor.id, reason=AssignmentReason.CLAIM, actor_id=actor.id
        )

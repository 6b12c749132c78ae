"""The only road from a thread id to a thread, for a given user.

A thread the user may not see is `not_found`, exactly as if it did not exist:
an id never reveals whether it is in use. Checked at every frame, against the
database as it is now, never against what a socket was told earlier.
"""

from __future__ import annotations

from typing import Any

from accounts.roles import Actor, Role
from chat.errors import conflict, forbidden, not_found
from chat.models import Thread, ThreadStatus

# Who sees which thread, as one condition each. Members: their own. Coaches: those
# assigned to them now, or resolved while they held them (a coach unassigned by a
# transfer or requeue loses the thread at once). Supervisors: all.
_VISIBLE_BY = {Role.MEMBER: "member_id", Role.COACH: "coach_id", Role.SUPERVISOR: None}


def thread_for_reader(actor: Actor, thread_id: int, *, lock: bool = False) -> Thread:
    """The thread if the actor may read it; not_found otherwise.

    lock=True takes the row lock (PostgreSQL; SQLite's write transactions are
    already serialized): every change to a thread's seq or state goes through it.

    Written as SQL (Thread.objects.first_where): it is the first statement of every
    frame. No joins either: the people a thread object names are loaded only when
    one is built.
    """
    condition, params = visible_where(actor, thread_id)
    thread = Thread.objects.first_where(condition, params, lock="FOR UPDATE" if lock else "")
    if thread is None:
        raise not_found()
    return thread


def visible_where(actor: Actor, thread_id: int) -> tuple[str, list[Any]]:
    """SQL on a thread's own columns: "this thread, if the actor may read it" (not_found
    for a role that reads none). For statements that read a thread inside a larger one."""
    if actor.role not in _VISIBLE_BY:
        raise not_found()
    column = _VISIBLE_BY[actor.role]
    condition, params = "id = %s", [thread_id]
    if column is not None:
        condition += f" AND {column} = %s"
        params.append(actor.id)
    return condition, params


def require_participant(actor: Actor, thread: Thread) -> None:
    """The actor may post, type and mark read here: the member, or the assigned coach."""
    if actor.role == Role.SUPERVISOR:
        raise forbidden("supervisors watch threads; they do not post in them")
    if actor.role == Role.COACH and thread.status != ThreadStatus.ACTIVE:
        raise conflict(f"the thread is {thread.status}; only its assigned coach may post")


def require_staff(actor: Actor, thread: Thread, action: str) -> None:
    """Tag, transfer and resolve belong to the assigned coach and to supervisors."""
    if actor.role == Role.MEMBER:
        raise forbidden(f"members cannot {action} threads")


def thread_for_handling(actor: Actor, thread_id: int, action: str) -> Thread:
    """A locked thread the actor may transfer or resolve: her active thread for a coach,
    an active or queued one for a supervisor; conflict in any other state."""
    thread = thread_for_reader(actor, thread_id, lock=True)
    require_staff(actor, thread, action)
    handled = {ThreadStatus.ACTIVE}
    if actor.role == Role.SUPERVISOR:
        handled.add(ThreadStatus.QUEUED)
    if thread.status not in handled:
        raise conflict(f"cannot {action} a {thread.status} thread")
    return thread


def thread_for_claim(actor: Actor, thread_id: int) -> Thread:
    """A queued thread a coach may claim, locked; conflict if it is no longer queued."""
    if actor.role != Role.COACH:
        # A member may see her own thread, so the refusal is forbidden, not not_found.
        thread_for_reader(actor, thread_id)
        raise forbidden("only coaches claim threads from the queue")
    thread = (
        Thread.objects.with_people()
        .select_for_update(of=("self",))
        .exclude(status=ThreadStatus.NEW)
        .filter(pk=thread_id)
        .first()
    )
    if thread is None:
        raise not_found()
    if thread.status != ThreadStatus.QUEUED:
        raise conflict("the thread is no longer in the queue")
    return thread


def require_role(actor: Actor, role: Role, action: str) -> None:
    if actor.role != role:
        raise forbidden(f"only {role.value}s can {action}")

"""Shared steps of every write to a thread: saving it with a new version, posting system
messages, and addressing the events that tell each concerned socket.

Recipients are decided here, from the thread as written in this transaction:
the member's `user.<id>` group, the assigned coach's, a coach just unassigned,
and `watch.<thread id>` for supervisors watching.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from accounts.roles import users_by_id
from chat import rows
from chat.events import QUEUE_GROUP, Event, frame_event, send_on_commit, user_group, watch_group
from chat.frames import SYSTEM_SENDER, Audience, dumps, message_object, thread_object
from chat.models import (
    Message,
    MessageKind,
    ReadState,
    SystemEvent,
    Thread,
    ThreadStatus,
    ThreadTag,
)
from chat.sanitize import render_body
from routing import selectors as routing_selectors


def thread_save(thread: Thread, *fields: str) -> None:
    """Save changed fields of a locked thread, raising its version."""
    thread.version += 1
    rows.update(thread, sorted({*fields, "version", "last_seq"}), connection)


def message_recipients(thread: Thread) -> list[str]:
    return thread_recipients(thread.pk, thread.member_id, thread.coach_id)


def thread_recipients(thread_id: int, member_id: int, coach_id: int | None) -> list[str]:
    """The groups of a thread's member, its coach if it has one, and its watchers."""
    groups = [user_group(member_id), watch_group(thread_id)]
    if coach_id is not None:
        groups.append(user_group(coach_id))
    return groups


def message_events(recipients: list[str], message: dict[str, Any]) -> list[Event]:
    """message.new to every socket of these groups, serialized once."""
    frame = dumps({"type": "message.new", "thread": message["thread"], "message": message})
    return [frame_event(group, frame, "message.new") for group in recipients]


def system_message_post(thread: Thread, *, text: str, event: SystemEvent) -> Message:
    """Append a system message to a locked thread and announce it after commit.

    The caller saves the thread (its last_seq moved) with :func:`thread_save`.
    """
    thread.last_seq += 1
    message = Message(
        thread=thread,
        seq=thread.last_seq,
        sender=None,
        client_id=None,
        text=text,
        body=render_body(text),
        kind=MessageKind.SYSTEM,
        event=event,
    )
    rows.insert(message, connection)
    send_on_commit(
        message_events(message_recipients(thread), message_object(message, SYSTEM_SENDER))
    )
    return message


def people_load(thread: Thread) -> None:
    """Load the member and coach (with profiles) a thread object names, if not yet loaded."""
    member_field, coach_field = Thread._meta.get_field("member"), Thread._meta.get_field("coach")
    wanted = []
    if not member_field.is_cached(thread):
        wanted.append(thread.member_id)
    if thread.coach_id is not None and not coach_field.is_cached(thread):
        wanted.append(thread.coach_id)
    if not wanted:
        return
    users = users_by_id(wanted)
    if thread.member_id in users:
        thread.member = users[thread.member_id]
    if thread.coach_id in users:
        thread.coach = users[thread.coach_id]


def thread_frames(thread: Thread) -> tuple[dict[str, Any], dict[str, Any]]:
    """The member's T and the staff T of a thread.

    For a queued thread this also records the position and estimate the member
    is being told, so the position feed does not announce them again.
    """
    people_load(thread)
    position = eta = None
    if thread.status == ThreadStatus.QUEUED:
        position = routing_selectors.queue_rank(thread)
        eta = routing_selectors.eta_seconds(position, routing_selectors.floor_now())
        if (thread.notified_position, thread.notified_eta) != (position, eta):
            Thread.objects.filter(pk=thread.pk).update(notified_position=position, notified_eta=eta)
            thread.notified_position, thread.notified_eta = position, eta
    common = {
        "queue_position": position,
        "eta_seconds": eta,
        "reads": ReadState.objects.of_participants([thread])[thread.pk],
    }
    member = thread_object(thread, audience=Audience.MEMBER, tags=[], **common)
    staff = thread_object(
        thread,
        audience=Audience.STAFF,
        tags=ThreadTag.objects.slugs_by_thread([thread.pk]).get(thread.pk, []),
        **common,
    )
    return member, staff


def thread_changed(
    thread: Thread,
    *,
    unassigned_coach_id: int | None = None,
    queue_changed: bool = False,
    audience: Audience = Audience.STAFF,
) -> dict[str, Any]:
    """Announce a thread's new state to everyone concerned; returns the T for `audience`.

    queue_changed also tells every process's queue feed to refresh coaches and
    supervisors (and members' positions).
    """
    member_t, staff_t = thread_frames(thread)
    member_frame = dumps({"type": "thread", "thread": member_t})
    staff_frame = dumps({"type": "thread", "thread": staff_t})
    events = [
        frame_event(user_group(thread.member_id), member_frame, "thread"),
        frame_event(watch_group(thread.pk), staff_frame, "thread"),
    ]
    for coach_id in {thread.coach_id, unassigned_coach_id} - {None}:
        events.append(frame_event(user_group(coach_id), staff_frame, "thread"))
    if queue_changed:
        events.append(queue_changed_event())
    send_on_commit(events)
    return member_t if audience == Audience.MEMBER else staff_t


def queue_changed_event() -> Event:
    return Event(QUEUE_GROUP, {"type": "queue.changed"})

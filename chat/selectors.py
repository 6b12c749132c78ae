"""Reads: thread objects for a reader, message pages, read state.

Message pages are keyset pages on the (thread, seq) unique index: no OFFSET, so
the newest page costs the same at message 100 as at message 100,000.
"""

from __future__ import annotations

from typing import Any

from accounts.roles import Actor, Role, users_with_profiles
from chat.access import require_staff, thread_for_reader
from chat.frames import Audience, iso, message_object, person, sender_object_of, thread_object
from chat.models import Message, ReadState, Thread, ThreadStatus, ThreadTag
from members.models import DeliveryType, MemberProfile
from routing import selectors as routing_selectors

HELLO_MEMBER_THREADS = 20


def audience_for(role: Role) -> Audience:
    return Audience.MEMBER if role == Role.MEMBER else Audience.STAFF


def thread_objects(
    threads: list[Thread],
    *,
    audience: Audience,
    read_seqs: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    """T for each thread (members and coaches loaded), with positions for queued ones."""
    tags = (
        ThreadTag.objects.slugs_by_thread([t.pk for t in threads])
        if audience == Audience.STAFF
        else {}
    )
    positions = {
        t.pk: routing_selectors.queue_rank(t) for t in threads if t.status == ThreadStatus.QUEUED
    }
    floor = routing_selectors.floor_now() if positions else None
    reads = ReadState.objects.of_participants(threads)
    return [
        thread_object(
            thread,
            audience=audience,
            tags=tags.get(thread.pk, []),
            queue_position=positions.get(thread.pk),
            eta_seconds=routing_selectors.eta_seconds(positions[thread.pk], floor)
            if thread.pk in positions
            else None,
            read_seq=None if read_seqs is None else read_seqs.get(thread.pk, 0),
            reads=reads[thread.pk],
        )
        for thread in threads
    ]


def thread_for_frames(thread_id: int) -> Thread:
    """A thread with the people its T names."""
    return Thread.objects.with_people().get(pk=thread_id)


def hello_threads(actor: Actor) -> list[dict[str, Any]]:
    """The threads listed in `hello`: a member's newest 20, a coach's assigned ones."""
    if actor.role == Role.MEMBER:
        threads = list(
            Thread.objects.with_people()
            .filter(member_id=actor.id)
            .order_by("-created_at", "-id")[:HELLO_MEMBER_THREADS]
        )
    elif actor.role == Role.COACH:
        threads = list(
            Thread.objects.with_people()
            .filter(coach_id=actor.id, status=ThreadStatus.ACTIVE)
            .order_by("assigned_at", "id")
        )
    else:
        return []
    read_seqs = dict(
        ReadState.objects.filter(
            user_id=actor.id, thread_id__in=[t.pk for t in threads]
        ).values_list("thread_id", "read_seq")
    )
    return thread_objects(threads, audience=audience_for(actor.role), read_seqs=read_seqs)


def messages_after(
    thread_id: int, *, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` M objects from after_seq + 1, ascending; and whether more follow."""
    rows = list(
        Message.objects.filter(thread_id=thread_id, seq__gt=after_seq).order_by("seq")[: limit + 1]
    )
    return message_objects(rows[:limit]), len(rows) > limit


def messages_before(
    thread_id: int, *, before_seq: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """The `limit` M objects just before before_seq (the newest when None), ascending."""
    query = Message.objects.filter(thread_id=thread_id)
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    rows = list(query.order_by("-seq")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return message_objects(rows), has_more


def message_objects(messages: list[Message]) -> list[dict[str, Any]]:
    """M objects for a page of messages, each sender loaded once.

    Not a join per row: a page has two or three senders, and the sender's user and
    both profiles joined into each of 50 rows made the newest page cost twice as much.
    """
    people = senders({message.sender_id for message in messages})
    return [message_object(message, people.get(message.sender_id)) for message in messages]


def senders(user_ids: set[int | None]) -> dict[int, dict[str, Any]]:
    """{"id", "role", "name"} for each user, as frames name senders, in one query."""
    users = users_with_profiles().filter(pk__in=user_ids - {None})
    return {user.pk: sender_object_of(user) for user in users}


PAST_THREADS = 10


def member_context(*, actor: Actor, thread_id: int) -> dict[str, Any]:
    """For the assigned coach or a supervisor: the member's profile and recent threads.

    Past threads are summaries (dates, coach, tags), not transcripts: reading
    one is a transcript read, done on the supervisor pages where it is audited.
    """
    thread = thread_for_reader(actor, thread_id)
    require_staff(actor, thread, "see member context of")
    profile = MemberProfile.objects.filter(user_id=thread.member_id).first()
    past = list(
        Thread.objects.with_people()
        .filter(member_id=thread.member_id)
        .exclude(pk=thread.pk)
        .order_by("-created_at", "-id")[:PAST_THREADS]
    )
    tags = ThreadTag.objects.slugs_by_thread([t.pk for t in past])
    return {
        "type": "member.context",
        "thread": thread.pk,
        "member": {
            **person(thread.member),
            "weeks_postpartum": profile.weeks_postpartum if profile else None,
            "delivery_type": profile.delivery_type if profile else DeliveryType.UNKNOWN,
            "delivery_label": profile.get_delivery_type_display() if profile else None,
            "member_since": iso(profile.created_at) if profile else None,
        },
        "past_threads": [
            {
                "id": t.pk,
                "status": t.status,
                "created_at": iso(t.created_at),
                "resolved_at": iso(t.resolved_at),
                "coach": person(t.coach),
                "tags": tags.get(t.pk, []),
            }
            for t in past
        ],
    }

"""Reading a thread over the socket: message pages, read receipts, typing.

A supervisor's first read of a thread on a socket is recorded as a transcript
view; the consumer says which reads are first.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.roles import Actor, Role
from chat.access import require_participant, thread_for_reader
from chat.actions.audit import transcript_access_record
from chat.actions.notify import message_recipients
from chat.events import frame_event, send_on_commit, user_group
from chat.frames import dumps, read_frame, typing_frame
from chat.models import ReadState, TranscriptAction
from chat.selectors import messages_after, messages_before


def thread_sync(
    *, actor: Actor, thread_id: int, after_seq: int, limit: int, audit: bool
) -> dict[str, Any]:
    """Messages after after_seq, ascending: how a client fills a gap."""
    thread = thread_for_reader(actor, thread_id)
    _audit(actor, thread.pk, audit)
    messages, has_more = messages_after(thread.pk, after_seq=after_seq, limit=limit)
    return _page(thread.pk, messages, has_more)


def thread_history(
    *, actor: Actor, thread_id: int, before_seq: int | None, limit: int, audit: bool
) -> dict[str, Any]:
    """The page just before before_seq (the newest page when None), ascending."""
    thread = thread_for_reader(actor, thread_id)
    _audit(actor, thread.pk, audit)
    messages, has_more = messages_before(thread.pk, before_seq=before_seq, limit=limit)
    return _page(thread.pk, messages, has_more)


def _page(thread_id: int, messages: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "type": "thread.messages",
        "thread": thread_id,
        "messages": messages,
        "has_more": has_more,
    }


def _audit(actor: Actor, thread_id: int, audit: bool) -> None:
    if audit and actor.role == Role.SUPERVISOR:
        transcript_access_record(
            user_id=actor.id, role=actor.role, thread_id=thread_id, action=TranscriptAction.VIEW
        )


def thread_read(*, actor: Actor, thread_id: int, seq: int) -> None:
    """Record how far the member or assigned coach has read, and tell the thread."""
    with transaction.atomic():
        thread = thread_for_reader(actor, thread_id)
        require_participant(actor, thread)
        seq = min(seq, thread.last_seq)
        moved = ReadState.objects.filter(thread=thread, user_id=actor.id, read_seq__lt=seq).update(
            read_seq=seq
        )
        if not moved:
            _, created = ReadState.objects.get_or_create(
                thread=thread, user_id=actor.id, defaults={"read_seq": seq}
            )
            if not created:
                return  # already read this far: nothing to announce
        frame = dumps(read_frame(thread.pk, actor, seq))
        send_on_commit([frame_event(group, frame, "read") for group in message_recipients(thread)])


def typing_send(*, actor: Actor, thread_id: int, state: bool) -> None:
    """Relay a typing indicator to the thread's other participants and its watchers
    (nothing is stored). The typist's own sockets are left out: PROTOCOL.md sends it
    "to the other participants", and her other tabs have nothing to show."""
    thread = thread_for_reader(actor, thread_id)
    require_participant(actor, thread)
    frame = dumps(typing_frame(thread.pk, actor, state))
    own = user_group(actor.id)
    groups = [group for group in message_recipients(thread) if group != own]
    send_on_commit([frame_event(group, frame, "typing") for group in groups])

"""Sending a message: the hot path, one transaction per frame.

Lock the thread row → insert with the next seq, unless the sender already sent this
client_id (then answer with that message's ack and store nothing) → triage a member's
text → state changes (enqueue, reopen, reply clock) → commit → events. The seq comes from the
locked row, so concurrent senders on any number of processes get 1, 2, 3 … in
commit order with no gap: a failed transaction takes its seq with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Actor, Role
from chat.access import require_participant, thread_for_reader
from chat.actions.notify import message_events, thread_changed, thread_save
from chat.errors import conflict
from chat.events import send_on_commit
from chat.frames import iso, message_object
from chat.models import Message, ReadState, Thread, ThreadStatus
from chat.sanitize import render_body
from routing.actions import assignment, queueing, triage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the sender's ack says; `duplicate` when the client_id was stored before."""

    thread_id: int
    client_id: str
    message_id: int
    seq: int
    created_at: str
    duplicate: bool

    def ack(self) -> dict[str, Any]:
        return {
            "type": "message.ack",
            "thread": self.thread_id,
            "client_id": self.client_id,
            "id": self.message_id,
            "seq": self.seq,
            "created_at": self.created_at,
        }


def message_send(*, actor: Actor, thread_id: int, client_id: str, text: str) -> SendResult:
    """Store a message (once per client_id) and announce it; then route if it queued the thread."""
    result, enqueued = _store(actor=actor, thread_id=thread_id, client_id=client_id, text=text)
    if enqueued:
        # The message is committed and will be acked whatever happens here; a
        # failed assignment is retried by the periodic sweep.
        try:
            assignment.assign_waiting()
        except Exception:
            logger.exception("assignment after enqueue failed; the sweep will retry")
    return result


@transaction.atomic
def _store(*, actor: Actor, thread_id: int, client_id: str, text: str) -> tuple[SendResult, bool]:
    thread = thread_for_reader(actor, thread_id, lock=True)
    require_participant(actor, thread)
    if actor.role == Role.MEMBER and thread.status == ThreadStatus.RESOLVED:
        _check_can_reopen(thread)

    now = timezone.now()
    message = Message(
        thread=thread,
        seq=thread.last_seq + 1,
        sender_id=actor.id,
        client_id=client_id,
        text=text,
        body=render_body(text),
        created_at=now,
    )
    if not _insert_once(message):
        # A retry: the first send with this client_id is the answer, and the
        # transaction has changed nothing.
        return _existing(actor, thread_id, client_id), False
    thread.last_seq = message.seq
    _sql(
        f"INSERT INTO {ReadState._meta.db_table} (thread_id, user_id, read_seq) "  # noqa: S608
        "VALUES (%s, %s, %s) "
        "ON CONFLICT (thread_id, user_id) DO UPDATE SET read_seq = EXCLUDED.read_seq",
        [thread.pk, actor.id, message.seq],
    )
    send_on_commit(message_events(thread, message_object(message, actor.person())))

    enqueued = False
    if actor.role == Role.MEMBER:
        triaged = triage.triage_message(thread, text=text)
        if thread.awaiting_reply_since is None:
            thread.awaiting_reply_since = now
        if thread.status in (ThreadStatus.NEW, ThreadStatus.RESOLVED):
            queueing.thread_enqueue(thread, reopened=thread.status == ThreadStatus.RESOLVED)
            enqueued = True
        elif triaged.changed:
            thread_save(thread, "awaiting_reply_since", "priority")
            thread_changed(thread, queue_changed=thread.status == ThreadStatus.QUEUED)
        else:
            _progress(thread)
        if triaged.red_flag_reason:
            triage.red_flag_alert(thread, reason=triaged.red_flag_reason)
    else:
        _coach_replied(thread, now)
    return _result(message, duplicate=False), enqueued


def _coach_replied(thread: Thread, now: Any) -> None:
    """A coach's reply stops the member's wait clock and clears the unanswered flag."""
    was_flagged = thread.unanswered
    thread.awaiting_reply_since = None
    thread.unanswered = False
    if thread.first_response_at is None:
        thread.first_response_at = now
    if was_flagged:
        thread_save(thread, "awaiting_reply_since", "unanswered", "first_response_at")
        thread_changed(thread, queue_changed=True)
    else:
        _progress(thread)


def _insert_once(message: Message) -> bool:
    """Insert the message unless its sender already sent this client_id; True if inserted.

    One statement instead of a look-up and an insert: the unique constraint decides
    (INSERT … ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike). The row lock
    on the thread is held, so a concurrent retry waits and then finds this row.
    """
    row = _sql(
        f"INSERT INTO {Message._meta.db_table} "  # noqa: S608 (table name from the model)
        "(thread_id, seq, sender_id, client_id, text, body, kind, event, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (thread_id, sender_id, client_id) WHERE client_id IS NOT NULL "
        "DO NOTHING RETURNING id",
        [
            message.thread_id,
            message.seq,
            message.sender_id,
            message.client_id,
            message.text,
            message.body,
            message.kind,
            message.event,
            connection.ops.adapt_datetimefield_value(message.created_at),
        ],
    )
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    return True


def _progress(thread: Thread) -> None:
    """Save what every message moves and no thread object shows: the seq and reply clock."""
    adapt = connection.ops.adapt_datetimefield_value
    _sql(
        f"UPDATE {Thread._meta.db_table} "  # noqa: S608 (table name from the model)
        "SET last_seq = %s, awaiting_reply_since = %s, first_response_at = %s WHERE id = %s",
        [
            thread.last_seq,
            adapt(thread.awaiting_reply_since),
            adapt(thread.first_response_at),
            thread.pk,
        ],
    )


def _sql(statement: str, params: list[Any]) -> tuple | None:
    """Run one statement of the hot path; its first row, if any.

    The statements a message always makes are written as SQL: compiling them with
    the ORM took more of each message's time than running them (docs/benchmarks.md).
    Table names come from the models; values are always parameters.
    """
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone() if cursor.description else None


def _check_can_reopen(thread: Thread) -> None:
    if (
        Thread.objects.filter(member_id=thread.member_id)
        .exclude(status=ThreadStatus.RESOLVED)
        .exists()
    ):
        raise conflict("you have another open thread; write there")


def _existing(actor: Actor, thread_id: int, client_id: str) -> SendResult:
    message = (
        Message.objects.filter(thread_id=thread_id, sender_id=actor.id, client_id=client_id)
        .only("id", "thread_id", "seq", "client_id", "created_at")
        .get()
    )
    return _result(message, duplicate=True)


def _result(message: Message, *, duplicate: bool) -> SendResult:
    return SendResult(
        thread_id=message.thread_id,
        client_id=message.client_id or "",
        message_id=message.pk,
        seq=message.seq,
        created_at=iso(message.created_at) or "",
        duplicate=duplicate,
    )

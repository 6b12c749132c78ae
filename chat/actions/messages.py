"""Sending a message: the hot path, one transaction per frame.

Lock the thread row → insert with the next seq, unless the sender already sent this
client_id (then answer with that message's ack and store nothing) → triage a member's
text → state changes (enqueue, reopen, reply clock) → commit → events. The seq comes from the
locked row, so concurrent senders on any number of processes get 1, 2, 3 … in
commit order with no gap: a failed transaction takes its seq with it.

On PostgreSQL a message that changes nothing a thread object shows (most of them) is
all of this in one statement, under the same lock (_store_at_once); the rest take the
full path (_store).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Actor, Role
from chat import prepared
from chat.access import require_participant, thread_for_reader, visible_where
from chat.actions.notify import (
    message_events,
    message_recipients,
    thread_changed,
    thread_recipients,
    thread_save,
)
from chat.errors import ChatError, conflict
from chat.events import send_on_commit
from chat.frames import iso, message_object
from chat.models import Message, ReadState, Thread, ThreadStatus
from chat.sanitize import render_body
from routing.actions import assignment, queueing, triage
from routing.triage import triage_text

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
    result = _store_at_once(actor=actor, thread_id=thread_id, client_id=client_id, text=text)
    if result is not None:
        return result
    result, enqueued = _store(actor=actor, thread_id=thread_id, client_id=client_id, text=text)
    if enqueued:
        # The message is committed and will be acked whatever happens here; a
        # failed assignment is retried by the periodic sweep.
        try:
            assignment.assign_waiting()
        except Exception:
            logger.exception("assignment after enqueue failed; the sweep will retry")
    return result


# The statements every message makes are written as SQL: compiling them with the ORM
# took more of each message's time than running them (docs/benchmarks.md). Table names
# come from the models; values are always parameters.
_MESSAGES = Message._meta.db_table
_THREADS = Thread._meta.db_table
_READ_STATES = ReadState._meta.db_table
_MESSAGE_COLUMNS = "(thread_id, seq, sender_id, client_id, text, body, kind, event, created_at)"
# A retry is decided by the unique constraint on (thread, sender, client_id), not by a
# look-up first: the thread's row lock is held, so a concurrent retry waits and then
# finds the first one's row, and the insert returns nothing.
_UNLESS_A_RETRY = (
    "ON CONFLICT (thread_id, sender_id, client_id) WHERE client_id IS NOT NULL "
    "DO NOTHING RETURNING id, seq"
)
_READ_UP_TO_HERE = "ON CONFLICT (thread_id, user_id) DO UPDATE SET read_seq = EXCLUDED.read_seq"

# Most messages go into a thread that is already queued or active, from its member in
# words triage tags nothing in, or from its coach with no unanswered flag to clear:
# nothing a thread object shows changes. On PostgreSQL such a message is one statement,
# its own transaction: lock the thread, insert, move the sender's read state and the
# thread's seq and reply clock. One round trip instead of six: each cost more CPU, at
# both ends, than the work it carried (docs/benchmarks.md). Writes in WITH all run,
# whether the final SELECT reads them or not. A statement that returns no row (a retry,
# another state, not her thread) changed nothing, and the full path answers the message.
_AT_ONCE_WHEN = {
    Role.MEMBER: ("status IN (%s, %s)", [ThreadStatus.QUEUED.value, ThreadStatus.ACTIVE.value]),
    Role.COACH: ("status = %s AND NOT unanswered", [ThreadStatus.ACTIVE.value]),
}
# The reply clock as _store sets it: a member's message starts it unless it runs, a
# coach's reply stops it and her first stamps the first response.
_AT_ONCE_CLOCK = {
    Role.MEMBER: "awaiting_reply_since = COALESCE(awaiting_reply_since, %s)",
    Role.COACH: "awaiting_reply_since = NULL, first_response_at = COALESCE(first_response_at, %s)",
}


def _store_at_once(*, actor: Actor, thread_id: int, client_id: str, text: str) -> SendResult | None:
    """The message stored and announced in one statement, or None if it needs the full path."""
    if connection.vendor != "postgresql" or actor.role not in _AT_ONCE_WHEN:
        return None
    if actor.role == Role.MEMBER and triage_text(text).tags:
        return None
    visible, visible_params = visible_where(actor, thread_id)
    when, when_params = _AT_ONCE_WHEN[actor.role]
    now = timezone.now()
    message = Message(
        thread_id=thread_id,
        sender_id=actor.id,
        client_id=client_id,
        text=text,
        body=render_body(text),
        created_at=now,
    )
    created_at = connection.ops.adapt_datetimefield_value(now)
    row = _sql(
        f"WITH th AS (SELECT id, last_seq + 1 AS seq, member_id, coach_id FROM {_THREADS} "  # noqa: S608
        f"WHERE {visible} AND {when} FOR UPDATE), "
        f"m AS (INSERT INTO {_MESSAGES} {_MESSAGE_COLUMNS} "
        f"SELECT id, seq, %s, %s, %s, %s, %s, %s, %s FROM th {_UNLESS_A_RETRY}), "
        f"r AS (INSERT INTO {_READ_STATES} (thread_id, user_id, read_seq) "
        f"SELECT %s, %s, seq FROM m {_READ_UP_TO_HERE}), "
        f"t AS (UPDATE {_THREADS} SET last_seq = m.seq, {_AT_ONCE_CLOCK[actor.role]} "
        f"FROM m WHERE {_THREADS}.id = %s) "
        "SELECT m.id, m.seq, th.member_id, th.coach_id FROM m, th",
        [
            *visible_params,
            *when_params,
            *(actor.id, client_id, message.text, message.body, message.kind, message.event),
            created_at,
            *(thread_id, actor.id),
            created_at,
            thread_id,
        ],
    )
    if row is None:
        return None
    message.pk, message.seq, member_id, coach_id = row
    message._state.adding = False
    recipients = thread_recipients(thread_id, member_id, coach_id)
    send_on_commit(message_events(recipients, message_object(message, actor.person())))
    return _result(message, duplicate=False)


@transaction.atomic
def _store(*, actor: Actor, thread_id: int, client_id: str, text: str) -> tuple[SendResult, bool]:
    thread = thread_for_reader(actor, thread_id, lock=True)
    try:
        require_participant(actor, thread)
        if actor.role == Role.MEMBER and thread.status == ThreadStatus.RESOLVED:
            _check_can_reopen(thread)
    except ChatError:
        # A retry of a message stored while it was allowed gets its ack back, whatever
        # the thread allows now (resolved since, or she has opened another): the
        # client is asking "was it stored?", and a refusal would make it send again.
        retry = _retry(actor, thread_id, client_id)
        if retry is None:
            raise
        return retry, False

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
    was_unanswered = thread.unanswered
    if actor.role == Role.MEMBER:
        # Her message starts the wait clock, unless it runs already.
        thread.awaiting_reply_since = thread.awaiting_reply_since or now
    else:
        # A coach's reply stops it; her first stamps the first response.
        thread.awaiting_reply_since = None
        thread.first_response_at = thread.first_response_at or now
    if not _write(message, thread, actor):
        # A retry: the first send with this client_id is the answer, and the
        # transaction has changed nothing.
        retry = _retry(actor, thread_id, client_id)
        assert retry is not None, "the insert met this row under the thread's lock"
        return retry, False
    thread.last_seq = message.seq
    recipients = message_recipients(thread)
    send_on_commit(message_events(recipients, message_object(message, actor.person())))

    # _write saved what every message moves; a change a thread object shows is saved
    # again with a new version, and announced.
    enqueued = False
    if actor.role == Role.MEMBER:
        if thread.status == ThreadStatus.RESOLVED:
            triage.red_flag_clear(thread)
        triaged = triage.triage_message(thread, text=text)
        if thread.status in (ThreadStatus.NEW, ThreadStatus.RESOLVED):
            queueing.thread_enqueue(thread, reopened=thread.status == ThreadStatus.RESOLVED)
            enqueued = True
        elif triaged.changed:
            thread_save(thread, "awaiting_reply_since", "priority")
            thread_changed(thread, queue_changed=thread.status == ThreadStatus.QUEUED)
        if triaged.red_flag_reason:
            triage.red_flag_alert(thread, reason=triaged.red_flag_reason)
    elif was_unanswered:
        thread.unanswered = False
        thread_save(thread, "awaiting_reply_since", "unanswered", "first_response_at")
        thread_changed(thread, queue_changed=True)
    return _result(message, duplicate=False), enqueued


def _write(message: Message, thread: Thread, actor: Actor) -> bool:
    """Store the message unless its sender already sent this client_id, with the sender's
    read state and the thread's last_seq and reply clock; True if it was stored."""
    adapt = connection.ops.adapt_datetimefield_value
    row = _sql(
        f"INSERT INTO {_MESSAGES} {_MESSAGE_COLUMNS} "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) {_UNLESS_A_RETRY}",
        [
            message.thread_id,
            message.seq,
            message.sender_id,
            message.client_id,
            message.text,
            message.body,
            message.kind,
            message.event,
            adapt(message.created_at),
        ],
    )
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    _sql(
        f"INSERT INTO {_READ_STATES} (thread_id, user_id, read_seq) "  # noqa: S608
        f"VALUES (%s, %s, %s) {_READ_UP_TO_HERE}",
        [thread.pk, actor.id, message.seq],
        returns_rows=False,
    )
    _sql(
        f"UPDATE {_THREADS} "  # noqa: S608
        "SET last_seq = %s, awaiting_reply_since = %s, first_response_at = %s WHERE id = %s",
        [
            message.seq,
            adapt(thread.awaiting_reply_since),
            adapt(thread.first_response_at),
            thread.pk,
        ],
        returns_rows=False,
    )
    return True


def _sql(statement: str, params: list[Any], *, returns_rows: bool = True) -> tuple | None:
    """Run one statement of the hot path, prepared on PostgreSQL; its first row, if any.

    Whether it returns rows is the caller's to say: asking the cursor (``description``)
    builds its column objects, a few per cent of a message's CPU in the profile.
    """
    with prepared.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone() if returns_rows else None


def _check_can_reopen(thread: Thread) -> None:
    if (
        Thread.objects.filter(member_id=thread.member_id)
        .exclude(status=ThreadStatus.RESOLVED)
        .exists()
    ):
        raise conflict("you have another open thread; write there")


def _retry(actor: Actor, thread_id: int, client_id: str) -> SendResult | None:
    """The ack of the actor's earlier message with this client_id, if there is one."""
    message = (
        Message.objects.filter(thread_id=thread_id, sender_id=actor.id, client_id=client_id)
        .only("id", "thread_id", "seq", "client_id", "created_at")
        .first()
    )
    return None if message is None else _result(message, duplicate=True)


def _result(message: Message, *, duplicate: bool) -> SendResult:
    return SendResult(
        thread_id=message.thread_id,
        client_id=message.client_id or "",
        message_id=message.pk,
        seq=message.seq,
        created_at=iso(message.created_at) or "",
        duplicate=duplicate,
    )

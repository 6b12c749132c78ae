"""Flagging threads whose member has waited CHAT_UNANSWERED_SECONDS for a coach's reply.

The wait counts from her unanswered message, but never from before the thread's
latest assignment: a thread that waited in the queue, or was just transferred, was
flagged a second after its new coach got it, before she could have answered.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from chat import prepared
from chat.actions.notify import thread_changed, thread_save
from chat.models import Thread, ThreadEvent, ThreadEventKind, ThreadStatus

_OVERDUE = (
    f"SELECT id FROM {Thread._meta.db_table} "  # noqa: S608
    f"WHERE status = '{ThreadStatus.ACTIVE.value}' AND NOT unanswered "
    "AND awaiting_reply_since <= %s AND assigned_at <= %s LIMIT 100"
)


def unanswered_flag() -> int:
    """Flag overdue active threads (once each); returns how many were flagged."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.CHAT_UNANSWERED_SECONDS)
    overdue = Thread.objects.filter(
        status=ThreadStatus.ACTIVE,
        unanswered=False,
        awaiting_reply_since__lte=cutoff,
        assigned_at__lte=cutoff,
    )
    # Every second in every process, and almost always finding none: plain SQL (the
    # conditions of `overdue`, which re-reads each one under its lock), as compiling
    # the queryset cost more than running it (docs/benchmarks.md).
    at = connection.ops.adapt_datetimefield_value(cutoff)
    thread_ids = prepared.values(_OVERDUE, [at, at])
    flagged = 0
    for thread_id in thread_ids:
        with transaction.atomic():
            # Re-read under the lock: the coach may have replied a moment ago.
            thread = (
                overdue.select_for_update(skip_locked=True, of=("self",))
                .with_people()
                .filter(pk=thread_id)
                .first()
            )
            if thread is None:
                continue
            thread.unanswered = True
            waited = int((timezone.now() - thread.awaiting_reply_since).total_seconds())
            ThreadEvent.objects.create(
                thread=thread, kind=ThreadEventKind.UNANSWERED, data={"waited_seconds": waited}
            )
            thread_save(thread, "unanswered")
            thread_changed(thread, queue_changed=True)
            flagged += 1
    return flagged

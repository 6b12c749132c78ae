"""Flagging threads whose member has waited CHAT_UNANSWERED_SECONDS for a coach's reply."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.actions.notify import thread_changed, thread_save
from chat.models import Thread, ThreadEvent, ThreadEventKind, ThreadStatus


def unanswered_flag() -> int:
    """Flag overdue active threads (once each); returns how many were flagged."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.CHAT_UNANSWERED_SECONDS)
    overdue = Thread.objects.filter(
        status=ThreadStatus.ACTIVE, unanswered=False, awaiting_reply_since__lte=cutoff
    )
    flagged = 0
    for thread_id in list(overdue.values_list("pk", flat=True)[:100]):
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

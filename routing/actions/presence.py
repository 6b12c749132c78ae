"""Coach presence: the status she chose, and whether any of her sockets is connected.

Connected means a CoachSocket row on a live worker (a daphne process that
heartbeats), so it holds across processes and survives a killed process: its
rows are swept once it stops heartbeating. When a coach's last socket goes, her
grace period starts; past it, her active threads go back to the queue.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Actor, Role
from chat import prepared
from chat.access import require_role
from chat.actions.notify import queue_changed_event
from chat.events import frame_event, send_on_commit, user_group
from chat.frames import dumps
from chat.models import Thread, ThreadStatus
from coaches.models import CoachProfile, CoachStatus
from routing.actions.assignment import assign_waiting
from routing.actions.queueing import thread_requeue
from routing.models import AssignmentReason, CoachSocket, Worker

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def presence_frame(status: str) -> dict[str, Any]:
    return {"type": "presence", "status": status}


def presence_set(*, actor: Actor, status: str) -> dict[str, Any]:
    """A coach chooses online, away or offline; offline hands her threads back now."""
    require_role(actor, Role.COACH, "set presence")
    with transaction.atomic():
        if status == CoachStatus.OFFLINE:
            _requeue_threads_of(
                actor.id,
                reason=AssignmentReason.OFFLINE,
                text=f"{actor.name} has gone offline. You keep your place in the queue and "
                "the next free coach will pick up your conversation here.",
            )
        CoachProfile.objects.filter(user_id=actor.id).update(
            status=status, status_changed_at=timezone.now()
        )
        frame = presence_frame(status)
        send_on_commit(
            [frame_event(user_group(actor.id), dumps(frame), "presence"), queue_changed_event()]
        )
    # Online: she may take queued threads. Offline: hers are queued for others.
    assign_waiting()
    return frame


def coach_socket_open(*, actor: Actor, channel_name: str) -> str:
    """Record a coach's new socket; returns her chosen status."""
    with transaction.atomic():
        Worker.objects.update_or_create(
            id=WORKER_ID,
            defaults={"host": socket.gethostname(), "pid": os.getpid(), "seen_at": timezone.now()},
        )
        CoachSocket.objects.update_or_create(
            channel_name=channel_name, defaults={"coach_id": actor.id, "worker_id": WORKER_ID}
        )
        profile = CoachProfile.objects.select_for_update().get(user_id=actor.id)
        if profile.disconnected_at is not None:
            profile.disconnected_at = None
            profile.save(update_fields=["disconnected_at"])
        send_on_commit([queue_changed_event()])
        return profile.status


def coach_socket_close(*, actor: Actor, channel_name: str) -> None:
    """Forget a closed socket; the last one starts her grace period."""
    with transaction.atomic():
        CoachSocket.objects.filter(channel_name=channel_name).delete()
        if not CoachSocket.objects.filter(coach_id=actor.id).exists():
            CoachProfile.objects.filter(user_id=actor.id, disconnected_at__isnull=True).update(
                disconnected_at=timezone.now()
            )
        send_on_commit([queue_changed_event()])


def worker_heartbeat() -> None:
    Worker.objects.update_or_create(
        id=WORKER_ID,
        defaults={"host": socket.gethostname(), "pid": os.getpid(), "seen_at": timezone.now()},
    )


def workers_expire() -> int:
    """Drop dead workers and their sockets; coaches left with none start their grace
    period from the dead worker's last heartbeat. Returns how many workers were dropped."""
    # A worker that has not heartbeaten for this long is dead; its sockets are gone.
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.CHAT_WORKER_STALE_SECONDS)
    dead = list(Worker.objects.filter(seen_at__lt=cutoff).exclude(id=WORKER_ID))
    if not dead:
        return 0
    with transaction.atomic():
        for worker in dead:
            coach_ids = set(worker.sockets.values_list("coach_id", flat=True))
            worker.sockets.all().delete()
            for coach_id in coach_ids:
                if not CoachSocket.objects.filter(coach_id=coach_id).exists():
                    CoachProfile.objects.filter(
                        user_id=coach_id, disconnected_at__isnull=True
                    ).update(disconnected_at=worker.seen_at)
            worker.delete()
        send_on_commit([queue_changed_event()])
    return len(dead)


_GRACE_PAST = (
    f"SELECT DISTINCT p.user_id FROM {CoachProfile._meta.db_table} p "  # noqa: S608
    f"JOIN {Thread._meta.db_table} t ON t.coach_id = p.user_id "
    f"WHERE p.disconnected_at <= %s AND t.status = '{ThreadStatus.ACTIVE.value}'"
)


def grace_expire() -> int:
    """Requeue the active threads of coaches disconnected past their grace; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.CHAT_COACH_GRACE_SECONDS)
    # Every second in every process, and almost always finding nobody: plain SQL, as
    # compiling the queryset cost more than running it (docs/benchmarks.md).
    coach_ids = prepared.values(_GRACE_PAST, [connection.ops.adapt_datetimefield_value(cutoff)])
    requeued = 0
    for coach_id in coach_ids:
        with transaction.atomic():
            # Re-checked under the lock: she may have come back meanwhile.
            profile = CoachProfile.objects.select_for_update().get(user_id=coach_id)
            if profile.disconnected_at is None or profile.disconnected_at > cutoff:
                continue
            requeued += _requeue_threads_of(
                coach_id,
                reason=AssignmentReason.GRACE,
                text=f"{profile.display_name} lost her connection. You keep your place in the "
                "queue and the next free coach will pick up your conversation here.",
            )
    if requeued:
        assign_waiting()
    return requeued


def _requeue_threads_of(coach_id: int, *, reason: AssignmentReason, text: str) -> int:
    threads = list(
        Thread.objects.with_people()
        .select_for_update(of=("self",))
        .filter(coach_id=coach_id, status=ThreadStatus.ACTIVE)
        .order_by("id")
    )
    for thread in threads:
        thread_requeue(thread, reason=reason, actor_id=None, text=text)
    return len(threads)

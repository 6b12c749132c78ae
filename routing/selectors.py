"""Reads about the queue and the coaches: ranks, loads, availability, wait estimates."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from chat import rows
from chat.models import Message, Thread, ThreadStatus, ThreadTag
from coaches.models import CoachProfile, CoachStatus
from routing.models import CoachSocket, Priority

QUEUE_ORDER = ("priority", "enqueued_at", "id")
DEFAULT_HANDLE_SECONDS = 600
HANDLE_SAMPLE = 50
ETA_STEP_SECONDS = 30


def queued_threads() -> QuerySet[Thread]:
    """Queued threads in the order they are served: priority, then time waited."""
    return Thread.objects.filter(status=ThreadStatus.QUEUED).order_by(*QUEUE_ORDER)


def queue_head(*, lock: str = "", passed_over: Sequence[int] = ()) -> Thread | None:
    """The thread served next (the first of queued_threads but those `passed_over`),
    as one plain statement."""
    condition, params = "status = %s", [ThreadStatus.QUEUED, *passed_over]
    if passed_over:
        condition += f" AND id NOT IN ({rows.placeholders(passed_over)})"
    return Thread.objects.first_where(
        f"{condition} ORDER BY {', '.join(QUEUE_ORDER)}", params, lock=lock
    )


def thread_weight() -> Case:
    """An active thread's weight in its coach's load (urgent counts double by default)."""
    return Case(
        When(priority=Priority.URGENT, then=Value(settings.CHAT_URGENT_WEIGHT)),
        default=Value(1),
        output_field=IntegerField(),
    )


def weight_of(thread: Thread) -> int:
    return settings.CHAT_URGENT_WEIGHT if thread.priority == Priority.URGENT else 1


def queue_rank(thread: Thread) -> int:
    """1-based position of a queued thread: how many are served before it, plus one."""
    ahead = queued_threads().filter(
        Q(priority__lt=thread.priority)
        | Q(priority=thread.priority, enqueued_at__lt=thread.enqueued_at)
        | Q(priority=thread.priority, enqueued_at=thread.enqueued_at, id__lt=thread.pk)
    )
    return ahead.count() + 1


def coach_load(coach_id: int) -> int:
    """Her weighted load: the sum of her active threads' weights."""
    total = Thread.objects.filter(coach_id=coach_id, status=ThreadStatus.ACTIVE).aggregate(
        load=Sum(thread_weight())
    )["load"]
    return total or 0


def coaches_with_load(*, online: bool = False) -> list[CoachProfile]:
    """Active coaches' profiles, with `load`, `active` and `connected` set (by name).

    Three plain queries, joined here: loads grouped over active threads (by the
    (coach, status) index), the coaches with a socket, the profiles. Correlated
    subqueries per coach cost tens of milliseconds at 200 coaches (docs/benchmarks.md).
    """
    per_coach = {
        row["coach_id"]: row
        for row in Thread.objects.filter(status=ThreadStatus.ACTIVE)
        .order_by()
        .values("coach_id")
        .annotate(load=Sum(thread_weight()), active=Count("id"))
    }
    connected = set(CoachSocket.objects.values_list("coach_id", flat=True).distinct())
    profiles = CoachProfile.objects.filter(user__is_active=True).order_by("display_name", "pk")
    if online:
        profiles = profiles.filter(status=CoachStatus.ONLINE, user_id__in=connected)
    coaches = list(profiles)
    for coach in coaches:
        row = per_coach.get(coach.user_id, {})
        coach.load = row.get("load") or 0
        coach.active = row.get("active") or 0
        coach.connected = coach.user_id in connected
    return coaches


# Enough candidates for the rare decision whose first choice is taken by another
# process between this query and her row lock; the next sweep retries past them.
RANKED_CANDIDATES = 5


def ranked_coaches(thread: Thread, *, limit: int = RANKED_CANDIDATES) -> list[int]:
    """User ids of the coaches who may take `thread` now (online, connected, under
    capacity, and not the coach who passed it back to the queue), best first as
    DESIGN.md's routing policy ranks them: her previous coach, then most specialties
    among the thread's tags, lowest load, longest since last assigned (never assigned
    first), and the profile id to break ties.

    One statement, ranked by the database: reading every available coach's row and
    every coach's specialties to sort them here cost more than the query itself
    (docs/benchmarks.md). The caller still checks the chosen coach under her row lock.
    """
    profile, thread_table = CoachProfile._meta.db_table, Thread._meta.db_table
    user, sockets = get_user_model()._meta.db_table, CoachSocket._meta.db_table
    specialties = CoachProfile.specialties.through._meta.db_table
    thread_tags = ThreadTag._meta.db_table
    sql = f"""
        SELECT p.user_id
        FROM {profile} p
        JOIN {user} u ON u.id = p.user_id AND u.is_active
        LEFT JOIN (
            SELECT coach_id, SUM(CASE WHEN priority = %s THEN %s ELSE 1 END) AS load
            FROM {thread_table} WHERE status = %s GROUP BY coach_id
        ) l ON l.coach_id = p.user_id
        LEFT JOIN (
            SELECT s.coachprofile_id, COUNT(*) AS matches
            FROM {specialties} s JOIN {thread_tags} t ON t.tag_id = s.tag_id
            WHERE t.thread_id = %s GROUP BY s.coachprofile_id
        ) m ON m.coachprofile_id = p.id
        WHERE p.status = %s AND COALESCE(l.load, 0) < p.capacity AND p.user_id <> %s
          AND EXISTS (SELECT 1 FROM {sockets} s WHERE s.coach_id = p.user_id)
        ORDER BY CASE WHEN p.user_id = %s THEN 0 ELSE 1 END,
                 COALESCE(m.matches, 0) DESC, COALESCE(l.load, 0),
                 p.last_assigned_at NULLS FIRST, p.id
        LIMIT %s
    """  # noqa: S608 (table names from the models; values are parameters)
    params = [
        Priority.URGENT,
        settings.CHAT_URGENT_WEIGHT,
        ThreadStatus.ACTIVE,
        thread.pk,
        CoachStatus.ONLINE,
        thread.passed_by_id or 0,  # user ids start at 1
        thread.previous_coach_id,
        limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [user_id for (user_id,) in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class Floor:
    """What the wait estimate rests on: online coaches' slots and recent handle times."""

    online_coaches: int
    total_slots: int
    free_slots: int
    handle_seconds: float


def floor_now() -> Floor:
    coaches = coaches_with_load(online=True)
    total = sum(coach.capacity for coach in coaches)
    free = sum(max(coach.capacity - coach.load, 0) for coach in coaches)
    return Floor(
        online_coaches=len(coaches),
        total_slots=total,
        free_slots=free,
        handle_seconds=recent_handle_seconds(),
    )


def recent_handle_seconds() -> float:
    """Mean handle time of recently resolved threads (a default until there are some)."""
    since = timezone.now() - datetime.timedelta(days=30)
    sample = list(
        Thread.objects.filter(
            status=ThreadStatus.RESOLVED, resolved_at__gte=since, handle_seconds__gt=0
        )
        .order_by("-resolved_at")
        .values_list("handle_seconds", flat=True)[:HANDLE_SAMPLE]
    )
    if not sample:
        return float(DEFAULT_HANDLE_SECONDS)
    return sum(sample) / len(sample)


def eta_seconds(position: int, floor: Floor) -> int | None:
    """Estimated wait for the thread at this queue position; None when no coach is online.

    Threads within the free slots are about to be assigned. Past them, a slot
    frees up every handle_time / total_slots seconds on average.
    """
    if floor.online_coaches == 0 or floor.total_slots == 0:
        return None
    if position <= floor.free_slots:
        return 0
    ahead = position - floor.free_slots
    seconds = ahead * floor.handle_seconds / floor.total_slots
    return int(math.ceil(seconds / ETA_STEP_SECONDS) * ETA_STEP_SECONDS)


QUEUE_FRAME_THREADS = 50
FLAGGED_LIMIT = 100


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The queue and the floor, as the `queue` frame shows them."""

    total: int
    by_priority: dict[str, int]
    oldest: dict[str, datetime.datetime | None]  # the longest wait's start, per priority
    head: list[Thread]  # the first QUEUE_FRAME_THREADS, in rank order
    previews: dict[int, str]
    tags: dict[int, list[str]]
    flagged: list[Thread]  # active threads that are unanswered or urgent
    coaches: list[dict]
    floor: Floor


def queue_snapshot() -> QueueSnapshot:
    rows = {
        row["priority"]: row
        for row in Thread.objects.filter(status=ThreadStatus.QUEUED)
        .order_by()
        .values("priority")
        .annotate(n=Count("id"), oldest=Min("enqueued_at"))
    }
    by_priority = {Priority(p).label: rows[p]["n"] if p in rows else 0 for p in Priority.values}
    oldest = {Priority(p).label: rows[p]["oldest"] if p in rows else None for p in Priority.values}
    latest_member_text = (
        Message.objects.filter(thread=OuterRef("pk"), sender_id=OuterRef("member_id"))
        .order_by("-seq")
        .values("text")[:1]
    )
    head = list(
        queued_threads()
        .with_people()
        .annotate(preview=Subquery(latest_member_text))[:QUEUE_FRAME_THREADS]
    )
    flagged = list(
        Thread.objects.filter(status=ThreadStatus.ACTIVE)
        .filter(Q(unanswered=True) | Q(priority=Priority.URGENT))
        .with_people()
        .order_by("priority", "awaiting_reply_since", "id")[:FLAGGED_LIMIT]
    )
    profiles = coaches_with_load()
    coaches = [
        {
            "id": coach.user_id,
            "name": coach.display_name,
            "status": coach.status,
            "connected": coach.connected,
            "load": coach.load,
            "active": coach.active,
            "capacity": coach.capacity,
        }
        for coach in profiles
    ]
    online = [c for c in profiles if c.status == CoachStatus.ONLINE and c.connected]
    floor = Floor(
        online_coaches=len(online),
        total_slots=sum(c.capacity for c in online),
        free_slots=sum(max(c.capacity - c.load, 0) for c in online),
        handle_seconds=recent_handle_seconds(),
    )
    return QueueSnapshot(
        total=sum(by_priority.values()),
        by_priority=by_priority,
        oldest=oldest,
        head=head,
        previews={t.pk: t.preview or "" for t in head},
        tags=ThreadTag.objects.slugs_by_thread([t.pk for t in head] + [t.pk for t in flagged]),
        flagged=flagged,
        coaches=coaches,
        floor=floor,
    )

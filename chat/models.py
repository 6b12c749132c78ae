from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.utils import timezone

from chat import rows
from routing.models import Priority, Tag


class ThreadStatus(models.TextChoices):
    NEW = "new"
    QUEUED = "queued"
    ACTIVE = "active"
    RESOLVED = "resolved"


class ThreadQuerySet(models.QuerySet):
    def first_where(self, condition: str, params: list[Any], *, lock: str = "") -> Thread | None:
        """The first thread matching an SQL condition (and ORDER BY) on its own columns.

        For the statements every message and every assignment decision make: compiling
        a queryset, or running raw(), cost more than the query (docs/benchmarks.md).
        `lock` is appended where the backend locks rows ("FOR UPDATE", "FOR UPDATE SKIP
        LOCKED"); SQLite's write transactions are serialized anyway.
        """
        connection = connections[self.db]
        table = Thread._meta.db_table
        sql = f"SELECT {rows.columns(Thread)} FROM {table} WHERE {condition} LIMIT 1"  # noqa: S608
        if lock and connection.features.has_select_for_update:
            sql += f" {lock}"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else rows.from_row(Thread, row, connection)

    def with_people(self) -> ThreadQuerySet:
        """Load the member and coach with their profiles: what a thread object names."""
        # Both profiles of both people: a name is looked up on whichever exists,
        # and a relation not loaded here would cost a query per thread.
        return self.select_related(
            "member__member_profile",
            "member__coach_profile",
            "coach__coach_profile",
            "coach__member_profile",
        )


class Thread(models.Model):
    """A member's conversation with the coaching team, from first message to resolve."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member_threads"
    )
    coach = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coach_threads",
    )
    # Continuity: the coach who last held the thread, preferred when it is queued again.
    previous_coach = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The coach who sent the thread back to the queue: automatic assignment does not
    # hand it straight back to her (she may still claim it). Cleared when anyone takes it.
    passed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=8, choices=ThreadStatus.choices, default=ThreadStatus.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    # Rises with every change a client should see; clients keep the highest.
    version = models.PositiveIntegerField(default=1)
    last_seq = models.PositiveIntegerField(default=0)
    handoff_note = models.TextField(blank=True)
    # The member has written and no coach has answered since this moment.
    awaiting_reply_since = models.DateTimeField(null=True, blank=True)
    unanswered = models.BooleanField(default=False)
    # The queue position and estimate the member was last told, so that moves in
    # the queue are announced once, by whichever process notices first.
    notified_position = models.PositiveIntegerField(null=True, blank=True)
    notified_eta = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    # Queue order key. A thread requeued because its coach left keeps it, and so
    # keeps its place; queued_since is when its current stay in the queue began.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    queued_since = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Totals over every stay in the queue and with a coach (a thread can reopen).
    wait_seconds = models.PositiveIntegerField(default=0)
    handle_seconds = models.PositiveIntegerField(default=0)

    objects = ThreadQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=~Q(status="resolved"),
                name="one_unresolved_thread_per_member",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(coach__isnull=False),
                name="active_thread_has_coach",
            ),
            models.CheckConstraint(
                condition=~Q(status="queued")
                | (Q(enqueued_at__isnull=False) & Q(coach__isnull=True)),
                name="queued_thread_waits_without_coach",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "priority", "enqueued_at", "id"], name="thread_queue_order"
            ),
            models.Index(fields=["coach", "status"], name="thread_coach_status"),
            models.Index(fields=["member", "-created_at"], name="thread_member_recent"),
        ]

    def __str__(self) -> str:
        return f"thread {self.pk} ({self.status})"

    @property
    def priority_slug(self) -> str:
        return Priority(self.priority).label


class MessageKind(models.TextChoices):
    TEXT = "text"
    SYSTEM = "system"


class SystemEvent(models.TextChoices):
    """What a system message announces (the `event` field of a message object)."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    REQUEUED = "requeued"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    SAFETY = "safety"


class Message(models.Model):
    """One line in a thread. `seq` is 1, 2, 3 … per thread with no gaps."""

    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # NULL, not "", for system messages: the unique constraint skips NULLs.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    text = models.TextField()
    body = models.TextField()
    kind = models.CharField(max_length=8, choices=MessageKind.choices, default=MessageKind.TEXT)
    event = models.CharField(max_length=12, choices=SystemEvent.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Also the index for keyset pages: WHERE thread = ? AND seq < ? ORDER BY seq.
            models.UniqueConstraint(fields=["thread", "seq"], name="message_seq_unique"),
            # Idempotent sends: a retried client_id finds the first message.
            models.UniqueConstraint(
                fields=["thread", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"thread {self.thread_id} #{self.seq}"


class ReadStateQuerySet(models.QuerySet):
    def of_participants(self, threads: list[Thread]) -> dict[int, dict[str, int | None]]:
        """How far each thread's member and assigned coach have read (coach None: none)."""
        seen: dict[tuple[int, int], int] = {}
        if threads:
            # Plain SQL: every thread frame reads this, and the OR of one condition per
            # thread cost more to compile than to run (docs/benchmarks.md).
            conditions, params = [], []
            for thread in threads:
                people = [thread.member_id] + ([thread.coach_id] if thread.coach_id else [])
                conditions.append(f"(thread_id = %s AND user_id IN ({rows.placeholders(people)}))")
                params += [thread.pk, *people]
            connection = connections[self.db]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT thread_id, user_id, read_seq FROM {ReadState._meta.db_table} "  # noqa: S608
                    f"WHERE {' OR '.join(conditions)}",
                    params,
                )
                seen = {(thread_id, user_id): read_seq for thread_id, user_id, read_seq in cursor}
        return {
            thread.pk: {
                "member": seen.get((thread.pk, thread.member_id), 0),
                "coach": seen.get((thread.pk, thread.coach_id), 0) if thread.coach_id else None,
            }
            for thread in threads
        }


class ReadState(models.Model):
    """How far a user has read a thread."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="read_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_seq = models.PositiveIntegerField(default=0)

    objects = ReadStateQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="read_state_unique"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} read thread {self.thread_id} to {self.read_seq}"


class TagSource(models.TextChoices):
    RULE = "rule"
    COACH = "coach"
    SUPERVISOR = "supervisor"


class ThreadTagQuerySet(models.QuerySet):
    def slugs_by_thread(self, thread_ids: list[int]) -> dict[int, list[str]]:
        """Each thread's tag slugs, sorted (threads without tags are absent).

        Plain SQL, as of_participants: every staff thread frame reads it.
        """
        slugs: dict[int, list[str]] = {}
        if not thread_ids:
            return slugs
        connection = connections[self.db]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT tt.thread_id, t.slug FROM {ThreadTag._meta.db_table} tt "  # noqa: S608
                f"JOIN {Tag._meta.db_table} t ON t.id = tt.tag_id "
                f"WHERE tt.thread_id IN ({rows.placeholders(thread_ids)}) ORDER BY t.slug",
                list(thread_ids),
            )
            for thread_id, slug in cursor:
                slugs.setdefault(thread_id, []).append(slug)
        return slugs


class ThreadTag(models.Model):
    """A tag on a thread, with who put it there. Rules never remove a person's tag."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="thread_tags")
    tag = models.ForeignKey("routing.Tag", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12, choices=TagSource.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    objects = ThreadTagQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "tag"], name="thread_tag_unique"),
        ]

    def __str__(self) -> str:
        return f"thread {self.thread_id}: {self.tag_id} ({self.source})"


class ThreadEventKind(models.TextChoices):
    TAG_ADDED = "tag_added"
    TAG_REMOVED = "tag_removed"
    PRIORITY = "priority"
    RED_FLAG = "red_flag"
    UNANSWERED = "unanswered"


class ThreadEvent(models.Model):
    """What happened to a thread that is not a message: the staff side of a transcript."""

    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=ThreadEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["thread", "created_at"])]

    def __str__(self) -> str:
        return f"thread {self.thread_id}: {self.kind}"


class TranscriptAction(models.TextChoices):
    VIEW = "view"
    EXPORT = "export"
    WATCH = "watch"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("transcript access records are append-only")

    def delete(self) -> NoReturn:
        raise PermissionError("transcript access records are append-only")


class TranscriptAccess(models.Model):
    """Who read which transcript, how and when. Append-only: never edited, never deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=12)
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="accesses")
    action = models.CharField(max_length=8, choices=TranscriptAction.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "transcript accesses"

    def __str__(self) -> str:
        return f"{self.role} {self.user_id} {self.action} thread {self.thread_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("transcript access records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("transcript access records are append-only")

from __future__ import annotations

from django.conf import settings
from django.db import connections, models
from django.utils import timezone

from chat import rows


class Priority(models.IntegerChoices):
    """Queue order: a lower number is served first. Labels are the wire slugs."""

    URGENT = 0, "urgent"
    HIGH = 1, "high"
    NORMAL = 2, "normal"


class Tag(models.Model):
    """A triage tag. Slugs are part of the wire protocol; edit names freely, slugs never."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices,
        default=Priority.NORMAL,
        help_text="The least urgent priority a thread with this tag may have.",
    )
    is_red_flag = models.BooleanField(
        default=False,
        help_text="Urgent safety concern: safety notice to the member, alert to supervisors.",
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class RuleKind(models.TextChoices):
    MATCH = "match", "Adds the tag"
    EXCLUDE = "exclude", "Blocks the tag when it matches"


class TriageRule(models.Model):
    """One phrase that tags a member's message. The phrase language is in routing/triage.py."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="rules")
    phrase = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=RuleKind.choices, default=RuleKind.MATCH)
    negatable = models.BooleanField(
        default=True,
        help_text='Context may cancel it: a negation ("no fever"), someone else ("my sister '
        'had chest pain"), something over ("it\'s gone now"), and for red flags a '
        "hypothetical or past pregnancy. Untick for phrases that must always alert.",
    )
    active = models.BooleanField(default=True)
    note = models.CharField(
        max_length=200,
        blank=True,
        help_text="For red flags, the reason staff read in the alert (else the member's words).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tag__slug", "kind", "phrase"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "phrase", "kind"], name="triage_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.tag.slug}: {self.phrase}"


class AssignmentReason(models.TextChoices):
    AUTO = "auto", "Assigned from the queue"
    CLAIM = "claim", "Claimed by the coach"
    TRANSFER = "transfer", "Transferred to a coach"
    TO_QUEUE = "to_queue", "Transferred back to the queue"
    OFFLINE = "offline", "Coach went offline"
    GRACE = "grace", "Coach disconnected past the grace period"
    RESOLVED = "resolved", "Resolved"


class AssignmentQuerySet(models.QuerySet):
    def record(
        self,
        *,
        thread: models.Model,
        from_coach_id: int | None,
        to_coach_id: int | None,
        reason: str,
        actor_id: int | None,
        note: str = "",
    ) -> Assignment:
        """Append one change of hands, in the writer's transaction.

        Written without compiling save(): every assignment decision appends one
        (chat/rows.py, docs/benchmarks.md).
        """
        assignment = Assignment(
            thread=thread,
            from_coach_id=from_coach_id,
            to_coach_id=to_coach_id,
            reason=reason,
            actor_id=actor_id,
            note=note,
        )
        rows.insert(assignment, connections[self.db])
        return assignment


class Assignment(models.Model):
    """Append-only history of who held a thread: from, to, why, when."""

    thread = models.ForeignKey("chat.Thread", on_delete=models.PROTECT, related_name="assignments")
    from_coach = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    to_coach = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=12, choices=AssignmentReason.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["thread", "created_at"])]

    def __str__(self) -> str:
        return f"thread {self.thread_id}: {self.reason}"


class Worker(models.Model):
    """A daphne process, alive while it heartbeats. Presence and timers hang off it."""

    id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.id


class CoachSocket(models.Model):
    """One open socket of a coach, on some worker: 'connected' across processes."""

    channel_name = models.CharField(max_length=200, primary_key=True)
    coach = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coach_sockets"
    )
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="sockets")
    connected_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"coach {self.coach_id} on {self.worker_id}"

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CoachStatus(models.TextChoices):
    ONLINE = "online", "Online (takes new threads)"
    AWAY = "away", "Away (keeps hers, takes no new ones)"
    OFFLINE = "offline", "Offline"


class CoachProfile(models.Model):
    """A pelvic-floor-informed coach: who works the queue in the console."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coach_profile"
    )
    display_name = models.CharField(max_length=80)
    specialties = models.ManyToManyField("routing.Tag", blank=True, related_name="coaches")
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text="Most weighted load she takes from the queue (urgent threads weigh 2)."
    )
    # The status she chose; it persists across connections. Whether she is
    # connected right now is in routing.CoachSocket.
    status = models.CharField(
        max_length=8, choices=CoachStatus.choices, default=CoachStatus.OFFLINE
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    credentials = models.TextField(blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # When her last socket went away; the grace timer runs from here.
    disconnected_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return self.display_name


class CannedReply(models.Model):
    """A reply coaches insert into the composer; managed in the admin."""

    title = models.CharField(max_length=80, unique=True)
    body = models.TextField(max_length=4000)
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title

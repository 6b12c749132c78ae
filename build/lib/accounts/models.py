from __future__ import annotations

from django.db import models


class LoginThrottle(models.Model):
    """Failed logins per account (not per address: a clinic shares one)."""

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.username}: {self.failures} failures"

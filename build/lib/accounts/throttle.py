"""Failed-login throttling per account.

After LOGIN_FAILURES_ALLOWED failures in a row an account is locked for
LOGIN_LOCKOUT_SECONDS, doubling with each further lock (capped at an hour);
while locked, attempts are refused without checking the password, so guessing
gains nothing. Keyed by the username typed, known or not, so the lock reveals
nothing about which accounts exist. A correct password outside a lock is never
delayed, and clears the count.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import LoginThrottle

MAX_LOCK_SECONDS = 3600


def _key(username: str) -> str:
    return username.strip().lower()[:150]


def seconds_locked(username: str) -> int:
    """How long this account must wait before the next attempt (0: go ahead)."""
    row = LoginThrottle.objects.filter(username=_key(username)).first()
    if row is None or row.locked_until is None:
        return 0
    remaining = (row.locked_until - timezone.now()).total_seconds()
    return max(0, int(remaining + 0.999))


@transaction.atomic
def record_failure(username: str) -> None:
    row, _ = LoginThrottle.objects.select_for_update().get_or_create(username=_key(username))
    now = timezone.now()
    row.failures += 1
    row.last_failure_at = now
    allowed = settings.LOGIN_FAILURES_ALLOWED
    if row.failures >= allowed and row.failures % allowed == 0:
        doublings = row.failures // allowed - 1
        seconds = min(settings.LOGIN_LOCKOUT_SECONDS * 2**doublings, MAX_LOCK_SECONDS)
        row.locked_until = now + datetime.timedelta(seconds=seconds)
    row.save()


def record_success(username: str) -> None:
    LoginThrottle.objects.filter(username=_key(username)).delete()

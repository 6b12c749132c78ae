from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class DeliveryType(models.TextChoices):
    VAGINAL = "vaginal", "Vaginal birth"
    ASSISTED = "assisted", "Assisted vaginal birth (forceps or vacuum)"
    PLANNED_CESAREAN = "planned-cesarean", "Planned caesarean"
    UNPLANNED_CESAREAN = "unplanned-cesarean", "Unplanned caesarean"
    UNKNOWN = "unknown", "Not said"


class MemberProfile(models.Model):
    """A programme member: the person who chats from the portal."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_profile"
    )
    display_name = models.CharField(max_length=80)
    baby_birth_date = models.DateField(null=True, blank=True)
    delivery_type = models.CharField(
        max_length=24, choices=DeliveryType.choices, default=DeliveryType.UNKNOWN
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.display_name

    @property
    def weeks_postpartum(self) -> int | None:
        """Whole weeks since the birth, or None when the date is not known."""
        if self.baby_birth_date is None:
            return None
        days = (timezone.localdate() - self.baby_birth_date).days
        return max(days, 0) // 7

    def set_weeks_postpartum(self, weeks: int, *, today: datetime.date | None = None) -> None:
        """Record the birth date from 'N weeks postpartum', as members often say it."""
        today = today or timezone.localdate()
        self.baby_birth_date = today - datetime.timedelta(weeks=weeks)

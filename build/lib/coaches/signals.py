"""A coach's specialties edited here take effect in this process's routing at once."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from coaches.models import CoachProfile
from routing.actions.assignment import specialties_forget


@receiver(m2m_changed, sender=CoachProfile.specialties.through)
@receiver([post_save, post_delete], sender=CoachProfile)
def forget_specialties(sender: Any, **kwargs: Any) -> None:
    specialties_forget()

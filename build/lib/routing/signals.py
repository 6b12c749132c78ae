"""Edits to the tag catalogue or the triage rules take effect at once in this process
(other processes see them within seconds: routing/ticker.py checks the version)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from routing.models import Tag, TriageRule
from routing.triage import catalogue


@receiver([post_save, post_delete], sender=TriageRule)
@receiver([post_save, post_delete], sender=Tag)
def invalidate_triage_rules(sender: Any, **kwargs: Any) -> None:
    catalogue.invalidate()

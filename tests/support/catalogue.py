"""The seeded tag catalogue, restored for tests that flush the database."""

from __future__ import annotations

import importlib

from django.apps import apps

from routing.models import Tag

_seed = importlib.import_module("routing.migrations.0002_seed_catalogue")


def ensure_catalogue() -> None:
    """Re-run the catalogue's data migration if a flush emptied it."""
    if not Tag.objects.exists():
        _seed.seed(apps, None)

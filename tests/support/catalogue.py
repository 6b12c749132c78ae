"""The seeded tag catalogue, restored for tests that flush the database."""

from __future__ import annotations

import importlib

from django.db import transaction

from routing.models import Tag, TriageRule

_seed = importlib.import_module("routing.migrations.0002_seed_catalogue")
# Later data migrations that add rules, in migration order.
_rule_migrations = [importlib.import_module("routing.migrations.0004_audit_phrasings")]


def _rule_rows() -> list[tuple[str, str, str, bool]]:
    """Every seeded rule; a later migration's row for the same phrase wins, as its
    update_or_create does."""
    rows = {}
    for module in (_seed, *_rule_migrations):
        for slug, phrase, kind, negatable in module.rule_rows():
            rows[slug, phrase, kind] = negatable
    return [(slug, phrase, kind, negatable) for (slug, phrase, kind), negatable in rows.items()]


def ensure_catalogue() -> None:
    """Restore what the catalogue's data migrations store, if a flush emptied it.

    The same rows (the migrations' own TAGS and rule_rows()), inserted in bulk: the
    migration's idempotent statement a row took ~3 s a test on PostgreSQL, most of
    the PostgreSQL pass's time.
    """
    if Tag.objects.exists():
        return
    with transaction.atomic():
        Tag.objects.bulk_create(
            Tag(slug=slug, name=name, priority=priority, is_red_flag=red_flag, description=text)
            for slug, name, priority, red_flag, text in _seed.TAGS
        )
        tag_ids = dict(Tag.objects.values_list("slug", "pk"))
        TriageRule.objects.bulk_create(
            TriageRule(tag_id=tag_ids[slug], phrase=phrase, kind=kind, negatable=negatable)
            for slug, phrase, kind, negatable in _rule_rows()
        )

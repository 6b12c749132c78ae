"""The catalogue the tests restore after a flush (tests/support/catalogue.py) is the one
the data migration seeds, so triage is tested against what production holds."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from routing.models import Tag, TriageRule
from tests.support.catalogue import ensure_catalogue

pytestmark = pytest.mark.django_db


def catalogue() -> tuple[set, set]:
    tags = set(Tag.objects.values_list("slug", "name", "priority", "is_red_flag", "description"))
    rules = set(TriageRule.objects.values_list("tag__slug", "phrase", "kind", "negatable"))
    return tags, rules


def test_the_restored_catalogue_is_the_migrated_one():
    migrated = catalogue()
    assert len(migrated[0]) >= 10 and len(migrated[1]) >= 200

    TriageRule.objects.all().delete()
    Tag.objects.all().delete()
    ensure_catalogue()

    assert catalogue() == migrated


def test_the_audit_rules_migration_is_idempotent_and_reversible():
    audit = importlib.import_module("routing.migrations.0004_audit_phrasings")
    migrated = catalogue()
    added = {(slug, phrase, kind, negatable) for slug, phrase, kind, negatable in audit.rule_rows()}
    assert added <= migrated[1]

    audit.seed(apps, None)
    assert catalogue() == migrated

    audit.unseed(apps, None)
    assert catalogue()[1] == migrated[1] - added
    audit.seed(apps, None)
    assert catalogue() == migrated


def test_every_seeded_phrase_fits_its_column():
    # SQLite stores a longer phrase without a word; PostgreSQL refused the migration.
    limit = TriageRule._meta.get_field("phrase").max_length
    too_long = [
        phrase
        for phrase in TriageRule.objects.values_list("phrase", flat=True)
        if len(phrase) > limit
    ]
    assert not too_long

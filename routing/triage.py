"""Triage: which tags a member's message earns, from the admin-editable rules.

The rules are rows (routing.models.TriageRule), compiled once per process and
recompiled when the catalogue changes (signals in this process, the ticker's
version check for the others).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from django.db.models import Max

from routing.models import RuleKind, Tag, TriageRule


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Tags a text earns, and for red flags the phrases that raised them."""

    tags: frozenset[str]
    red_flag_reasons: tuple[str, ...] = ()

    @property
    def red_flag(self) -> bool:
        return bool(self.red_flag_reasons)


@dataclass(frozen=True, slots=True)
class _Rule:
    slug: str
    phrase: str
    pattern: re.Pattern[str]
    kind: str
    negatable: bool


class _Catalogue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] | None = None
        self._red_flags: frozenset[str] = frozenset()
        self._version: tuple | None = None

    def rules(self) -> tuple[list[_Rule], frozenset[str]]:
        with self._lock:
            if self._rules is None:
                self._load()
            return self._rules, self._red_flags

    def invalidate(self) -> None:
        with self._lock:
            self._rules = None

    def refresh_if_changed(self) -> None:
        version = catalogue_version()
        with self._lock:
            if version != self._version:
                self._rules = None

    def _load(self) -> None:
        self._version = catalogue_version()
        tags = Tag.objects.filter(active=True)
        self._red_flags = frozenset(tag.slug for tag in tags if tag.is_red_flag)
        self._rules = [
            _Rule(rule.tag.slug, rule.phrase, _compile(rule.phrase), rule.kind, rule.negatable)
            for rule in TriageRule.objects.select_related("tag").filter(
                active=True, tag__active=True
            )
        ]


def catalogue_version() -> tuple:
    return (
        TriageRule.objects.aggregate(at=Max("updated_at"), n=Max("id"))["at"],
        Tag.objects.aggregate(at=Max("updated_at"))["at"],
        TriageRule.objects.count(),
    )


def _compile(phrase: str) -> re.Pattern[str]:
    words = [re.escape(word).replace(r"\*", r"\w*") for word in phrase.lower().split()]
    return re.compile(r"\b" + r"\W+".join(words) + r"\b")


catalogue = _Catalogue()

NEGATIONS = ("no", "not", "never", "without", "denies", "don't have", "didn't have")


def triage_text(text: str) -> TriageResult:
    """Tags for a member's message."""
    rules, red_flag_slugs = catalogue.rules()
    lowered = text.lower()
    matched: dict[str, list[str]] = {}
    excluded: set[str] = set()
    for rule in rules:
        for found in rule.pattern.finditer(lowered):
            if rule.negatable and _negated(lowered, found.start()):
                continue
            if rule.kind == RuleKind.EXCLUDE:
                excluded.add(rule.slug)
            else:
                matched.setdefault(rule.slug, []).append(rule.phrase)
            break
    tags = frozenset(matched) - excluded
    reasons = tuple(phrase for slug in sorted(tags & red_flag_slugs) for phrase in matched[slug])
    return TriageResult(tags=tags, red_flag_reasons=reasons)


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 20) : start]
    return any(re.search(rf"\b{re.escape(word)}\W+(\w+\W+)?$", before) for word in NEGATIONS)

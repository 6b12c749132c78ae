"""The labelled corpus through the real engine and the seeded rules.

Labelling rules are in docs/triage.md; the corpus is labelled as a clinician would
read each message, not to fit the rules. Run with -s to see the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from routing.models import Tag
from routing.triage import catalogue, triage_text

CORPUS = Path(__file__).resolve().parent.parent / "data" / "triage_corpus.jsonl"
RED_FLAG = "red-flag"
RED_FLAG_MIN_PRECISION = 0.90
TAG_MIN_F1 = 0.85


def load_corpus() -> list[tuple[str, frozenset[str]]]:
    rows = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            assert set(row) == {"text", "tags"}, f"line {number}: {row}"
            rows.append((row["text"], frozenset(row["tags"])))
    return rows


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(corpus: list[tuple[str, frozenset[str]]], slugs: list[str]) -> dict[str, Score]:
    scores = {slug: Score() for slug in slugs}
    for text, expected in corpus:
        got = triage_text(text).tags
        for slug, s in scores.items():
            if slug in got and slug in expected:
                s.tp += 1
            elif slug in got:
                s.fp += 1
                s.false_alarms.append(text)
            elif slug in expected:
                s.fn += 1
                s.misses.append(text)
    return scores


def table(scores: dict[str, Score]) -> str:
    lines = [
        f"{'tag':<18} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6} {'f1':>6}"
    ]
    for slug, s in scores.items():
        lines.append(
            f"{slug:<18} {s.tp + s.fn:>4} {s.tp:>4} {s.fp:>4} {s.fn:>4} "
            f"{s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f}"
        )
    return "\n".join(lines)


def details(scores: dict[str, Score]) -> str:
    out = []
    for slug, s in scores.items():
        out += [f"  {slug} missed: {text}" for text in s.misses]
        out += [f"  {slug} wrongly: {text}" for text in s.false_alarms]
    return "\n".join(out)


def test_corpus_is_big_and_varied_enough():
    corpus = load_corpus()
    known = {slug for _, tags in corpus for slug in tags}
    red = [text for text, tags in corpus if RED_FLAG in tags]
    assert len(corpus) >= 250
    assert len(red) >= 60
    assert len({text for text, _ in corpus}) == len(corpus), "duplicate messages"
    assert known <= {row[0] for row in _seeded_slugs()}


def _seeded_slugs():
    from importlib import import_module

    return import_module("routing.migrations.0002_seed_catalogue").TAGS


@pytest.mark.django_db
def test_corpus_precision_and_recall():
    catalogue.invalidate()
    corpus = load_corpus()
    slugs = list(Tag.objects.filter(active=True).order_by("slug").values_list("slug", flat=True))
    scores = score(corpus, slugs)
    report = table(scores)
    print(f"\ntriage corpus: {len(corpus)} messages\n{report}")

    red = scores[RED_FLAG]
    weak = [
        slug for slug, s in scores.items() if slug != RED_FLAG and s.tp + s.fn and s.f1 < TAG_MIN_F1
    ]
    message = f"\n{report}\n{details(scores)}"
    assert red.recall == 1.0, f"red flags missed{message}"
    assert red.precision >= RED_FLAG_MIN_PRECISION, f"too many false red flags{message}"
    assert not weak, f"F1 below {TAG_MIN_F1} for {weak}{message}"

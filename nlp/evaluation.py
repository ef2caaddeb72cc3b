"""Span-level scoring of a PHI detector against annotated text.

Spans are compared by Safe Harbor identifier (`nlp.entities.SAFE_HARBOR`), so detectors that
name types differently (Presidio's DATE_TIME, ours DATE) are compared on what matters. A gold
span is found when a predicted span of the same identifier overlaps it; a predicted span is
correct when it overlaps a gold span of the same identifier. Predicted spans that overlap
text annotated as "not PHI but ambiguous" (an organisation, a country, a year) count neither
way; those are reported apart as a flag rate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    label: str  # a Safe Harbor identifier, or for ignored gold spans their source type

    def overlaps(self, other: Mark) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass
class Example:
    gold: list[Mark]
    predicted: list[Mark]
    ignored: list[Mark] = field(default_factory=list)  # gold text that is not PHI


@dataclass
class Counts:
    support: int = 0   # gold spans
    found: int = 0     # gold spans overlapped by a prediction of the same identifier
    predicted: int = 0
    correct: int = 0   # predictions overlapping a gold span of the same identifier

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else (1.0 if not self.support else 0.0)

    @property
    def recall(self) -> float:
        return self.found / self.support if self.support else 1.0

    def f_beta(self, beta: float = 2.0) -> float:
        p, r = self.precision, self.recall
        return (1 + beta ** 2) * p * r / (beta ** 2 * p + r) if p + r else 0.0


@dataclass
class Report:
    by_label: dict[str, Counts]
    typed: Counts      # micro over identifiers: the identifier must match
    untyped: Counts    # any PHI prediction at the place of any PHI span
    ignored_flagged: dict[str, tuple[int, int]]  # ignored type -> (flagged, total)
    clean_examples: int = 0
    clean_flagged: int = 0


def score(examples: Iterable[Example]) -> Report:
    by_label: dict[str, Counts] = defaultdict(Counts)
    typed, untyped = Counts(), Counts()
    ignored_flagged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    clean_examples = clean_flagged = 0
    for example in examples:
        for gold in example.gold:
            hit = any(p.label == gold.label and p.overlaps(gold) for p in example.predicted)
            by_label[gold.label].support += 1
            by_label[gold.label].found += hit
            typed.support += 1
            typed.found += hit
            untyped.support += 1
            untyped.found += any(p.overlaps(gold) for p in example.predicted)
        for predicted in example.predicted:
            if not any(g.overlaps(predicted) for g in example.gold) and any(
                    i.overlaps(predicted) for i in example.ignored):
                continue  # on text that is not PHI yet not plainly clean: neither way
            right = any(g.label == predicted.label and g.overlaps(predicted) for g in example.gold)
            by_label[predicted.label].predicted += 1
            by_label[predicted.label].correct += right
            typed.predicted += 1
            typed.correct += right
            untyped.predicted += 1
            untyped.correct += any(g.overlaps(predicted) for g in example.gold)
        for ignored in example.ignored:
            ignored_flagged[ignored.label][1] += 1
            ignored_flagged[ignored.label][0] += any(p.overlaps(ignored) for p in example.predicted)
        if not example.gold:
            clean_examples += 1
            clean_flagged += bool(example.predicted)
    return Report(dict(sorted(by_label.items())), typed, untyped,
                  {k: (v[0], v[1]) for k, v in sorted(ignored_flagged.items())},
                  clean_examples, clean_flagged)


def percentiles(values: list[float], *qs: float) -> list[float]:
    ordered = sorted(values)
    result = []
    for q in qs:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        result.append(ordered[index])
    return result


def label_counts(examples: Iterable[Example]) -> Counter:
    return Counter(mark.label for example in examples for mark in example.gold)

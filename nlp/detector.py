"""The PHI detector for free text: Presidio's analyzer, a spaCy model, clinical recognizers.

Implements `moderation.phi.PhiTextDetector`. Built once per service by `build_detector`,
named in settings (`[phi] detector`), with its options from `[phi.options]`.
"""

from __future__ import annotations

import re

import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

from moderation.schemas import Span
from nlp.allow_list import AllowList
from nlp.config import PhiDetectorOptions
from nlp.engine import PhiNlpEngine, quiet_presidio_logs
from nlp.entities import AUTHOR, FROM_PRESIDIO, PATIENT, PHI_ENTITIES
from nlp.recognizers import author_names, clinical_recognizers

# The public suffix list that ships inside tldextract; never fetched (no network here).
OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
MONTH_OR_NUMERIC_DATE = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b|\d{1,4}[/\-.]\d{1,2}",
    re.IGNORECASE)
FAX_BEFORE = re.compile(r"\bfax\b[^\d]{0,12}$", re.IGNORECASE)
WARM_UP = "Seen on June 3, 2024 by Mr. Smith at 12 Main Street (MRN 123456)."
AUTHOR_TYPES = {"AUTHOR_PERSON": "PERSON", "AUTHOR_ORGANIZATION": "ORGANIZATION"}


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return OFFLINE_TLD_EXTRACT(pattern_text).fqdn != ""


def presidio_recognizers() -> list:
    """Presidio's own recognizers for the Safe Harbor identifiers it covers."""
    return [
        OfflineEmailRecognizer(), UrlRecognizer(), IpRecognizer(), UsSsnRecognizer(),
        PhoneRecognizer(supported_regions=("US", "CA", "GB")),
        CreditCardRecognizer(), IbanRecognizer(),
    ]


class PresidioPhiDetector:
    name = "phi-text"
    version = "1.0"

    def __init__(self, options: PhiDetectorOptions) -> None:
        quiet_presidio_logs()
        self.options = options
        nlp_engine = PhiNlpEngine(options.spacy_model, options.spacy_disable, options.ner_score)
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION",
                                                                    "DATE_TIME"]))
        for recognizer in presidio_recognizers() + clinical_recognizers() + author_names(
                options.author_names, options.practice_names):
            registry.add_recognizer(recognizer)
        for recognizer in registry.recognizers:
            extra = self._extra_context(recognizer.supported_entities)
            if extra:
                recognizer.context = list(recognizer.context or []) + extra
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
            default_score_threshold=0.0,
            context_aware_enhancer=LemmaContextAwareEnhancer(context_prefix_count=6,
                                                             context_suffix_count=1),
        )
        self.allow_list = AllowList(options.allow_list, options.allow_patterns)
        self.clinician_titles = {t.lower().rstrip(".") for t in options.clinician_titles}
        self.analyze(WARM_UP, context="description")  # the first call pays one-off set-up


    def _extra_context(self, entities: list[str]) -> list[str]:
        words = []
        for entity in entities:
            ours = entity if entity in PHI_ENTITIES else FROM_PRESIDIO.get(entity, entity)
            words += self.options.context_words.get(ours, [])
        return words

    # ------------------------------------------------------------------ analysis

    def analyze(self, text: str, context: str | None = None) -> list[Span]:
        if not text or not text.strip():
            return []
        context_words = [w for w in re.split(r"[\W_]+", context or "") if w] or None
        results = self.analyzer.analyze(text=text, language="en", context=context_words)
        covered = self.allow_list.covered(text)
        spans = []
        for result in results:
            span = self._to_span(text, result, covered)
            if span is not None:
                spans.append(span)
        return _resolve_overlaps(spans)

    def _to_span(self, text: str, result: RecognizerResult,
                 covered: list[tuple[int, int]]) -> Span | None:
        start, end = result.start, result.end
        if result.entity_type in AUTHOR_TYPES:
            return Span(start=start, end=end, entity_type=AUTHOR_TYPES[result.entity_type],
                        score=round(result.score, 4), category=AUTHOR)
        entity = result.entity_type if result.entity_type in PHI_ENTITIES \
            else FROM_PRESIDIO.get(result.entity_type)
        if entity is None:
            return None
        if result.entity_type == "DATE_TIME" and not MONTH_OR_NUMERIC_DATE.search(
                text, start, end):
            return None  # spaCy's DATE holds durations, years and seasons: none is PHI
        if entity == "PERSON" and self._after_clinician_title(text, start):
            return None
        if entity == "PHONE_NUMBER" and FAX_BEFORE.search(text, max(0, start - 20), start):
            entity = "FAX_NUMBER"
        if result.score < self.options.threshold_for(entity):
            return None
        if self.allow_list.allows(text, start, end, covered):
            return None
        return Span(start=start, end=end, entity_type=entity, score=round(result.score, 4),
                    category=PATIENT)

    def _after_clinician_title(self, text: str, start: int) -> bool:
        before = re.search(r"(\w+)\.?\s*$", text[max(0, start - 12):start])
        return bool(before) and before.group(1).lower() in self.clinician_titles


def _resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Where spans overlap, keep the author's, then the higher score, then the longer."""
    ranked = sorted(spans, key=lambda s: (s.category != AUTHOR, -s.score, -(s.end - s.start)))
    kept: list[Span] = []
    for span in ranked:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def build_detector(**options: object) -> PresidioPhiDetector:
    """The factory named in settings: `[phi] detector = "nlp.detector:build_detector"`."""
    return PresidioPhiDetector(PhiDetectorOptions.model_validate(options))

"""The PHI detector for free text: Presidio's analyzer, a spaCy model, clinical recognizers.

Implements `moderation.phi.PhiTextDetector`. Built once per service by `build_detector`,
named in settings (`[phi] detector`), with its options from `[phi.options]`.
"""

from __future__ import annotations

import bisect
import re

import phonenumbers
import tldextract
from pydantic import ValidationError
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
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
from nlp.context import WindowContextEnhancer
from nlp.engine import PhiNlpEngine, quiet_presidio_logs
from nlp.entities import AUTHOR, FROM_PRESIDIO, PATIENT, PHI_ENTITIES
from nlp.recognizers import NameLineRecognizer, author_names, clinical_recognizers

# The public suffix list that ships inside tldextract; never fetched (no network here).
OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
MONTH_OR_NUMERIC_DATE = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b|\d{1,4}[/\-.]\d{1,2}",
    re.IGNORECASE)
FAX_BEFORE = re.compile(r"\bfax\w*\b[^\d]{0,12}$", re.IGNORECASE)
ABBREVIATION = re.compile(r"^[A-Z]{2,5}$")
SENTENCE_START = re.compile(r"(?:^|(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)[.!?;:]\s+|\n\s*)$")
WARM_UP = ("Drains out. Seen on June 3, 2024 by Mr. Smith at 12 Main Street (MRN 123456), "
           "phone 020 7946 0958, mail a.smith@example.com, www.example.com.")
NER_TYPES = {"PERSON", "LOCATION", "DATE_TIME"}
AUTHOR_TYPES = {"AUTHOR_PERSON": "PERSON", "AUTHOR_ORGANIZATION": "ORGANIZATION"}


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return OFFLINE_TLD_EXTRACT(pattern_text).fqdn != ""


class CandidateUrlRecognizer(UrlRecognizer):
    """Presidio's URL recognizer with its top-level domains looked up in a set: its regex
    tries some 600 alternatives at every position of the text, the slowest step of all."""

    CANDIDATE = re.compile(
        r"(?i)(?<![\w@.\-])(?:https?://)?(?:www\d{0,3}\.)?[a-z0-9\-]+(?:\.[a-z0-9\-]+)*"
        r"\.(?P<tld>[a-z]{2,24})(?![a-z0-9\-@])(?:/[^\s()<>\"']*)?")

    def __init__(self) -> None:
        super().__init__()
        self.tlds = set(re.findall(r"\(\?:([a-z]+)\)", UrlRecognizer.BASE_URL_REGEX))

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        results = []
        for match in self.CANDIDATE.finditer(text):
            if match.group("tld").lower() not in self.tlds:
                continue
            value = match.group().rstrip(".,;:")
            score = 0.6 if value.lower().startswith(("http://", "https://")) else 0.5
            results.append(RecognizerResult(
                entity_type="URL", start=match.start(), end=match.start() + len(value),
                score=score, recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return results


class CandidatePhoneRecognizer(PhoneRecognizer):
    """Presidio's phonenumbers-based recognizer, run only where a phone number could be (seven
    or more digits, not a date; unbroken runs only of 10 or 11 digits): phonenumbers parses
    every number in a text once per region."""

    CANDIDATE = re.compile(r"\+?\(?\d[\d\s().\-/]{5,22}\d")
    DATE_LIKE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}")
    IPV4_LIKE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
    MAX_DIGITS = 15  # ITU E.164: no phone number is longer, country code included

    MAX_CANDIDATES = 40  # beyond, the North American and "+" patterns still answer

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list:
        results, tried = [], 0
        for match in self.CANDIDATE.finditer(text):
            if tried >= self.MAX_CANDIDATES:
                break
            candidate = match.group()
            digits = sum(c.isdigit() for c in candidate)
            if digits < 7 or digits > self.MAX_DIGITS or self.DATE_LIKE.fullmatch(candidate) \
                    or self.IPV4_LIKE.fullmatch(candidate) or (
                    candidate.isdigit() and digits not in (10, 11)):
                continue  # a date, an address, or a run of digits of no phone number's length
            tried += 1
            start = max(0, match.start() - 1)
            for result in self._first_region_matches(text[start:match.end() + 1]):
                result.start += start
                result.end += start
                results.append(result)
        return results

    def _first_region_matches(self, window: str) -> list:
        """The numbers found in the first region whose rules read the window as a phone
        number: every region gives the same score, and parsing the window once per region
        was a third of the detector's time."""
        for region in self.supported_regions:
            matches = list(phonenumbers.PhoneNumberMatcher(window, region, leniency=self.leniency))
            if matches:
                return [self._get_recognizer_result(match, window, region, None)
                        for match in matches]
        return []


def presidio_recognizers() -> list:
    """Presidio's own recognizers for the Safe Harbor identifiers it covers."""
    return [
        OfflineEmailRecognizer(), CandidateUrlRecognizer(), IpRecognizer(), UsSsnRecognizer(),
        CandidatePhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "CH")),
        CreditCardRecognizer(), IbanRecognizer(),
    ]


class PresidioPhiDetector:
    name = "phi-text"
    RULES_VERSION = "1.2"  # 1.1: "Surname, Given" label lines; 1.2: months in capitals,
    # "PATIENT: SURNAME, GIVEN", year-first dotted dates, lines that are only a name

    def __init__(self, options: PhiDetectorOptions) -> None:
        quiet_presidio_logs()
        self.options = options
        nlp_engine = PhiNlpEngine(options.spacy_model, options.spacy_disable, options.ner_score,
                                  options.ner_scope)
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION",
                                                                    "DATE_TIME"]))
        regions = options.allow_list.get("places_above_state", [])
        for recognizer in presidio_recognizers() + clinical_recognizers(regions) + author_names(
                options.author_names, options.practice_names):
            registry.add_recognizer(recognizer)
        if options.name_lines and nlp_engine.known_words.available:
            registry.add_recognizer(NameLineRecognizer(nlp_engine.known_words.__contains__,
                                                       options.credentials))
        for recognizer in registry.recognizers:
            extra = self._extra_context(recognizer.supported_entities)
            if extra:
                recognizer.context = list(recognizer.context or []) + extra
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
            default_score_threshold=0.0,
            context_aware_enhancer=WindowContextEnhancer(),
        )
        self.nlp_engine = nlp_engine
        self.allow_list = AllowList(options.allow_list, options.allow_patterns)
        self.clinician_titles = {t.lower().rstrip(".") for t in options.clinician_titles}
        meta = nlp_engine.nlp["en"].meta
        # The rules and the language model behind every span, reported with each finding.
        self.version = f"{self.RULES_VERSION}+{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}"
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
        spans, from_ner = [], set()  # local: one detector serves concurrent requests
        for result in results:
            span = self._to_span(text, result)
            if span is not None:
                spans.append(span)
                if _from_ner(result):
                    from_ner.add((span.start, span.end, span.entity_type))
        return _resolve_overlaps(spans, from_ner)

    def _to_span(self, text: str, result: RecognizerResult) -> Span | None:
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
        from_ner = _from_ner(result)
        if entity == "PERSON" and self._after_clinician_title(text, start):
            return None
        if entity == "PHONE_NUMBER" and FAX_BEFORE.search(text, max(0, start - 20), start):
            entity = "FAX_NUMBER"
        if result.score < self.options.threshold_for(entity):
            return None
        if self.allow_list.allows(text, start, end):
            return None
        if from_ner and entity != "DATE" and not self._plausible_name(text, start, end):
            return None
        return Span(start=start, end=end, entity_type=entity, score=round(result.score, 4),
                    category=PATIENT)

    def _plausible_name(self, text: str, start: int, end: int) -> bool:
        """spaCy's small model tags sentence-initial nouns ("Drains removed...") and
        abbreviations as names and places; keep a span only when it can be a proper name."""
        value = text[start:end]
        if ABBREVIATION.match(value) or any(c.isdigit() for c in value) or value[:1].islower():
            return False
        if " " in value.strip() or not SENTENCE_START.search(text, 0, start):
            return True
        if self.nlp_engine.known_words.available and value not in self.nlp_engine.known_words:
            return True  # not an English word: a name
        return self._is_proper_noun(text, start, end)

    def _is_proper_noun(self, text: str, start: int, end: int) -> bool:
        """The tagger, on the few words from one ambiguous word on (it is left out of the
        pipeline for speed; it sees about four words either side)."""
        return self.nlp_engine.proper_noun_first([text[start:min(len(text), end + 48)]])[0]

    def _after_clinician_title(self, text: str, start: int) -> bool:
        before = re.search(r"(\w+)\.?\s*$", text[max(0, start - 12):start])
        return bool(before) and before.group(1).lower() in self.clinician_titles


def _from_ner(result: RecognizerResult) -> bool:
    return result.entity_type in NER_TYPES and \
        result.recognition_metadata.get(RecognizerResult.RECOGNIZER_NAME_KEY) == "SpacyRecognizer"


def _resolve_overlaps(spans: list[Span], from_ner: set[tuple[int, int, str]]) -> list[Span]:
    """Where spans overlap, keep the author's, then a pattern's (it read a label or a shape;
    the small NER model often confuses names, places and dates), then the higher score,
    then the longer."""
    def rank(span: Span) -> tuple:
        by_pattern = (span.start, span.end, span.entity_type) not in from_ner and span.score >= 0.5
        return (span.category != AUTHOR, not by_pattern, -span.score, -(span.end - span.start))

    ranked = sorted(spans, key=rank)
    kept: list[Span] = []  # non-overlapping, sorted by start
    starts: list[int] = []
    for span in ranked:
        at = bisect.bisect_left(starts, span.start)
        if (at > 0 and kept[at - 1].end > span.start) or (at < len(kept) and kept[at].start < span.end):
            continue
        kept.insert(at, span)
        starts.insert(at, span.start)
    return kept


def build_detector(**options: object) -> PresidioPhiDetector:
    """The factory named in settings: `[phi] detector = "nlp.detector:build_detector"`."""
    try:
        parsed = PhiDetectorOptions.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        raise ValueError(f"[phi.options] {problems}") from None
    return PresidioPhiDetector(parsed)

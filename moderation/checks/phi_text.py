"""`phi_text`: protected health information in the case description and the text fields.

The detector is the service's shared one (`[phi]` in settings), the same that reads text
from photos for `phi_image`. Each field is analysed with its name as context. Findings carry
offsets and entity types; reasons name only the types, never the text.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from moderation.checks.base import BOTH_DESTINATIONS, Check, CheckContext, Observation
from moderation.intake import PreparedSubmission
from moderation.phi import shared_detector
from moderation.schemas import Evidence, ModelRef, Span
from moderation.settings import CheckSettings

DESCRIPTION = "description"
AUTHOR = "author"


class PhiTextOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scan_fields: bool = True  # every free-text procedure field, beside the description


class PhiTextCheck(Check):
    name = "phi_text"
    version = "1.0"
    destinations = BOTH_DESTINATIONS
    Options = PhiTextOptions

    def __init__(self, settings: CheckSettings, context: CheckContext) -> None:
        super().__init__(settings, context)
        self.detector = shared_detector(context)

    @property
    def model(self) -> ModelRef:
        return ModelRef(name=self.detector.name, version=self.detector.version)

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        observations = [self._observe(DESCRIPTION, submission.submission.description, DESCRIPTION)]
        if self.options.scan_fields:
            for name, text in self._text_fields(submission):
                observations.append(self._observe(f"field:{name}", text, name))
        return observations

    @staticmethod
    def _text_fields(submission: PreparedSubmission) -> list[tuple[str, str]]:
        """Fields holding free text (enum choices come from a fixed list and cannot)."""
        fields = []
        for name, value in submission.submission.fields.items():
            spec = submission.procedure.field(name)
            if isinstance(value, str) and value.strip() and (spec is None or spec.type == "string"):
                fields.append((name, value))
        return fields

    def _observe(self, target: str, text: str, context: str) -> Observation:
        spans = self.detector.analyze(text, context=context)
        patient = [span for span in spans if span.category != AUTHOR]
        authors = [span for span in spans if span.category == AUTHOR]
        where = "description" if target == DESCRIPTION else f"field {context}"
        evidence = Evidence(spans=spans, values={"phi_spans": len(patient),
                                                 "author_spans": len(authors)})
        if patient:
            score = max(span.score for span in patient)
            return Observation(target, score, f"{_types(patient)} in {where}", evidence)
        reason = (f"no patient PHI in {where} (the author's own name or practice only)"
                  if authors else f"no PHI found in {where}")
        return Observation(target, 0.0, reason, evidence)


def _types(spans: list[Span]) -> str:
    ordered = sorted({span.entity_type for span in spans},
                     key=lambda t: -max(s.score for s in spans if s.entity_type == t))
    return ", ".join(ordered)

"""Realistic cases for the review tool: real photos through the real pipeline and repository,
plus findings in the evidence shapes of the checks other components add (phi_text spans,
watermark and OCR boxes, collage seams, procedure regions)."""

from __future__ import annotations

import json
from pathlib import Path

from moderation.pipeline import ModerationPipeline
from moderation.schemas import Box, Evidence, Finding, ModelRef, ScoreResult, Span, Verdict
from moderation.settings import Settings
from moderation.storage.db import make_engine, make_session_factory, migrate
from moderation.storage.images import ImageStore
from moderation.storage.repository import SubmissionRepository
from tests import photos

XSS_NOTES = ('Closed approach. <script>window.__xss = 1</script> '
             '<img src=x onerror="window.__xss = 2"> "quoted" & more')
PHI_NOTES = "Patient Jane Doe (DOB 04/12/1980) had an open rhinoplasty with spreader grafts."
PHI_NAME = "Jane Doe"


def _verdict(score: float) -> Verdict:
    return Verdict.FAIL if score >= 0.8 else Verdict.PASS if score < 0.5 else Verdict.UNCERTAIN


def finding(check: str, target: str, score: float, reason: str, **evidence: object) -> Finding:
    return Finding(check=check, target=target, score=score, verdict=_verdict(score),
                   reason=reason, evidence=Evidence(**evidence),
                   model=ModelRef(name=f"{check}-test-model", version="0.1"))


def phi_case_findings(notes: str = PHI_NOTES) -> list[Finding]:
    name_at = notes.index(PHI_NAME)
    dob_at = notes.index("04/12/1980")
    return [
        finding("phi_text", "description", 0.97, "phi_text: PERSON, DATE_TIME in description",
                spans=[Span(start=name_at, end=name_at + len(PHI_NAME), entity_type="PERSON",
                            score=0.97),
                       Span(start=dob_at, end=dob_at + 10, entity_type="DATE_OF_BIRTH",
                            score=0.9)]),
        finding("phi_text", "field:technique_notes", 0.86, "phi_text: PERSON in a field",
                spans=[Span(start=8, end=16, entity_type="PERSON", score=0.86)]),
        finding("watermark", "photo:set1/after", 0.91, "watermark: text logo in a corner",
                boxes=[Box(x=520, y=470, w=240, h=80, label="logo", score=0.91)]),
        finding("phi_image", "photo:set1/before", 0.88, "phi_image: a name in the photo (OCR)",
                boxes=[Box(x=40, y=30, w=300, h=50, label="text", text="Jane Doe 2024",
                           score=0.88)]),
        finding("collage", "photo:set1/after", 0.62, "collage: a straight seam",
                lines=[{"x1": 400, "y1": 0, "x2": 400, "y2": 600, "label": "seam"}]),
        finding("procedure_match", "photo:set1/before", 0.2, "procedure_match: nose region found",
                boxes=[Box(x=300, y=180, w=200, h=220, label="nose", score=0.93)]),
    ]


def review_pipeline(settings: Settings) -> ModerationPipeline:
    """The real pipeline with the integrity check alone: the review tests set every other
    check's findings themselves (`extra`), so they hold whatever checks are registered."""
    from moderation.checks.base import CheckContext
    from moderation.checks.registry import CHECKS, build_checks
    from moderation.taxonomy import default_taxonomy

    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    checks = build_checks(context, registry={"integrity": CHECKS["integrity"]})
    return ModerationPipeline(settings, default_taxonomy(), checks)


def seed_case(repository: SubmissionRepository, pipeline: ModerationPipeline, *, case_id: str,
              member_id: str = "m-77", procedure: str = "rhinoplasty",
              description: str = "Open rhinoplasty; 14 months post-op.",
              fields: dict[str, object] | None = None, extra: list[Finding] | None = None,
              seed: int = 1, size: tuple[int, int] = (800, 600)) -> ScoreResult:
    """Score a case through the real pipeline, add `extra` findings, store it."""
    submission = pipeline.parse_submission(json.dumps({
        "case_id": case_id, "member_id": member_id, "procedure": procedure,
        "consent_confirmed": True, "description": description,
        "fields": fields if fields is not None else {"approach": "open",
                                                     "months_since_surgery": 14},
        "photo_sets": [{"view": "frontal", "before": "b1", "after": "a1"}],
    }))
    prepared = pipeline.prepare(submission, {
        "b1": photos.jpeg(photos.scene(*size, seed=seed)),
        "a1": photos.jpeg(photos.scene(*size, seed=seed + 1000)),
    })
    result = pipeline.score(prepared)
    findings = result.findings + list(extra or [])
    result = result.model_copy(update={
        "findings": findings, "risk": max((f.score for f in findings), default=0.0)})
    stored, _ = repository.save(prepared, result)
    return stored


def open_repository(database_url: str, image_dir: Path) -> SubmissionRepository:
    engine = make_engine(database_url)
    migrate(engine)
    return SubmissionRepository(make_session_factory(engine), ImageStore(image_dir))


def seed_review_demo(settings: Settings) -> dict[str, str]:
    """The cases the browser tests walk through; returns their ids by role."""
    repository = open_repository(settings.resolved_database_url, settings.image_dir)
    pipeline = review_pipeline(settings)
    technique = "Seen by Jane Doe at intake; spreader grafts."
    seed_case(repository, pipeline, case_id="c-2001", description=PHI_NOTES,
              fields={"approach": "open", "months_since_surgery": 14,
                      "technique_notes": technique},
              extra=phi_case_findings(), seed=11)
    seed_case(repository, pipeline, case_id="c-2002", member_id="m-12", description=XSS_NOTES,
              extra=[finding("watermark", "photo:set1/before", 0.84, "watermark: corner text",
                             boxes=[Box(x=10, y=10, w=200, h=40, label="text")])], seed=21)
    seed_case(repository, pipeline, case_id="c-2003", member_id="m-12",
              procedure="facelift", fields={},
              extra=[finding("comparability", "photo:set1/after", 0.55,
                             "comparability: different lighting")], seed=31)
    seed_case(repository, pipeline, case_id="c-2004", member_id="m-40",
              extra=[finding("procedure_match", "photo:set1/before", 0.1, "nose region found",
                             boxes=[Box(x=300, y=180, w=200, h=220, label="nose")])], seed=41)
    repository.sessions.kw["bind"].dispose()
    return {"highest": "c-2001", "xss": "c-2002"}

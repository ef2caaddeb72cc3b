"""One case as a reviewer sees it: a version's photos, findings with their labels, the notes
split at PHI spans, the decisions, the other versions and the audit trail."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from moderation.review import audit
from moderation.review.highlight import segments
from moderation.review.queue import STATUS_OF_STAGE, stage_of
from moderation.review.schemas import (
    CaseDetail,
    DecisionView,
    FindingView,
    HighlightedText,
    LabelView,
    PhotoSetView,
    PhotoView,
    VersionRef,
)
from moderation.settings import RejectReason
from moderation.storage.repository import SCORED
from moderation.storage.review_tables import DecisionRow, FindingLabelRow, UserRow
from moderation.storage.tables import FindingRow, SubmissionRow


def model_says_broken(verdict: str, score: float) -> bool | None:
    if verdict == "fail":
        return True
    if verdict == "pass":
        return False
    if verdict == "uncertain":
        return score >= 0.5
    return None  # error: the check did not run, so there is no claim to confirm


class CaseReader:
    def __init__(self, sessions: sessionmaker[Session], reject_reasons: list[RejectReason]) -> None:
        self.sessions = sessions
        self.reason_labels = {reason.code: reason.label for reason in reject_reasons}

    def submission_id(self, case_id: str, version: int) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(SubmissionRow.id).where(
                SubmissionRow.case_id == case_id, SubmissionRow.version == version,
                SubmissionRow.status == SCORED))

    def get(self, case_id: str, version: int | None = None) -> CaseDetail | None:
        with self.sessions() as session:
            versions = list(session.execute(
                select(SubmissionRow.version, SubmissionRow.id, SubmissionRow.created_at,
                       SubmissionRow.queue_priority)
                .where(SubmissionRow.case_id == case_id, SubmissionRow.status == SCORED)
                .order_by(SubmissionRow.version)))
            if not versions:
                return None
            chosen = versions[-1] if version is None else next(
                (v for v in versions if v.version == version), None)
            if chosen is None:
                return None
            row = session.scalar(select(SubmissionRow).where(SubmissionRow.id == chosen.id)
                                 .options(selectinload(SubmissionRow.photos),
                                          selectinload(SubmissionRow.findings)))
            assert row is not None
            names = _usernames(session)
            labels = {label.finding_id: label for label in session.scalars(
                select(FindingLabelRow).where(FindingLabelRow.submission_id == row.id))}
            decisions = {d.destination: d for d in session.scalars(
                select(DecisionRow).where(DecisionRow.submission_id == row.id))}
            findings = [self._finding(f, labels.get(f.id), names) for f in row.findings]
            return CaseDetail(
                submission_id=row.id, case_id=row.case_id, version=row.version,
                is_latest=row.is_latest,
                versions=[VersionRef(version=v.version, submission_id=v.id,
                                     created_at=v.created_at,
                                     status=STATUS_OF_STAGE[stage_of(v.queue_priority)])
                          for v in versions],
                member_id=row.member_id, procedure=row.procedure,
                consent_confirmed=row.consent_confirmed, description=row.description,
                fields=row.fields, risk=row.risk or 0.0,
                status=STATUS_OF_STAGE[stage_of(row.queue_priority)],
                recommendation=row.recommendation or {}, created_at=row.created_at,
                photo_sets=_photo_sets(row),
                findings=findings,
                texts=_texts(row.description, row.fields, findings),
                decisions={destination: self._decision(decisions.get(destination), names)
                           for destination in ("profile", "gallery")},
                audit=audit.for_case(session, row.case_id),
            )

    @staticmethod
    def _finding(row: FindingRow, label: FindingLabelRow | None,
                 names: dict[int, str]) -> FindingView:
        return FindingView(
            id=row.id, check=row.check, target=row.target, score=row.score, verdict=row.verdict,
            reason=row.reason, evidence=row.evidence or {},
            model={"name": row.model_name, "version": row.model_version},
            model_says_broken=model_says_broken(row.verdict, row.score),
            label=None if label is None else LabelView(
                action=label.action, rule_broken=label.rule_broken,
                agrees_with_model=label.agrees_with_model, note=label.note,
                labelled_by=names.get(label.labelled_by or -1), labelled_at=label.labelled_at),
        )

    def _decision(self, row: DecisionRow | None, names: dict[int, str]) -> DecisionView | None:
        if row is None:
            return None
        return DecisionView(
            destination=row.destination, action=row.action, reason_code=row.reason_code,
            reason_label=self.reason_labels.get(row.reason_code or "", row.reason_code),
            reason_text=row.reason_text, decided_by=names.get(row.decided_by or -1),
            decided_at=row.decided_at)


def _usernames(session: Session) -> dict[int, str]:
    return dict(session.execute(select(UserRow.id, UserRow.username)).all())


def _photo_sets(row: SubmissionRow) -> list[PhotoSetView]:
    by_set: dict[str, dict[str, PhotoView]] = defaultdict(dict)
    views: dict[str, str | None] = {}
    for photo in row.photos:
        set_name, _, side = photo.photo_id.partition("/")
        by_set[set_name][side] = PhotoView(
            id=photo.photo_id, side=side, sha256=photo.image_sha256,  # type: ignore[arg-type]
            format=photo.format, width=photo.width, height=photo.height)
        views[set_name] = photo.view
    sets = []
    for set_name in sorted(by_set, key=lambda name: int(name.removeprefix("set") or 0)):
        sides = by_set[set_name]
        if {"before", "after"} <= set(sides):
            sets.append(PhotoSetView(index=int(set_name.removeprefix("set")),
                                     view=views[set_name], before=sides["before"],
                                     after=sides["after"]))
    return sets


def _texts(description: str, fields: dict[str, Any],
           findings: list[FindingView]) -> list[HighlightedText]:
    spans: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in findings:
        for span in finding.evidence.get("spans") or []:
            if isinstance(span, dict):
                spans[finding.target].append(span)
    texts = [HighlightedText(target="description", label="Case description",
                             segments=segments(description, spans["description"]))]
    for name, value in fields.items():
        shown = value if isinstance(value, str) else _plain(value)
        target = f"field:{name}"
        texts.append(HighlightedText(target=target, label=name,
                                     segments=segments(shown, spans[target])))
    return texts


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)

"""Reading and writing scored submissions."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from moderation.errors import CaseConflict
from moderation.intake import PreparedSubmission
from moderation.schemas import Finding, ModelRef, PhotoInfo, ScoreResult
from moderation.storage.images import ImageStore
from moderation.storage.photo_hashes import hash_rows
from moderation.storage.tables import FindingRow, StoredImage, SubmissionPhoto, SubmissionRow


_SAVE_ATTEMPTS = 8


class SubmissionRepository:
    def __init__(self, sessions: sessionmaker[Session], images: ImageStore) -> None:
        self.sessions = sessions
        self.images = images

    def find_by_content(self, content_hash: str) -> ScoreResult | None:
        with self.sessions() as session:
            row = session.scalar(_loaded().where(SubmissionRow.content_hash == content_hash))
            return to_result(row) if row else None

    def get(self, submission_id: str) -> ScoreResult | None:
        with self.sessions() as session:
            row = session.scalar(_loaded().where(SubmissionRow.id == submission_id))
            return to_result(row) if row else None

    def versions(self, case_id: str) -> list[ScoreResult]:
        with self.sessions() as session:
            rows = session.scalars(
                _loaded().where(SubmissionRow.case_id == case_id).order_by(SubmissionRow.version))
            return [to_result(row) for row in rows]

    def save(self, prepared: PreparedSubmission, result: ScoreResult) -> tuple[ScoreResult, bool]:
        """Store photos, submission and findings in one transaction.

        Returns the stored result and whether it was new. Posting the same content twice,
        even at the same moment, stores it once and returns the first."""
        for photo in prepared.photos:
            if photo.stored_bytes is not None:
                self.images.put(photo.stored_bytes, photo.format.value)
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                return self._insert(prepared, result), True
            except IntegrityError:
                existing = self.find_by_content(prepared.content_hash)
                if existing is not None:
                    return existing, False
                # Another version of the same case took our version number: number again.
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise RuntimeError(f"could not allocate a case version in {_SAVE_ATTEMPTS} attempts")

    def _insert(self, prepared: PreparedSubmission, result: ScoreResult) -> ScoreResult:
        submission = prepared.submission
        with self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Edits of one case take their version numbers one at a time.
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:case_id))"),
                                {"case_id": submission.case_id})
            owner = session.scalar(select(SubmissionRow.member_id)
                                   .where(SubmissionRow.case_id == submission.case_id).limit(1))
            if owner is not None and owner != submission.member_id:
                raise CaseConflict(f"case '{submission.case_id}' belongs to another member")
            latest = session.scalar(select(func.max(SubmissionRow.version))
                                    .where(SubmissionRow.case_id == submission.case_id))
            row = SubmissionRow(
                id=prepared.submission_id, content_hash=prepared.content_hash,
                case_id=submission.case_id, version=(latest or 0) + 1,
                member_id=submission.member_id, procedure=submission.procedure,
                consent_confirmed=submission.consent_confirmed,
                description=submission.description, fields=submission.fields, status="scored",
                risk=result.risk,
                recommendation={k.value: v.model_dump(mode="json")
                                for k, v in result.recommendation.items()},
                models=[model.model_dump() for model in result.models],
                timings_ms=result.timings_ms,
            )
            for position, photo in enumerate(prepared.photos):
                stored = photo.stored_sha256
                if stored and session.get(StoredImage, stored) is None:
                    session.add(StoredImage(sha256=stored, format=photo.format.value,
                                            bytes=len(photo.stored_bytes or b"")))
                    session.flush()
                row.photos.append(SubmissionPhoto(
                    photo_id=photo.id, position=position,
                    view=photo.view.value if photo.view else None,
                    upload_sha256=photo.sha256, format=photo.format.value,
                    width=photo.width, height=photo.height, bytes=len(photo.data),
                    image_sha256=stored))
            for finding in result.findings:
                row.findings.append(FindingRow(
                    check=finding.check, target=finding.target, score=finding.score,
                    verdict=finding.verdict.value, reason=finding.reason,
                    evidence=finding.evidence.model_dump(mode="json"),
                    model_name=finding.model.name, model_version=finding.model.version))
            session.add(row)
            session.flush()
            session.add_all(hash_rows(prepared, row.id))  # for the duplicate check's index
            session.flush()
            return to_result(row)


def _loaded():  # type: ignore[no-untyped-def]
    return select(SubmissionRow).options(
        selectinload(SubmissionRow.photos), selectinload(SubmissionRow.findings))


def to_result(row: SubmissionRow) -> ScoreResult:
    return ScoreResult(
        submission_id=row.id,
        case_id=row.case_id,
        version=row.version,
        procedure=row.procedure,
        risk=row.risk,
        recommendation=row.recommendation,
        findings=[
            Finding(check=f.check, target=f.target, score=f.score, verdict=f.verdict,
                    reason=f.reason, evidence=f.evidence,
                    model=ModelRef(name=f.model_name, version=f.model_version))
            for f in row.findings
        ],
        photos=[
            PhotoInfo(id=p.photo_id, sha256=p.upload_sha256, stored_sha256=p.image_sha256,
                      format=p.format, width=p.width, height=p.height, bytes=p.bytes)
            for p in row.photos
        ],
        models=[ModelRef.model_validate(model) for model in row.models],
        timings_ms=row.timings_ms,
        created_at=_as_utc(row.created_at),
    )


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

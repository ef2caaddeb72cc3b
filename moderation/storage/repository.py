"""Reading and writing submissions.

A submission is stored in two steps so that none is lost: `receive` keeps the case, its
stripped photos and their recorded metadata before scoring starts (status `received`, claimed
by the request), `complete` adds the findings (status `scored`). A received submission whose
claim has lapsed (its worker died) is claimed again by any worker and re-scored from what was
stored (`claim_stale`, `load_stored`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from moderation.errors import CaseConflict
from moderation.intake import PreparedSubmission
from moderation.metadata import MetadataItem
from moderation.review import queue_index
from moderation.schemas import Finding, ModelRef, PhotoInfo, PhotoSet, ScoreResult, Submission
from moderation.storage.images import ImageStore
from moderation.storage.photo_hashes import hash_rows
from moderation.storage.tables import FindingRow, StoredImage, SubmissionPhoto, SubmissionRow

RECEIVED, SCORED = "received", "scored"
_SAVE_ATTEMPTS = 8


@dataclass(frozen=True)
class Receipt:
    submission_id: str
    version: int
    status: str
    created: bool  # False: the same content was received before


@dataclass(frozen=True)
class StoredPhoto:
    photo_id: str
    view: str | None
    stored: bytes | None
    upload_sha256: str
    upload_size: int
    metadata: list[MetadataItem]


class SubmissionRepository:
    def __init__(self, sessions: sessionmaker[Session], images: ImageStore) -> None:
        self.sessions = sessions
        self.images = images

    # ------------------------------------------------------------ reading

    def find_by_content(self, content_hash: str) -> ScoreResult | None:
        """The scored result for this content, if it has one."""
        with self.sessions() as session:
            row = session.scalar(_loaded().where(SubmissionRow.content_hash == content_hash,
                                                 SubmissionRow.status == SCORED))
            return to_result(row) if row else None

    def receipt_for(self, content_hash: str) -> Receipt | None:
        with self.sessions() as session:
            row = session.execute(
                select(SubmissionRow.id, SubmissionRow.version, SubmissionRow.status)
                .where(SubmissionRow.content_hash == content_hash)).first()
            return Receipt(row.id, row.version, row.status, created=False) if row else None

    def status_of(self, submission_id: str) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(SubmissionRow.status)
                                  .where(SubmissionRow.id == submission_id))

    def get(self, submission_id: str) -> ScoreResult | None:
        with self.sessions() as session:
            row = session.scalar(_loaded().where(SubmissionRow.id == submission_id,
                                                 SubmissionRow.status == SCORED))
            return to_result(row) if row else None

    def versions(self, case_id: str) -> list[ScoreResult]:
        with self.sessions() as session:
            rows = session.scalars(
                _loaded().where(SubmissionRow.case_id == case_id, SubmissionRow.status == SCORED)
                .order_by(SubmissionRow.version))
            return [to_result(row) for row in rows]

    def count(self, status: str | None = None) -> int:
        with self.sessions() as session:
            query = select(func.count()).select_from(SubmissionRow)
            if status:
                query = query.where(SubmissionRow.status == status)
            return session.scalar(query) or 0

    # ------------------------------------------------------------ receiving

    def receive(self, prepared: PreparedSubmission) -> Receipt:
        """Keep the case and its photos before scoring; claimed by the caller.

        The same content received twice, even at the same moment, is kept once: the second
        caller gets the first one's receipt with `created=False`."""
        for photo in prepared.photos:
            if photo.stored_bytes is not None:
                self.images.put(photo.stored_bytes, photo.format.value, photo.stored_sha256)
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                return self._insert_received(prepared)
            except IntegrityError:
                existing = self.receipt_for(prepared.content_hash)
                if existing is not None:
                    return existing
                # Another version of the same case took our version number: number again.
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise RuntimeError(f"could not allocate a case version in {_SAVE_ATTEMPTS} attempts")

    def _insert_received(self, prepared: PreparedSubmission) -> Receipt:
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
                description=submission.description, fields=submission.fields,
                status=RECEIVED, claimed_at=_now(), attempts=1)
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
                    width=photo.width, height=photo.height, bytes=photo.upload_size,
                    image_sha256=stored,
                    photo_metadata=[_metadata_json(item) for item in photo.metadata]))
            session.add(row)
            session.flush()
            session.add_all(hash_rows(prepared, row.id))  # for the duplicate check's index
            return Receipt(row.id, row.version, RECEIVED, created=True)

    def save(self, prepared: PreparedSubmission, result: ScoreResult) -> tuple[ScoreResult, bool]:
        """Receive and complete in one go, for a result scored already. Returns the stored
        result and whether it is new."""
        receipt = self.receive(prepared)
        if not receipt.created:
            existing = self.get(receipt.submission_id)
            if existing is not None:
                return existing, False
        return self.complete(receipt.submission_id, result), receipt.created

    # ------------------------------------------------------------ scoring results

    def complete(self, submission_id: str, result: ScoreResult) -> ScoreResult:
        """Store the findings (replacing any earlier ones) and mark the submission scored."""
        with self.sessions.begin() as session:
            queue_index.lock_case(session, submission_id)  # before any row lock: no deadlock
            session.execute(delete(FindingRow).where(FindingRow.submission_id == submission_id))
            session.add_all(
                FindingRow(submission_id=submission_id, check=f.check, target=f.target,
                           score=f.score, verdict=f.verdict.value, reason=f.reason,
                           evidence=f.evidence.model_dump(mode="json"),
                           model_name=f.model.name, model_version=f.model.version)
                for f in result.findings)
            session.execute(
                update(SubmissionRow).where(SubmissionRow.id == submission_id).values(
                    status=SCORED, risk=result.risk,
                    recommendation={k.value: v.model_dump(mode="json")
                                    for k, v in result.recommendation.items()},
                    models=[model.model_dump() for model in result.models],
                    timings_ms=result.timings_ms, scored_at=_now(), claimed_at=None))
            # Scored: this version takes its place in the review queue.
            queue_index.enqueue(session, submission_id, result.risk,
                                {f.check for f in result.findings if f.verdict.value == "fail"})
        stored = self.get(submission_id)
        assert stored is not None
        return stored

    def claim_stale(self, lease_s: float, limit: int = 50) -> list[str]:
        """Claim received submissions whose claim has lapsed; each goes to one caller only."""
        cutoff = _now() - timedelta(seconds=lease_s)
        stale = (SubmissionRow.status == RECEIVED) & (
            SubmissionRow.claimed_at.is_(None) | (SubmissionRow.claimed_at < cutoff))
        with self.sessions() as session:
            candidates = list(session.scalars(
                select(SubmissionRow.id).where(stale).order_by(SubmissionRow.created_at)
                .limit(limit)))
        claimed = []
        for submission_id in candidates:
            with self.sessions.begin() as session:
                taken = session.execute(
                    update(SubmissionRow).where(SubmissionRow.id == submission_id, stale)
                    .values(claimed_at=_now(), attempts=SubmissionRow.attempts + 1))
                if taken.rowcount == 1:
                    claimed.append(submission_id)
        return claimed

    def load_stored(self, submission_id: str) -> tuple[Submission, list[StoredPhoto]]:
        """A stored submission as it was posted, with its stored photos, for re-scoring."""
        with self.sessions() as session:
            row = session.scalar(_loaded().where(SubmissionRow.id == submission_id))
            if row is None:
                raise KeyError(submission_id)
            photos = [
                StoredPhoto(
                    photo_id=p.photo_id, view=p.view,
                    stored=self.images.get(p.image_sha256, p.format) if p.image_sha256 else None,
                    upload_sha256=p.upload_sha256, upload_size=p.bytes,
                    metadata=[MetadataItem(**item) for item in p.photo_metadata or []])
                for p in row.photos]
            sets = [PhotoSet(view=before.view, before=_part(before.photo_id),
                             after=_part(after.photo_id))
                    for before, after in zip(photos[::2], photos[1::2], strict=True)]
            submission = Submission(
                case_id=row.case_id, member_id=row.member_id, procedure=row.procedure,
                consent_confirmed=row.consent_confirmed, description=row.description,
                fields=row.fields, photo_sets=sets)
            return submission, photos

    def scored_ids(self, limit: int | None = None, after_id: str | None = None) -> list[str]:
        """Ids of scored submissions in a stable order, for bulk re-scoring in batches."""
        with self.sessions() as session:
            query = select(SubmissionRow.id).where(SubmissionRow.status == SCORED)
            if after_id:
                query = query.where(SubmissionRow.id > after_id)
            query = query.order_by(SubmissionRow.id)
            if limit:
                query = query.limit(limit)
            return list(session.scalars(query))


def _part(photo_id: str) -> str:
    return photo_id.replace("/", "-")


def _metadata_json(item: MetadataItem) -> dict[str, str | None]:
    return {"key": item.key, "kind": item.kind, "value": item.value}


def _now() -> datetime:
    return datetime.now(UTC)


def _loaded():  # type: ignore[no-untyped-def]
    return select(SubmissionRow).options(
        selectinload(SubmissionRow.photos), selectinload(SubmissionRow.findings))


def to_result(row: SubmissionRow) -> ScoreResult:
    return ScoreResult(
        submission_id=row.id,
        case_id=row.case_id,
        version=row.version,
        procedure=row.procedure,
        risk=row.risk or 0.0,
        recommendation=row.recommendation or {},
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
        models=[ModelRef.model_validate(model) for model in row.models or []],
        timings_ms=row.timings_ms or {},
        created_at=_as_utc(row.created_at),
    )


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

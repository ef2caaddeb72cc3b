"""Database tables. Wire shapes live apart, in `moderation.schemas`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON,
                           dict[str, Any] | None: JSON, list[Any] | None: JSON}


class StoredImage(Base):
    """One stored photo file, keyed by the sha256 of its stored (metadata-free) bytes."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(8))
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("case_id", "version", name="uq_submissions_case_version"),
        Index("ix_submissions_risk", "risk"),
        Index("ix_submissions_member", "member_id"),
        # The review queue reads the latest version of each case in priority order (keyset).
        Index("ix_submissions_queue", "is_latest", "queue_priority", "id"),
        Index("ix_submissions_queue_procedure", "procedure", "is_latest", "queue_priority", "id"),
        Index("ix_submissions_queue_member", "member_id", "is_latest", "queue_priority", "id"),
        Index("ix_submissions_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[str] = mapped_column(String(128))
    procedure: Mapped[str] = mapped_column(String(64), index=True)
    consent_confirmed: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    # received: stored, not scored yet (a worker claims it); scored: findings stored.
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    risk: Mapped[float | None] = mapped_column(Float)
    recommendation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    models: Mapped[list[Any] | None] = mapped_column(JSON)
    timings_ms: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Review state: only the newest scored version of a case is in the queue (set when it is
    # scored); its place there is `queue_priority` (moderation.review.priority), kept in step
    # with decisions by moderation.review.queue_index.
    is_latest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    queue_priority: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")

    photos: Mapped[list[SubmissionPhoto]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="SubmissionPhoto.position")
    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="FindingRow.id")


class SubmissionPhoto(Base):
    __tablename__ = "submission_photos"
    __table_args__ = (UniqueConstraint("submission_id", "photo_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    photo_id: Mapped[str] = mapped_column(String(32))  # set1/before
    position: Mapped[int] = mapped_column(Integer)
    view: Mapped[str | None] = mapped_column(String(32))
    upload_sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    image_sha256: Mapped[str | None] = mapped_column(ForeignKey("images.sha256"), index=True)
    # Identifying metadata found in the upload (the stored copy has none), so a re-score of
    # the stored copy reports it again.
    photo_metadata: Mapped[list[Any]] = mapped_column(JSON, default=list)

    submission: Mapped[SubmissionRow] = relationship(back_populates="photos")
    image: Mapped[StoredImage | None] = relationship()


class FindingRow(Base):
    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_check_verdict", "check", "verdict"),
                      Index("ix_findings_submission_check_verdict",
                            "submission_id", "check", "verdict"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(128))
    score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))

    submission: Mapped[SubmissionRow] = relationship(back_populates="findings")


class PhotoHashRow(Base):
    """The perceptual fingerprint of every stored photo, for finding reused photos later.

    The in-memory index (`moderation.duplicates.PhotoHashIndex`) loads `codes` at start-up and
    reads new rows by `id`; `thumb` is read only for candidates."""

    __tablename__ = "photo_hashes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    photo_id: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    member_id: Mapped[str] = mapped_column(String(128))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    codes: Mapped[bytes] = mapped_column(LargeBinary)  # uint64 codes, uint8 means (`stored_codes`)
    thumb: Mapped[bytes] = mapped_column(LargeBinary)  # THUMB_SIDE x THUMB_SIDE grey
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Tables of the staff review tool: accounts, sessions, API keys, labels, decisions, audit.

Kept apart from `tables.py` (the scoring side); both share one `Base` and one migration chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.tables import Base, utcnow


class QueueFlagRow(Base):
    """One row per failing check of the latest version of each case, carrying its queue
    priority: the failing-check filter pages through its index like the queue's own, so a
    page costs the same for a rare check at the last page as for the first page."""

    __tablename__ = "queue_flags"
    __table_args__ = (Index("ix_queue_flags_page", "check", "queue_priority", "submission_id"),)

    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    check: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue_priority: Mapped[float] = mapped_column(Float)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # reviewer, admin, data
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffSessionRow(Base):
    """A signed-in browser or staff tool. The cookie holds a random token; only its sha256
    is stored, so a copy of the database opens no session."""

    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginFailureRow(Base):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),
                      Index("ix_login_failures_client_at", "client", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))  # the peer address
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKeyRow(Base):
    """A key for POST /v1/score made by an admin. Only its sha256 is kept; the key itself is
    shown once, when it is made."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise it
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FindingLabelRow(Base):
    """A reviewer's label on one finding: the training label the dataset export reads.

    `rule_broken` is the corrected truth; `agrees_with_model` says whether the reviewer
    confirmed the model's verdict (True) or overrode it (False)."""

    __tablename__ = "finding_labels"
    __table_args__ = (UniqueConstraint("finding_id", name="uq_finding_labels_finding"),
                      Index("ix_finding_labels_check_labelled", "check", "labelled_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"))
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # confirm, override
    rule_broken: Mapped[bool] = mapped_column(Boolean)
    agrees_with_model: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    labelled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    labelled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DecisionRow(Base):
    """The final decision for one destination of one submission (the latest one stands;
    every change is in the audit log)."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("submission_id", "destination",
                                       name="uq_decisions_submission_destination"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(16))  # profile, gallery
    action: Mapped[str] = mapped_column(String(16))  # approve, reject
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditRow(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the log outlives accounts
    actor: Mapped[str] = mapped_column(String(64))  # username at the time, or "cli"
    action: Mapped[str] = mapped_column(String(32))  # finding.label, decision.set, user.create ...
    case_id: Mapped[str | None] = mapped_column(String(128))
    submission_id: Mapped[str | None] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(160))  # "finding 12 (watermark, photo:set1/after)"
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)

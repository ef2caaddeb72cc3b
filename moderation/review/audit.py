"""The append-only audit log: who did what, when, to which case, from which value to which.

Only `append` writes; the database refuses UPDATE and DELETE on the table (triggers installed
by migration 0002_review)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.review.schemas import AuditEntry, Role
from moderation.storage.review_tables import AuditRow
from moderation.storage.tables import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in staff member, or the command line (id None)."""

    id: int | None
    name: str
    role: Role | None = None

    @property
    def can_review(self) -> bool:
        return self.role in {Role.REVIEWER, Role.ADMIN}

    @property
    def can_export(self) -> bool:
        return self.role in {Role.DATA, Role.ADMIN}

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def append(session: Session, actor: Actor, action: str, subject: str, *,
           case_id: str | None = None, submission_id: str | None = None,
           previous: dict[str, Any] | None = None, new: dict[str, Any] | None = None) -> None:
    session.add(AuditRow(at=utcnow(), actor_id=actor.id, actor=actor.name, action=action,
                         case_id=case_id, submission_id=submission_id, subject=subject,
                         previous=previous, new=new))


def for_case(session: Session, case_id: str) -> list[AuditEntry]:
    """Every entry of every version of the case, newest first."""
    rows = session.scalars(select(AuditRow).where(AuditRow.case_id == case_id)
                           .order_by(AuditRow.id.desc()))
    return [to_entry(row) for row in rows]


def recent(session: Session, limit: int = 200) -> list[AuditEntry]:
    rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
    return [to_entry(row) for row in rows]


def to_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, action=row.action,
                      subject=row.subject, submission_id=row.submission_id,
                      previous=row.previous, new=row.new)

"""Keeping the queue's columns and rows in step with what happens to a case: a version that
is scored replaces the case's older versions, and a decision moves the case down. Called
inside the transaction that makes the change."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text, true, update
from sqlalchemy.orm import Session

from moderation.review.priority import priority_of
from moderation.storage.review_tables import DecisionRow, QueueFlagRow
from moderation.storage.tables import SubmissionRow


def lock_case(session: Session, submission_id: str) -> tuple[str, int]:
    """Serialise changes to one case's versions (PostgreSQL), as receiving a version does:
    take it first in the transaction, before any row lock, so the order is always the same.
    Returns the submission's case id and version."""
    case_id, version = session.execute(select(SubmissionRow.case_id, SubmissionRow.version)
                                       .where(SubmissionRow.id == submission_id)).one()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:case_id))"),
                        {"case_id": case_id})
    return case_id, version


def enqueue(session: Session, submission_id: str, risk: float, failing: set[str]) -> None:
    """A version just scored (or scored again) enters the queue with its failing checks, in
    place of the case's older versions; a version older than one already queued stays out."""
    case_id, version = lock_case(session, submission_id)
    newer = session.scalar(select(SubmissionRow.id).where(
        SubmissionRow.case_id == case_id, SubmissionRow.version > version,
        SubmissionRow.is_latest == true()).limit(1))
    session.execute(delete(QueueFlagRow).where(QueueFlagRow.submission_id == submission_id))
    if newer is not None:
        session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id)
                        .values(is_latest=False))
        return
    older = select(SubmissionRow.id).where(SubmissionRow.case_id == case_id,
                                           SubmissionRow.id != submission_id)
    session.execute(update(SubmissionRow)
                    .where(SubmissionRow.case_id == case_id, SubmissionRow.id != submission_id,
                           SubmissionRow.is_latest == true())
                    .values(is_latest=False))
    session.execute(delete(QueueFlagRow).where(QueueFlagRow.submission_id.in_(older)))
    # Scored again (new models) keeps the decisions already made.
    decided = session.scalar(select(func.count()).select_from(DecisionRow)
                             .where(DecisionRow.submission_id == submission_id)) or 0
    priority = priority_of(decided=decided, risk=risk)
    session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id)
                    .values(is_latest=True, queue_priority=priority))
    session.add_all(QueueFlagRow(submission_id=submission_id, check=check, queue_priority=priority)
                    for check in sorted(failing))


def reprioritise(session: Session, submission: SubmissionRow, decided: int) -> None:
    """`decided` destinations of this (latest) version now have a decision."""
    submission.queue_priority = priority_of(decided=decided, risk=submission.risk or 0.0)
    session.execute(update(QueueFlagRow).where(QueueFlagRow.submission_id == submission.id)
                    .values(queue_priority=submission.queue_priority))

"""Keeping the queue's columns and rows in step with what happens to a case: a new version
replaces the older ones, and a decision moves the case down. Called inside the transaction
that makes the change."""

from __future__ import annotations

from sqlalchemy import delete, select, true, update
from sqlalchemy.orm import Session

from moderation.review.priority import priority_of
from moderation.storage.review_tables import QueueFlagRow
from moderation.storage.tables import SubmissionRow


def enqueue(session: Session, row: SubmissionRow) -> None:
    """`row`, a new version just flushed with its findings, enters the queue in place of
    the case's older versions."""
    row.is_latest = True
    row.queue_priority = priority_of(decided=0, risk=row.risk)
    older = select(SubmissionRow.id).where(SubmissionRow.case_id == row.case_id,
                                           SubmissionRow.id != row.id)
    session.execute(update(SubmissionRow)
                    .where(SubmissionRow.case_id == row.case_id, SubmissionRow.id != row.id,
                           SubmissionRow.is_latest == true())
                    .values(is_latest=False))
    session.execute(delete(QueueFlagRow).where(QueueFlagRow.submission_id.in_(older)))
    failing = sorted({finding.check for finding in row.findings if finding.verdict == "fail"})
    session.add_all(QueueFlagRow(submission_id=row.id, check=check,
                                 queue_priority=row.queue_priority) for check in failing)


def reprioritise(session: Session, submission: SubmissionRow, decided: int) -> None:
    """`decided` destinations of this (latest) version now have a decision."""
    submission.queue_priority = priority_of(decided=decided, risk=submission.risk)
    session.execute(update(QueueFlagRow).where(QueueFlagRow.submission_id == submission.id)
                    .values(queue_priority=submission.queue_priority))

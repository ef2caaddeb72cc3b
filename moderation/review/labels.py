"""Staff labels per finding, read back for the dataset export (issue 8) and the data team."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from moderation.review.schemas import LabelExportRow
from moderation.storage.review_tables import FindingLabelRow, UserRow
from moderation.storage.tables import FindingRow, SubmissionRow


class LabelReader:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def page(self, check: str | None = None, after_id: int = 0,
             limit: int = 1000) -> list[LabelExportRow]:
        """Labels in the order they were first given (by id), `limit` at a time after `after_id`."""
        statement = (
            select(FindingLabelRow, FindingRow, SubmissionRow.case_id, SubmissionRow.version,
                   UserRow.username)
            .join(FindingRow, FindingRow.id == FindingLabelRow.finding_id)
            .join(SubmissionRow, SubmissionRow.id == FindingLabelRow.submission_id)
            .outerjoin(UserRow, UserRow.id == FindingLabelRow.labelled_by)
            .where(FindingLabelRow.id > after_id)
            .order_by(FindingLabelRow.id).limit(limit))
        if check:
            statement = statement.where(FindingLabelRow.check == check)
        with self.sessions() as session:
            return [
                LabelExportRow(
                    label_id=label.id, finding_id=finding.id, submission_id=finding.submission_id,
                    case_id=case_id, case_version=version, check=finding.check,
                    target=finding.target, score=finding.score, verdict=finding.verdict,
                    model={"name": finding.model_name, "version": finding.model_version},
                    evidence=finding.evidence or {}, action=label.action,
                    rule_broken=label.rule_broken, agrees_with_model=label.agrees_with_model,
                    labelled_by=username, labelled_at=label.labelled_at)
                for label, finding, case_id, version, username in session.execute(statement)
            ]

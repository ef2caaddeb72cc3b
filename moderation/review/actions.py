"""What reviewers change: a label per finding (confirm / override) and a decision per
destination. Every change is written to the audit log in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from moderation.errors import InputError, InvalidSubmission
from moderation.review import audit, queue_index
from moderation.review.audit import Actor
from moderation.review.cases import model_says_broken
from moderation.review.queue import STATUS_OF_STAGE
from moderation.review.schemas import DecisionAction, DecisionRequest, LabelAction, LabelRequest
from moderation.settings import RejectReason
from moderation.storage.review_tables import DecisionRow, FindingLabelRow
from moderation.storage.tables import FindingRow, SubmissionRow, utcnow


class NotFound(InputError):
    status_code = 404


class StaleVersion(InputError):
    status_code = 409


class NotAllowed(InputError):
    status_code = 403


class ReviewActions:
    def __init__(self, sessions: sessionmaker[Session], reject_reasons: list[RejectReason]) -> None:
        self.sessions = sessions
        self.reject_reasons = {reason.code for reason in reject_reasons}

    # ------------------------------------------------------------ labels

    def label(self, actor: Actor, finding_id: int, request: LabelRequest) -> dict[str, Any]:
        _require_reviewer(actor)
        with self.sessions.begin() as session:
            finding = session.get(FindingRow, finding_id)
            if finding is None:
                raise NotFound("no finding with that id")
            submission = _open_submission(session, finding.submission_id)
            claim = model_says_broken(finding.verdict, finding.score)
            if claim is None:
                raise InvalidSubmission("this finding is a check that failed to run: it makes "
                                        "no claim to confirm or override")
            return _set_label(session, actor, submission, finding, claim, request)

    def confirm_all(self, actor: Actor, submission_id: str) -> int:
        """Confirm every finding of the submission that has no label yet; returns how many."""
        _require_reviewer(actor)
        with self.sessions.begin() as session:
            submission = _open_submission(session, submission_id)
            labelled = set(session.scalars(select(FindingLabelRow.finding_id)
                                           .where(FindingLabelRow.submission_id == submission_id)))
            count = 0
            for finding in session.scalars(select(FindingRow).where(
                    FindingRow.submission_id == submission_id).order_by(FindingRow.id)):
                claim = model_says_broken(finding.verdict, finding.score)
                if finding.id in labelled or claim is None:
                    continue
                _set_label(session, actor, submission, finding, claim,
                           LabelRequest(action=LabelAction.CONFIRM))
                count += 1
            return count

    # ------------------------------------------------------------ decisions

    def decide(self, actor: Actor, submission_id: str, request: DecisionRequest) -> str:
        """Record the decision for one destination; returns the case's new status."""
        _require_reviewer(actor)
        reason_code = request.reason_code or None
        reason_text = request.reason_text.strip()
        if request.action is DecisionAction.REJECT and not reason_code:
            raise InvalidSubmission("a rejection needs a reason from the list",
                                    [{"loc": ["reason_code"], "msg": "required to reject",
                                      "type": "missing"}])
        if reason_code and reason_code not in self.reject_reasons:
            raise InvalidSubmission("the reason is not one of the listed reasons",
                                    [{"loc": ["reason_code"], "msg": "unknown reason",
                                      "type": "reason"}])
        if reason_code == "other" and not reason_text:
            raise InvalidSubmission("the reason 'other' needs an explanation in the text",
                                    [{"loc": ["reason_text"], "msg": "required for 'other'",
                                      "type": "missing"}])
        with self.sessions.begin() as session:
            submission = _open_submission(session, submission_id)
            row = session.scalar(select(DecisionRow).where(
                DecisionRow.submission_id == submission_id,
                DecisionRow.destination == request.destination))
            new = {"action": request.action.value, "reason_code": reason_code,
                   "reason_text": reason_text}
            previous = None
            if row is None:
                row = DecisionRow(submission_id=submission_id, destination=request.destination)
                session.add(row)
            else:
                previous = {"action": row.action, "reason_code": row.reason_code,
                            "reason_text": row.reason_text}
                if previous == new:
                    return STATUS_OF_STAGE[_stage(session, submission_id)]
            row.action, row.reason_code, row.reason_text = new["action"], reason_code, reason_text
            row.decided_by, row.decided_at = actor.id, utcnow()
            session.flush()
            stage = _stage(session, submission_id)
            queue_index.reprioritise(session, submission, decided=stage)
            audit.append(session, actor, "decision.set", f"{request.destination} decision",
                         case_id=submission.case_id, submission_id=submission_id,
                         previous=previous, new=new)
            return STATUS_OF_STAGE[stage]


def _require_reviewer(actor: Actor) -> None:
    if not actor.can_review:
        raise NotAllowed("your role reads cases but does not decide them")


def _open_submission(session: Session, submission_id: str) -> SubmissionRow:
    """The submission, locked for this transaction; only the latest version takes changes."""
    submission = session.scalar(select(SubmissionRow).where(SubmissionRow.id == submission_id)
                                .with_for_update())
    if submission is None:
        raise NotFound("no submission with that id")
    if not submission.is_latest:
        raise StaleVersion(f"version {submission.version} of this case has been replaced by a "
                           "newer version; review the latest one")
    return submission


def _stage(session: Session, submission_id: str) -> int:
    return session.scalar(select(func.count()).select_from(DecisionRow)
                          .where(DecisionRow.submission_id == submission_id)) or 0


def _set_label(session: Session, actor: Actor, submission: SubmissionRow, finding: FindingRow,
               claim: bool, request: LabelRequest) -> dict[str, Any]:
    agrees = request.action is LabelAction.CONFIRM
    new = {"action": request.action.value, "rule_broken": claim if agrees else not claim,
           "note": request.note.strip()}
    row = session.scalar(select(FindingLabelRow).where(FindingLabelRow.finding_id == finding.id))
    previous = None
    if row is None:
        row = FindingLabelRow(finding_id=finding.id, submission_id=finding.submission_id,
                              check=finding.check)
        session.add(row)
    else:
        previous = {"action": row.action, "rule_broken": row.rule_broken, "note": row.note}
        if previous == new:
            return new
    row.action, row.rule_broken, row.note = new["action"], new["rule_broken"], new["note"]
    row.agrees_with_model = agrees
    row.labelled_by, row.labelled_at = actor.id, utcnow()
    audit.append(session, actor, f"finding.{request.action.value}",
                 f"finding {finding.id} ({finding.check} on {finding.target})",
                 case_id=submission.case_id, submission_id=submission.id,
                 previous=previous, new=new)
    return new

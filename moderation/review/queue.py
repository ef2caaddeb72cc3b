"""The triage queue: the latest version of every case, open work first, highest risk first.

Pages are keyset-paginated on (queue_priority, id), which the index
`ix_submissions_queue (is_latest, queue_priority, id)` serves directly: a page costs the same
at the millionth row as at the first (`bench/queue_pagination.py` measures it against OFFSET).
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Select, exists, select, true, tuple_
from sqlalchemy.orm import Session, sessionmaker

from moderation.errors import InputError
from moderation.review.priority import stage_bounds
from moderation.review.schemas import QueueFilters, QueueItem, QueuePage, QueueStatus
from moderation.storage.review_tables import DecisionRow
from moderation.storage.tables import FindingRow, SubmissionRow

STATUS_OF_STAGE = ("pending", "partial", "decided")
_STATUS_STAGES = {
    QueueStatus.OPEN: (0, 1), QueueStatus.PENDING: (0, 0), QueueStatus.PARTIAL: (1, 1),
    QueueStatus.DECIDED: (2, 2), QueueStatus.ALL: (0, 2),
}


class InvalidCursor(InputError):
    status_code = 400


def encode_position(priority: float, submission_id: str) -> str:
    raw = f"{priority!r}|{submission_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        priority, submission_id = raw.split("|", 1)
        value = float(priority)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("the queue cursor is not valid; start again from the first page") \
            from None
    if not submission_id or len(submission_id) > 40 or not 0 <= value < 6:
        raise InvalidCursor("the queue cursor is not valid; start again from the first page")
    return value, submission_id


def stage_of(priority: float) -> int:
    return min(2, int(priority // 2))


class ReviewQueue:
    def __init__(self, sessions: sessionmaker[Session], page_size: int = 50) -> None:
        self.sessions = sessions
        self.page_size = page_size

    def page(self, filters: QueueFilters, after: str | None = None, before: str | None = None,
             limit: int | None = None) -> QueuePage:
        limit = limit or self.page_size
        if after and before:
            raise InvalidCursor("give `after` or `before`, not both")
        position = _key(SubmissionRow)
        statement = filtered(filters)
        if before:
            statement = statement.where(position < tuple_(*decode_position(before)))
            statement = statement.order_by(SubmissionRow.queue_priority.desc(),
                                           SubmissionRow.id.desc())
        else:
            if after:
                statement = statement.where(position > tuple_(*decode_position(after)))
            statement = statement.order_by(SubmissionRow.queue_priority, SubmissionRow.id)
        with self.sessions() as session:
            rows = list(session.execute(statement.limit(limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            if before:
                rows.reverse()
            items = self._items(session, rows)
        has_next = more if not before else True
        has_previous = (more if before else after is not None) and bool(items)
        return QueuePage(
            items=items, filters=filters, limit=limit,
            next_cursor=items[-1].position if items and has_next else None,
            previous_cursor=items[0].position if has_previous else None,
        )

    def next_case(self, filters: QueueFilters, position: str,
                  skip_case: str) -> tuple[str, str] | None:
        """The case (and its position) after `position` in the queue: where the reviewer
        came from, so deciding a case (which moves it down) does not skip the next one."""
        statement = (filtered(filters)
                     .where(_key(SubmissionRow) > tuple_(*decode_position(position)),
                            SubmissionRow.case_id != skip_case)
                     .order_by(SubmissionRow.queue_priority, SubmissionRow.id).limit(1))
        with self.sessions() as session:
            row = session.execute(statement).first()
            return (row.case_id, encode_position(row.queue_priority, row.id)) if row else None

    def position_of(self, case_id: str) -> str | None:
        """Where the latest version of a case stands in the queue now."""
        with self.sessions() as session:
            row = session.execute(select(SubmissionRow.queue_priority, SubmissionRow.id).where(
                SubmissionRow.case_id == case_id, SubmissionRow.is_latest == true())).first()
            return encode_position(row.queue_priority, row.id) if row else None

    @staticmethod
    def _items(session: Session, rows: list) -> list[QueueItem]:  # type: ignore[type-arg]
        ids = [row.id for row in rows]
        failing: dict[str, set[str]] = defaultdict(set)
        decided: dict[str, dict[str, str]] = defaultdict(dict)
        if ids:
            for submission_id, check in session.execute(
                    select(FindingRow.submission_id, FindingRow.check)
                    .where(FindingRow.submission_id.in_(ids), FindingRow.verdict == "fail")):
                failing[submission_id].add(check)
            for submission_id, destination, action in session.execute(
                    select(DecisionRow.submission_id, DecisionRow.destination,
                           DecisionRow.action).where(DecisionRow.submission_id.in_(ids))):
                decided[submission_id][destination] = action
        return [
            QueueItem(
                submission_id=row.id, case_id=row.case_id, version=row.version,
                member_id=row.member_id, procedure=row.procedure, risk=row.risk,
                status=STATUS_OF_STAGE[stage_of(row.queue_priority)],
                failing_checks=sorted(failing[row.id]),
                recommendation={destination: value.get("action", "review")
                                for destination, value in (row.recommendation or {}).items()},
                decisions=decided[row.id],
                created_at=_as_utc(row.created_at),
                position=encode_position(row.queue_priority, row.id),
            )
            for row in rows
        ]


def filtered(filters: QueueFilters) -> Select:  # type: ignore[type-arg]
    """The latest versions that pass the filters, unordered."""
    first_stage, last_stage = _STATUS_STAGES[filters.status]
    statement = select(
        SubmissionRow.id, SubmissionRow.case_id, SubmissionRow.version, SubmissionRow.member_id,
        SubmissionRow.procedure, SubmissionRow.risk, SubmissionRow.created_at,
        SubmissionRow.queue_priority, SubmissionRow.recommendation,
    ).where(SubmissionRow.is_latest == true(),
            SubmissionRow.queue_priority >= stage_bounds(first_stage)[0],
            SubmissionRow.queue_priority < stage_bounds(last_stage)[1])
    if filters.check:
        statement = statement.where(exists().where(
            FindingRow.submission_id == SubmissionRow.id, FindingRow.check == filters.check,
            FindingRow.verdict == "fail"))
    if filters.procedure:
        statement = statement.where(SubmissionRow.procedure == filters.procedure)
    if filters.member:
        statement = statement.where(SubmissionRow.member_id == filters.member)
    if filters.submitted_from:
        statement = statement.where(
            SubmissionRow.created_at >= datetime.combine(filters.submitted_from, time(), UTC))
    if filters.submitted_to:
        statement = statement.where(SubmissionRow.created_at < datetime.combine(
            filters.submitted_to + timedelta(days=1), time(), UTC))
    return statement


def _key(table: type[SubmissionRow]):  # type: ignore[no-untyped-def]
    return tuple_(table.queue_priority, table.id)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

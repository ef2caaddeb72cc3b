"""The triage queue: the latest version of every case, open work first, highest risk first.

Pages are keyset-paginated on (queue_priority, id), which the index
`ix_submissions_queue (is_latest, queue_priority, id)` serves directly: a page costs the same
at the millionth row as at the first (`bench/queue_pagination.py` measures it against OFFSET).
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, literal, select, true, tuple_, union_all
from sqlalchemy.orm import Session, sessionmaker

from moderation.errors import InputError
from moderation.review.priority import stage_bounds
from moderation.review.schemas import QueueFilters, QueueItem, QueuePage, QueueStatus
from moderation.storage.review_tables import DecisionRow, QueueFlagRow
from moderation.storage.tables import SubmissionRow

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
        query = filtered(filters)
        if before:
            statement = query.ordered(descending=True).where(
                query.key < tuple_(*decode_position(before)))
        else:
            statement = query.ordered()
            if after:
                statement = statement.where(query.key > tuple_(*decode_position(after)))
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
        query = filtered(filters)
        statement = (query.ordered()
                     .where(query.key > tuple_(*decode_position(position)),
                            SubmissionRow.case_id != skip_case).limit(1))
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
            # One round trip for both: the failing checks (the queue's flags are exactly the
            # failing checks of latest versions) and the decisions of the rows on this page.
            flags = select(QueueFlagRow.submission_id, literal("fail").label("kind"),
                           QueueFlagRow.check.label("name"), literal("").label("action")
                           ).where(QueueFlagRow.submission_id.in_(ids))
            made = select(DecisionRow.submission_id, literal("decision").label("kind"),
                          DecisionRow.destination.label("name"), DecisionRow.action
                          ).where(DecisionRow.submission_id.in_(ids))
            for submission_id, kind, name, action in session.execute(union_all(flags, made)):
                if kind == "fail":
                    failing[submission_id].add(name)
                else:
                    decided[submission_id][name] = action
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


@dataclass(frozen=True)
class QueueQuery:
    """The latest versions that pass the filters, and the two columns that order them."""

    statement: Select  # type: ignore[type-arg]
    priority: ColumnElement[float]
    submission_id: ColumnElement[str]

    @property
    def key(self):  # type: ignore[no-untyped-def]
        return tuple_(self.priority, self.submission_id)

    def ordered(self, descending: bool = False) -> Select:  # type: ignore[type-arg]
        if descending:
            return self.statement.order_by(self.priority.desc(), self.submission_id.desc())
        return self.statement.order_by(self.priority, self.submission_id)


def filtered(filters: QueueFilters) -> QueueQuery:
    first_stage, last_stage = _STATUS_STAGES[filters.status]
    low, high = stage_bounds(first_stage)[0], stage_bounds(last_stage)[1]
    statement = select(
        SubmissionRow.id, SubmissionRow.case_id, SubmissionRow.version, SubmissionRow.member_id,
        SubmissionRow.procedure, SubmissionRow.risk, SubmissionRow.created_at,
        SubmissionRow.queue_priority, SubmissionRow.recommendation,
    ).where(SubmissionRow.is_latest == true())
    priority, submission_id = SubmissionRow.queue_priority, SubmissionRow.id
    if filters.check:
        # Page through the failing check's own index (queue_flags), not the whole queue's:
        # a rare check on a deep page then costs what the first page costs.
        statement = statement.join(QueueFlagRow, QueueFlagRow.submission_id == SubmissionRow.id)
        statement = statement.where(QueueFlagRow.check == filters.check)
        priority, submission_id = QueueFlagRow.queue_priority, QueueFlagRow.submission_id
    statement = statement.where(priority >= low, priority < high)
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
    return QueueQuery(statement, priority, submission_id)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

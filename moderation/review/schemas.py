"""Wire shapes of the review tool: what the JSON API returns and the pages render."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from moderation.schemas import IDENTIFIER_PATTERN


class Role(StrEnum):
    REVIEWER = "reviewer"
    ADMIN = "admin"
    DATA = "data"  # the data team: reads everything, exports labels, changes nothing


class QueueStatus(StrEnum):
    OPEN = "open"  # at least one destination still to decide (the default)
    PENDING = "pending"  # nothing decided yet
    PARTIAL = "partial"  # one destination decided
    DECIDED = "decided"  # both destinations decided
    ALL = "all"


class LabelAction(StrEnum):
    CONFIRM = "confirm"  # the model was right
    OVERRIDE = "override"  # the model was wrong: the opposite is the label


class DecisionAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class QueueFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: QueueStatus = QueueStatus.OPEN
    check: str | None = Field(None, pattern=r"^[a-z0-9_]{1,32}$",
                              description="only cases where this check failed")
    procedure: str | None = Field(None, max_length=64)
    member: str | None = Field(None, pattern=IDENTIFIER_PATTERN)
    submitted_from: date | None = Field(None, description="first day, inclusive (UTC)")
    submitted_to: date | None = Field(None, description="last day, inclusive (UTC)")

    @model_validator(mode="after")
    def _ordered_dates(self) -> QueueFilters:
        if self.submitted_from and self.submitted_to and self.submitted_from > self.submitted_to:
            raise ValueError("submitted_from is after submitted_to")
        return self

    def query_params(self) -> dict[str, str]:
        """The filters as query-string parameters, leaving out the defaults."""
        params = {key: str(value) for key, value in self.model_dump(exclude_none=True).items()}
        if self.status is QueueStatus.OPEN:
            params.pop("status")
        return params


class QueueItem(BaseModel):
    submission_id: str
    case_id: str
    version: int
    member_id: str
    procedure: str
    risk: float
    status: Literal["pending", "partial", "decided"]
    failing_checks: list[str]
    recommendation: dict[str, str] = Field(description="the service's action per destination")
    decisions: dict[str, str] = Field(description="staff's action per decided destination")
    created_at: datetime
    position: str = Field(description="this row's place in the queue, to continue after it")


class QueuePage(BaseModel):
    items: list[QueueItem]
    filters: QueueFilters
    limit: int
    next_cursor: str | None = Field(None, description="pass as `after` for the next page")
    previous_cursor: str | None = Field(None, description="pass as `before` for the page before")


class LabelView(BaseModel):
    action: LabelAction
    rule_broken: bool
    agrees_with_model: bool
    note: str
    labelled_by: str | None
    labelled_at: datetime


class FindingView(BaseModel):
    id: int
    check: str
    target: str
    score: float
    verdict: str
    reason: str
    evidence: dict[str, Any]
    model: dict[str, str]
    model_says_broken: bool | None = Field(
        description="what the model claims: fail -> true, pass -> false, uncertain -> by score, "
                    "error -> null (nothing to confirm)")
    label: LabelView | None = None


class DecisionView(BaseModel):
    destination: str
    action: DecisionAction
    reason_code: str | None
    reason_label: str | None
    reason_text: str
    decided_by: str | None
    decided_at: datetime


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    submission_id: str | None
    previous: dict[str, Any] | None
    new: dict[str, Any] | None


class TextSegment(BaseModel):
    text: str
    entity_type: str | None = None
    score: float | None = None


class HighlightedText(BaseModel):
    target: str  # description, field:<name>
    label: str
    segments: list[TextSegment]


class PhotoView(BaseModel):
    id: str  # set1/before
    side: Literal["before", "after"]
    sha256: str | None  # of the stored copy; None when nothing was stored
    format: str
    width: int | None
    height: int | None


class PhotoSetView(BaseModel):
    index: int
    view: str | None
    before: PhotoView
    after: PhotoView


class VersionRef(BaseModel):
    version: int
    submission_id: str
    created_at: datetime
    status: str


class CaseDetail(BaseModel):
    submission_id: str
    case_id: str
    version: int
    is_latest: bool
    versions: list[VersionRef]
    member_id: str
    procedure: str
    consent_confirmed: bool
    description: str
    fields: dict[str, Any]
    risk: float
    status: Literal["pending", "partial", "decided"]
    recommendation: dict[str, Any]
    created_at: datetime
    photo_sets: list[PhotoSetView]
    findings: list[FindingView]
    texts: list[HighlightedText] = Field(description="the notes and fields, split at PHI spans")
    decisions: dict[str, DecisionView | None]
    audit: list[AuditEntry]


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: LabelAction
    note: str = Field("", max_length=2000)


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: Literal["profile", "gallery"]
    action: DecisionAction
    reason_code: str | None = Field(None, max_length=64)
    reason_text: str = Field("", max_length=2000)


class LabelExportRow(BaseModel):
    """One staff label, as the dataset export (issue 8) reads it."""

    label_id: int
    finding_id: int
    submission_id: str
    case_id: str
    case_version: int
    check: str
    target: str
    score: float
    verdict: str
    model: dict[str, str]
    evidence: dict[str, Any]
    action: LabelAction
    rule_broken: bool
    agrees_with_model: bool
    labelled_by: str | None
    labelled_at: datetime

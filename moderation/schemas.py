"""Wire shapes: what a submission is, and what scoring one returns.

These are the contract of DESIGN.md; the API and the CLI print the same `ScoreResult`.
Database tables live apart, in `moderation.storage.tables`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
PART_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"


class Destination(StrEnum):
    PROFILE = "profile"
    GALLERY = "gallery"


class Verdict(StrEnum):
    PASS = "pass"
    UNCERTAIN = "uncertain"
    FAIL = "fail"
    ERROR = "error"


class Action(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    REJECT = "reject"


class View(StrEnum):
    FRONTAL = "frontal"
    OBLIQUE = "oblique"
    OBLIQUE_LEFT = "oblique_left"
    OBLIQUE_RIGHT = "oblique_right"
    LATERAL = "lateral"
    LATERAL_LEFT = "lateral_left"
    LATERAL_RIGHT = "lateral_right"
    POSTERIOR = "posterior"
    BASE = "base"
    VERTEX = "vertex"
    CLOSEUP = "closeup"
    OTHER = "other"


Side = Literal["before", "after"]


# ---------------------------------------------------------------- the submission


class PhotoSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: View | None = None
    before: str = Field(pattern=PART_NAME_PATTERN, description="name of the multipart file part")
    after: str = Field(pattern=PART_NAME_PATTERN, description="name of the multipart file part")


class Submission(BaseModel):
    """One case as the upload backend sends it in the `submission` part."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(pattern=IDENTIFIER_PATTERN)
    member_id: str = Field(pattern=IDENTIFIER_PATTERN)
    procedure: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    consent_confirmed: StrictBool
    description: str = ""
    fields: dict[str, Any] = Field(default_factory=dict)
    photo_sets: list[PhotoSet] = Field(min_length=1)

    @field_validator("consent_confirmed")
    @classmethod
    def _consent_on_file(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "consent_confirmed must be true: the society publishes no case "
                "without the surgeon's confirmation that patient consent is on file"
            )
        return value

    def photo_targets(self) -> list[tuple[str, str]]:
        """(photo id, file part name) for every photo, sets numbered from 1."""
        targets = []
        for index, photo_set in enumerate(self.photo_sets, start=1):
            targets.append((f"set{index}/before", photo_set.before))
            targets.append((f"set{index}/after", photo_set.after))
        return targets


# ---------------------------------------------------------------- findings


class Box(BaseModel):
    """A region in the photo's own pixel coordinates (after EXIF orientation)."""

    x: int
    y: int
    w: int
    h: int
    label: str | None = None
    score: float | None = None
    text: str | None = None


class Span(BaseModel):
    start: int
    end: int
    entity_type: str
    score: float
    category: str | None = Field(
        None, description="whose it is: `patient` (PHI) or `author` (the surgeon's own name "
        "or practice, reported apart); null where not told")


class Evidence(BaseModel):
    model_config = ConfigDict(extra="allow")

    boxes: list[Box] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)


class ModelRef(BaseModel):
    name: str
    version: str


class Finding(BaseModel):
    check: str
    target: str = Field(description="`description`, `field:<name>` or `photo:<set>/<before|after>`")
    score: float = Field(ge=0, le=1, description="probability that the rule is broken")
    verdict: Verdict
    reason: str = Field(description="a short summary that never quotes PHI")
    evidence: Evidence = Field(default_factory=Evidence)
    model: ModelRef


class DestinationRecommendation(BaseModel):
    action: Action
    reasons: list[str] = Field(default_factory=list)


class PhotoInfo(BaseModel):
    id: str
    sha256: str = Field(description="sha256 of the uploaded bytes")
    stored_sha256: str | None = Field(
        None, description="sha256 of the stored copy (metadata stripped); null if none is stored"
    )
    format: str
    width: int | None = None
    height: int | None = None
    bytes: int


class ScoreResult(BaseModel):
    submission_id: str
    case_id: str
    version: int | None = Field(None, description="the case's version; null outside the service")
    procedure: str
    risk: float = Field(ge=0, le=1)
    recommendation: dict[Destination, DestinationRecommendation]
    findings: list[Finding]
    photos: list[PhotoInfo]
    models: list[ModelRef]
    timings_ms: dict[str, float]
    created_at: datetime | None = None


class ProblemDetail(BaseModel):
    """Every 4xx/5xx body: what went wrong, never echoing submitted content."""

    detail: str
    errors: list[dict[str, Any]] | None = None

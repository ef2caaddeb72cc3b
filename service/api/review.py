"""The review tool's JSON API: the same operations as the pages, for other staff tools.

Every route needs a signed-in session (POST /v1/session); changes also need the session's
CSRF token in the X-CSRF-Token header. An API key for /v1/score opens none of them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ValidationError

from moderation.errors import InvalidSubmission
from moderation.pipeline import validation_errors
from moderation.review.schemas import (
    CaseDetail,
    DecisionRequest,
    LabelExportRow,
    LabelRequest,
    QueueFilters,
    QueuePage,
    Role,
)
from moderation.schemas import ProblemDetail
from service.auth.deps import SESSION_COOKIE, ApiSession, client_address, require_role
from service.auth.login import clear_session_cookie, set_session_cookie, sign_in
from service.auth.sessions import SignedIn
from service.deps import RuntimeDep

router = APIRouter(prefix="/v1", tags=["review"])
_ERRORS = {code: {"model": ProblemDetail} for code in (400, 401, 403, 404, 409, 422, 429)}


def queue_filters(status_: str | None = None, check: str | None = None,
                  procedure: str | None = None, member: str | None = None,
                  submitted_from: date | None = None,
                  submitted_to: date | None = None) -> QueueFilters:
    """Filters from query parameters; empty strings (an HTML form's blank fields) mean none."""
    raw = {"status": status_, "check": check, "procedure": procedure, "member": member,
           "submitted_from": submitted_from, "submitted_to": submitted_to}
    try:
        return QueueFilters.model_validate({k: v for k, v in raw.items() if v not in (None, "")})
    except ValidationError as exc:
        raise InvalidSubmission("the queue filters are not valid", validation_errors(exc)) from None


@router.get("/queue", response_model=QueuePage, responses=_ERRORS,
            summary="The triage queue: latest version of each case, open work and highest risk first")
def queue(runtime: RuntimeDep, _session: ApiSession,
          status_: Annotated[str | None, Query(alias="status",
                                               description="open, pending, partial, decided, all")] = None,
          check: Annotated[str | None, Query(description="only cases this check failed")] = None,
          procedure: str | None = None, member: str | None = None,
          submitted_from: date | None = None, submitted_to: date | None = None,
          after: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
          before: Annotated[str | None, Query(description="previous_cursor of the page after")] = None,
          limit: Annotated[int | None, Query(ge=1, le=500)] = None) -> QueuePage:
    filters = queue_filters(status_, check, procedure, member, submitted_from, submitted_to)
    return runtime.review.queue.page(filters, after=after, before=before, limit=limit)


@router.get("/cases/{case_id}", response_model=CaseDetail, responses=_ERRORS,
            summary="One case for review: photos, findings with labels, decisions, audit trail")
def case(case_id: str, runtime: RuntimeDep, _session: ApiSession,
         version: Annotated[int | None, Query(ge=1)] = None) -> CaseDetail:
    detail = runtime.review.cases.get(case_id, version)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case (or version) with that id")
    return detail


class LabelResult(BaseModel):
    finding_id: int
    action: str
    rule_broken: bool


@router.post("/findings/{finding_id}/label", response_model=LabelResult, responses=_ERRORS,
             summary="Confirm a finding (the model was right) or override it (it was wrong)")
def label_finding(finding_id: int, body: LabelRequest, runtime: RuntimeDep,
                  session: ApiSession) -> LabelResult:
    label = runtime.review.actions.label(session.user.actor, finding_id, body)
    return LabelResult(finding_id=finding_id, action=label["action"],
                       rule_broken=label["rule_broken"])


class ConfirmAllResult(BaseModel):
    confirmed: int


@router.post("/cases/{case_id}/versions/{version}/confirm-all", response_model=ConfirmAllResult,
             responses=_ERRORS, summary="Confirm every finding of this version not labelled yet")
def confirm_all(case_id: str, version: int, runtime: RuntimeDep,
                session: ApiSession) -> ConfirmAllResult:
    submission_id = _submission_id(runtime, case_id, version)
    return ConfirmAllResult(
        confirmed=runtime.review.actions.confirm_all(session.user.actor, submission_id))


class DecisionResult(BaseModel):
    destination: str
    action: str
    case_status: str


@router.post("/cases/{case_id}/versions/{version}/decisions", response_model=DecisionResult,
             responses=_ERRORS, summary="The final decision for one destination of this version")
def decide(case_id: str, version: int, body: DecisionRequest, runtime: RuntimeDep,
           session: ApiSession) -> DecisionResult:
    submission_id = _submission_id(runtime, case_id, version)
    case_status = runtime.review.actions.decide(session.user.actor, submission_id, body)
    return DecisionResult(destination=body.destination, action=body.action.value,
                          case_status=case_status)


@router.get("/labels", response_model=list[LabelExportRow], responses=_ERRORS,
            summary="Staff labels per finding, for the dataset export (data team, admins)")
def labels(runtime: RuntimeDep, session: ApiSession, check: str | None = None,
           after_id: Annotated[int, Query(ge=0)] = 0,
           limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[LabelExportRow]:
    require_role(session, Role.DATA, Role.ADMIN)
    return runtime.review.labels.page(check=check, after_id=after_id, limit=limit)


def _submission_id(runtime: RuntimeDep, case_id: str, version: int) -> str:
    submission_id = runtime.review.cases.submission_id(case_id, version)
    if submission_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case (or version) with that id")
    return submission_id


# ---------------------------------------------------------------- the session itself


class Credentials(BaseModel):
    username: str
    password: str


class SessionInfo(BaseModel):
    username: str
    display_name: str
    role: Role
    csrf_token: str


@router.post("/session", response_model=SessionInfo, responses=_ERRORS,
             summary="Sign in: sets the session cookie and returns the CSRF token for changes")
def open_session(body: Credentials, request: Request, response: Response,
                 runtime: RuntimeDep) -> SessionInfo:
    token, signed = sign_in(runtime.review, body.username, body.password, client_address(request))
    set_session_cookie(response, token, runtime.review.settings)
    return _info(signed)


@router.get("/session", response_model=SessionInfo, responses=_ERRORS,
            summary="Who is signed in")
def current_session(session: ApiSession) -> SessionInfo:
    return _info(session)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS,
               summary="Sign out")
def close_session(request: Request, response: Response, runtime: RuntimeDep,
                  _session: ApiSession) -> None:
    runtime.review.sessions.close(request.cookies.get(SESSION_COOKIE))
    clear_session_cookie(response, runtime.review.settings)


def _info(session: SignedIn) -> SessionInfo:
    user = session.user
    return SessionInfo(username=user.username, display_name=user.display_name, role=user.role,
                       csrf_token=session.csrf_token)

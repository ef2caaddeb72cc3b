"""The triage queue, the case page and the reviewer's forms (labels, decisions)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from moderation.checks.registry import CHECKS
from moderation.errors import InputError
from moderation.review.schemas import (
    DecisionAction,
    DecisionRequest,
    LabelAction,
    LabelRequest,
    QueueFilters,
    Role,
)
from moderation.storage.tables import StoredImage
from service.api.review import queue_filters
from service.auth.deps import PageSession, require_role
from service.auth.sessions import SignedIn
from service.deps import RuntimeDep
from service.pages.evidence import layers
from service.pages.previews import PREVIEW_WIDTHS, preview_bytes
from service.pages.templating import render

router = APIRouter(prefix="/review", include_in_schema=False)

def _filters(status_: str | None, check: str | None, procedure: str | None, member: str | None,
             submitted_from: str | None, submitted_to: str | None) -> QueueFilters:
    try:
        return queue_filters(status_, check, procedure, member,
                             date.fromisoformat(submitted_from) if submitted_from else None,
                             date.fromisoformat(submitted_to) if submitted_to else None)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "a date filter is not a date (YYYY-MM-DD)") from None


def _check_names(runtime: RuntimeDep) -> list[str]:
    names = set(CHECKS)
    for checks in runtime.settings.policy.expected_checks.values():
        names.update(checks)
    return sorted(names | {"duplicate"})


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, runtime: RuntimeDep, session: PageSession,
               status_: Annotated[str | None, Query(alias="status")] = None,
               check: str | None = None, procedure: str | None = None,
               member: str | None = None, submitted_from: str | None = None,
               submitted_to: str | None = None, after: str | None = None,
               before: str | None = None) -> Response:
    filters = _filters(status_, check, procedure, member, submitted_from, submitted_to)
    page = runtime.review.queue.page(filters, after=after or None, before=before or None)
    query = filters.query_params()
    return render(request, "queue.html", session, page=page, filters=filters,
                  filter_query=urlencode(query), query=query,
                  checks=_check_names(runtime),
                  procedures=[p.code for p in runtime.pipeline.taxonomy.procedures])


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str, runtime: RuntimeDep, session: PageSession,
              version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return _render_case(request, runtime, session, case_id, version)


def _render_case(request: Request, runtime: RuntimeDep, session: SignedIn, case_id: str,
                 version: int | None = None, error: InputError | None = None,
                 context: str | None = None) -> Response:
    case = runtime.review.cases.get(case_id, version)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case (or version) with that id")
    back = _queue_context(request) if context is None else dict(parse_qsl(context))
    return render(request, "case.html", session, case=case, layers=layers(case),
                  status_code=error.status_code if error else 200,
                  reasons=runtime.review.settings.reject_reasons,
                  can_review=session.user.actor.can_review and case.is_latest,
                  queue_context=urlencode(back), error=error.message if error else None,
                  findings_by_target=_findings_by_target(case))


def _findings_by_target(case):  # type: ignore[no-untyped-def]
    grouped: dict[str, list] = {}  # type: ignore[type-arg]
    for finding in case.findings:
        grouped.setdefault(finding.target, []).append(finding)
    return grouped


def _queue_context(request: Request) -> dict[str, str]:
    """The queue filters and position the reviewer came from, carried from page to page."""
    keep = ("status", "check", "procedure", "member", "submitted_from", "submitted_to", "from")
    return {key: request.query_params[key] for key in keep if request.query_params.get(key)}


@router.get("/cases/{case_id}/next")
def next_case(case_id: str, runtime: RuntimeDep, _session: PageSession,
              status_: Annotated[str | None, Query(alias="status")] = None,
              check: str | None = None, procedure: str | None = None,
              member: str | None = None, submitted_from: str | None = None,
              submitted_to: str | None = None,
              from_: Annotated[str | None, Query(alias="from")] = None) -> RedirectResponse:
    """The case after this one in the queue the reviewer came from (its filters and place)."""
    filters = _filters(status_, check, procedure, member, submitted_from, submitted_to)
    position = from_ or runtime.review.queue.position_of(case_id)
    following = runtime.review.queue.next_case(filters, position, case_id) if position else None
    if following is None:
        return RedirectResponse(f"/review/queue?{urlencode(filters.query_params())}",
                                status_code=status.HTTP_303_SEE_OTHER)
    next_id, next_position = following
    query = urlencode({**filters.query_params(), "from": next_position})
    return RedirectResponse(f"/review/cases/{next_id}?{query}",
                            status_code=status.HTTP_303_SEE_OTHER)


# ---------------------------------------------------------------- forms


def _back_to_case(case_id: str, context: str, anchor: str = "") -> Response:
    query = urlencode(parse_qsl(context))  # re-encoded: the form field is only data
    url = f"/review/cases/{quote(case_id)}" + (f"?{query}" if query else "") + anchor
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/cases/{case_id}/findings/{finding_id}/label")
def label_form(request: Request, case_id: str, finding_id: int, runtime: RuntimeDep, session: PageSession,
               action: Annotated[LabelAction, Form()],
               note: Annotated[str, Form(max_length=2000)] = "",
               context: Annotated[str, Form(max_length=4096)] = "") -> Response:
    try:
        runtime.review.actions.label(session.user.actor, finding_id,
                                     LabelRequest(action=action, note=note))
    except InputError as exc:
        return _render_case(request, runtime, session, case_id, error=exc, context=context)
    return _back_to_case(case_id, context, f"#finding-{finding_id}")


@router.post("/cases/{case_id}/versions/{version}/confirm-all")
def confirm_all_form(request: Request, case_id: str, version: int, runtime: RuntimeDep, session: PageSession,
                     context: Annotated[str, Form(max_length=4096)] = "") -> Response:
    submission_id = _submission_id(runtime, case_id, version)
    try:
        runtime.review.actions.confirm_all(session.user.actor, submission_id)
    except InputError as exc:
        return _render_case(request, runtime, session, case_id, error=exc, context=context)
    return _back_to_case(case_id, context, "#findings")


@router.post("/cases/{case_id}/versions/{version}/decisions")
def decision_form(request: Request, case_id: str, version: int, runtime: RuntimeDep, session: PageSession,
                  destination: Annotated[str, Form()], action: Annotated[DecisionAction, Form()],
                  reason_code: Annotated[str, Form(max_length=64)] = "",
                  reason_text: Annotated[str, Form(max_length=2000)] = "",
                  context: Annotated[str, Form(max_length=4096)] = "") -> Response:
    submission_id = _submission_id(runtime, case_id, version)
    if destination not in {"profile", "gallery"}:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown destination")
    try:
        runtime.review.actions.decide(session.user.actor, submission_id, DecisionRequest(
            destination=destination, action=action,  # type: ignore[arg-type]
            reason_code=reason_code or None, reason_text=reason_text))
    except InputError as exc:
        return _render_case(request, runtime, session, case_id, error=exc, context=context)
    return _back_to_case(case_id, context, "#decisions")


def _submission_id(runtime: RuntimeDep, case_id: str, version: int) -> str:
    submission_id = runtime.review.cases.submission_id(case_id, version)
    if submission_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case (or version) with that id")
    return submission_id


# ---------------------------------------------------------------- photos and export


@router.get("/photos/{sha256}")
def photo(sha256: str, runtime: RuntimeDep, _session: PageSession,
          w: Annotated[int | None, Query(description="a preview this wide")] = None) -> Response:
    with runtime.sessions() as db:
        stored = db.get(StoredImage, sha256) if len(sha256) == 64 else None
    if stored is None or not runtime.images.exists(sha256, stored.format):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no stored photo with that hash")
    headers = {"Cache-Control": "private, max-age=86400, immutable"}
    original = runtime.images.get(sha256, stored.format)
    if w is not None:
        if w not in PREVIEW_WIDTHS:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"preview widths are {', '.join(map(str, PREVIEW_WIDTHS))}")
        data = preview_bytes(original, runtime.settings.data_dir / "previews", sha256, w)
        return Response(data, media_type="image/jpeg", headers=headers)
    media = "image/jpeg" if stored.format == "JPEG" else "image/png"
    return Response(original, media_type=media, headers=headers)


@router.get("/labels.jsonl")
def labels_export(runtime: RuntimeDep, session: PageSession,
                  check: str | None = None) -> StreamingResponse:
    require_role(session, Role.DATA, Role.ADMIN)

    def lines() -> Iterator[bytes]:
        after = 0
        while True:
            rows = runtime.review.labels.page(check=check or None, after_id=after, limit=1000)
            if not rows:
                return
            for row in rows:
                yield (row.model_dump_json() + "\n").encode()
            after = rows[-1].label_id

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": 'attachment; filename="labels.jsonl"'})


from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from moderation.errors import InvalidSubmission
from moderation.schemas import ProblemDetail, ScoreResult
from service.deps import ApiKey, RuntimeDep
from service.multipart import MultipartLimits, read_multipart

router = APIRouter(prefix="/v1", tags=["submissions"], dependencies=[ApiKey])

_ERRORS = {code: {"model": ProblemDetail} for code in (400, 401, 404, 409, 413, 415, 422, 503)}
_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["submission"],
            "properties": {"submission": {
                "type": "string",
                "description": "the submission as JSON: case_id, member_id, procedure, "
                               "consent_confirmed, description, fields, photo_sets naming "
                               "their file parts"}},
            "additionalProperties": {"type": "string", "format": "binary",
                                     "description": "a photo (JPEG or PNG, at most 15 MB)"},
        }}},
    }
}


@router.post("/score", response_model=ScoreResult, status_code=status.HTTP_201_CREATED,
             summary="Score a submission against every rule, store it and recommend",
             responses={200: {"model": ScoreResult, "description": "the same content, scored before"},
                        **_ERRORS},
             openapi_extra=_MULTIPART_BODY)
async def score(request: Request, response: Response, runtime: RuntimeDep) -> ScoreResult:
    intake, scoring = runtime.settings.intake, runtime.scoring
    with scoring.admission:  # full: 503 before the body is read
        parts = await read_multipart(request, MultipartLimits(
            max_file_bytes=intake.max_photo_bytes,
            max_field_bytes=intake.max_submission_json_bytes,
            max_parts=2 * intake.max_photo_sets + 1))
        submission = parts.pop("submission", None)
        if submission is None:
            raise InvalidSubmission("the form needs a 'submission' part holding the submission JSON")
        files = {name: bytes(part.data) for name, part in parts.items()}
        del parts
        result, created = await asyncio.wrap_future(scoring.executor.submit(
            scoring.score_posted, bytes(submission.data), files))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/submissions/{result.submission_id}"
    return result


@router.get("/submissions/{submission_id}", response_model=ScoreResult,
            responses={202: {"description": "stored, not scored yet"}, **_ERRORS},
            summary="One stored submission with its findings")
def get_submission(submission_id: str, runtime: RuntimeDep) -> ScoreResult | JSONResponse:
    result = runtime.repository.get(submission_id)
    if result is not None:
        return result
    if runtime.repository.status_of(submission_id) is not None:
        return JSONResponse({"submission_id": submission_id, "status": "received",
                             "detail": "stored and waiting to be scored"},
                            status_code=status.HTTP_202_ACCEPTED)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no submission with that id")


@router.get("/cases/{case_id}/versions", response_model=list[ScoreResult], responses=_ERRORS,
            summary="Every version of a case, oldest first")
def case_versions(case_id: str, runtime: RuntimeDep) -> list[ScoreResult]:
    versions = runtime.repository.versions(case_id)
    if not versions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case with that id")
    return versions

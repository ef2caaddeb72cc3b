"""Validate a submission, prepare its photos once, run every check, aggregate.

The API and the CLI both call this, so they answer with the same JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import ValidationError

from moderation.checks.base import Check, CheckContext, Observation
from moderation.checks.registry import build_checks
from moderation.errors import InvalidSubmission, PayloadTooLarge
from moderation.intake import (
    PreparedPhoto,
    PreparedSubmission,
    decode_for_checks,
    inspect_upload,
    make_stored_copy,
)
from moderation.policy import ERROR_SCORE, recommend, risk_of, verdict_for
from moderation.schemas import (
    Evidence,
    Finding,
    ModelRef,
    PhotoInfo,
    ScoreResult,
    Submission,
    Verdict,
)
from moderation.settings import Settings
from moderation.taxonomy import Taxonomy, default_taxonomy

log = logging.getLogger(__name__)
T = TypeVar("T")


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the submitted values, which may hold PHI."""
    return [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]


class ModerationPipeline:
    def __init__(self, settings: Settings, taxonomy: Taxonomy, checks: list[Check]) -> None:
        self.settings = settings
        self.taxonomy = taxonomy
        self.checks = checks
        # Work inside one request (decoding its photos, running its checks) shares this pool;
        # its tasks never wait on the pool themselves, so it cannot deadlock.
        self._pool = ThreadPoolExecutor(max_workers=settings.scoring.threads_per_request,
                                        thread_name_prefix="request-work")

    @classmethod
    def from_settings(cls, settings: Settings, taxonomy: Taxonomy | None = None,
                      resources: dict[str, Any] | None = None) -> ModerationPipeline:
        taxonomy = taxonomy or default_taxonomy()
        context = CheckContext(settings=settings, taxonomy=taxonomy, resources=resources or {})
        return cls(settings, taxonomy, build_checks(context))

    # ------------------------------------------------------------ validation

    def parse_submission(self, raw: str | bytes) -> Submission:
        limits = self.settings.intake
        if len(raw) > limits.max_submission_json_bytes:
            raise PayloadTooLarge(
                f"the submission part is {len(raw):,} bytes; the limit is "
                f"{limits.max_submission_json_bytes:,}")
        try:
            submission = Submission.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidSubmission("the submission part is not a valid submission",
                                    validation_errors(exc)) from None
        self._check_against_taxonomy(submission)
        return submission

    def _check_against_taxonomy(self, submission: Submission) -> None:
        limits = self.settings.intake
        procedure = self.taxonomy.get(submission.procedure)
        if procedure is None:
            raise InvalidSubmission(
                f"unknown procedure code '{submission.procedure}'; GET /v1/procedures lists "
                "the valid codes",
                [{"loc": ["procedure"], "msg": "unknown procedure code", "type": "procedure"}])
        problems = procedure.field_problems(submission.fields)
        if problems:
            raise InvalidSubmission(
                f"{len(problems)} procedure field(s) do not fit procedure {procedure.code}; "
                "GET /v1/procedures lists its fields",
                [{"loc": ["fields", name], "msg": problem, "type": "field"}
                 for name, problem in problems])
        if len(submission.description) > limits.max_description_chars:
            raise InvalidSubmission(
                f"the description is {len(submission.description):,} characters; the limit is "
                f"{limits.max_description_chars:,}")
        if len(submission.photo_sets) > limits.max_photo_sets:
            raise InvalidSubmission(
                f"the submission has {len(submission.photo_sets)} photo sets; the limit is "
                f"{limits.max_photo_sets}")

    def prepare(self, submission: Submission, files: Mapping[str, bytes]) -> PreparedSubmission:
        """Match file parts to photo sets and inspect every photo (415/413 come from here)."""
        targets = submission.photo_targets()
        named = {part for _, part in targets}
        missing = sorted(named - set(files))
        if missing:
            raise InvalidSubmission(
                "the photo sets name file part(s) the request does not hold: "
                + ", ".join(f"'{part}'" for part in missing))
        unused = sorted(set(files) - named)
        if unused:
            raise InvalidSubmission(
                "file part(s) not named by any photo set: "
                + ", ".join(f"'{part}'" for part in unused))
        views = {f"set{i}": s.view for i, s in enumerate(submission.photo_sets, start=1)}
        photos = [
            inspect_upload(photo_id, part, views[photo_id.split("/")[0]], files[part],
                           self.settings.intake)
            for photo_id, part in targets
        ]
        timings: dict[str, float] = {}
        with _timed(timings, "decode"):
            # Each photo's stored copy is made beside its decoding, on the same threads.
            self._decode_all(photos, self._keep_stored_copy)
        if self.settings.intake.refuse_undecodable:
            _refuse_undecodable(photos)
        prepared = self._assemble(submission, photos)
        prepared.timings_ms.update(timings)
        return prepared

    def restore(self, submission: Submission, photos: list[PreparedPhoto]) -> PreparedSubmission:
        """A stored submission, rebuilt from its stored photos for re-scoring."""
        timings: dict[str, float] = {}
        with _timed(timings, "decode"):
            self._decode_all(photos)
        prepared = self._assemble(submission, photos)
        prepared.timings_ms.update(timings)
        return prepared

    def _keep_stored_copy(self, photo: PreparedPhoto) -> None:
        if photo.problem is None or not self.settings.intake.refuse_undecodable:
            make_stored_copy(photo)  # a photo about to be refused is never stored

    def _assemble(self, submission: Submission, photos: list[PreparedPhoto]) -> PreparedSubmission:
        procedure = self.taxonomy.get(submission.procedure)
        if procedure is None:
            raise InvalidSubmission(f"unknown procedure code '{submission.procedure}'")
        return PreparedSubmission(submission, procedure, photos, _content_hash(submission, photos))

    # ------------------------------------------------------------ scoring

    def score(self, prepared: PreparedSubmission) -> ScoreResult:
        started = time.perf_counter()
        timings = dict(prepared.timings_ms)  # decoding was done by prepare or restore
        findings: list[Finding] = []
        # Checks are independent: they run side by side (numpy, OpenCV and the model runtimes
        # release the GIL), and their findings come back in registry order.
        for check, (check_findings, elapsed_ms) in zip(self.checks, self._pool.map(
                lambda check: _timed_call(self._run_check, check, prepared), self.checks)):
            findings.extend(check_findings)
            timings[check.name] = elapsed_ms
        gates = {check.name: check.destinations for check in self.checks}
        thresholds = {check.name: check.settings for check in self.checks}
        recommendation = recommend(findings, gates, thresholds, self.settings.policy)
        timings["total"] = (time.perf_counter() - started) * 1000 + sum(prepared.timings_ms.values())
        return ScoreResult(
            submission_id=prepared.submission_id,
            case_id=prepared.submission.case_id,
            procedure=prepared.procedure.code,
            risk=risk_of(findings),
            recommendation=recommendation,
            findings=findings,
            photos=[_photo_info(photo) for photo in prepared.photos],
            models=_models_used(self.checks, findings),
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
        )

    def _decode_all(self, photos: list[PreparedPhoto],
                    then: Callable[[PreparedPhoto], None] | None = None) -> None:
        side = self.settings.intake.working_max_side

        def decode(photo: PreparedPhoto) -> None:
            decode_for_checks(photo, side)
            if then is not None:
                then(photo)
        list(self._pool.map(decode, photos))

    def _run_check(self, check: Check, prepared: PreparedSubmission) -> list[Finding]:
        try:
            observations = check.run(prepared)
        except Exception as exc:  # noqa: BLE001 - one broken check must not sink the others
            frames = "; ".join(f"{f.filename}:{f.lineno} in {f.name}"
                               for f in traceback.extract_tb(exc.__traceback__)[-4:])
            # The exception's message is left out on purpose: it may quote submitted text.
            log.error("check %s raised %s on submission %s at %s", check.name,
                      type(exc).__name__, prepared.submission_id, frames)
            return [Finding(check=check.name, target="case", score=ERROR_SCORE,
                            verdict=Verdict.ERROR,
                            reason=f"the check failed to run ({type(exc).__name__})",
                            model=check.model)]
        return [self._judge(check, observation) for observation in observations]

    @staticmethod
    def _judge(check: Check, observation: Observation) -> Finding:
        score = min(1.0, max(0.0, float(observation.score)))
        return Finding(
            check=check.name,
            target=observation.target,
            score=round(score, 4),
            verdict=verdict_for(score, check.settings),
            reason=observation.reason,
            evidence=observation.evidence or Evidence(),
            model=observation.model or check.model,
        )


def _timed_call(function: Callable[..., T], *args: object) -> tuple[T, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000


class _timed:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        elapsed = (time.perf_counter() - self.started) * 1000
        self.timings[self.name] = self.timings.get(self.name, 0.0) + elapsed


def _refuse_undecodable(photos: list[PreparedPhoto]) -> None:
    broken = [photo for photo in photos if photo.problem is not None]
    if broken:
        raise InvalidSubmission(
            "photo(s) cannot be decoded: " + "; ".join(
                f"{photo.target} (file part '{photo.part}') is {photo.problem.code}: "
                f"{photo.problem.message}" for photo in broken if photo.problem),
            [{"loc": [photo.target], "msg": photo.problem.message, "type": f"integrity.{photo.problem.code}"}
             for photo in broken if photo.problem])


def _content_hash(submission: Submission, photos: list[PreparedPhoto]) -> str:
    by_part = {photo.part: photo.sha256 for photo in photos}
    content = submission.model_dump(mode="json")
    for photo_set in content["photo_sets"]:
        photo_set["before"] = by_part[photo_set["before"]]
        photo_set["after"] = by_part[photo_set["after"]]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _photo_info(photo: PreparedPhoto) -> PhotoInfo:
    return PhotoInfo(id=photo.id, sha256=photo.sha256, stored_sha256=photo.stored_sha256,
                     format=photo.format.value, width=photo.width, height=photo.height,
                     bytes=photo.upload_size)


def _models_used(checks: list[Check], findings: list[Finding]) -> list[ModelRef]:
    seen: dict[tuple[str, str], ModelRef] = {}
    for model in [check.model for check in checks] + [finding.model for finding in findings]:
        seen.setdefault((model.name, model.version), model)
    return list(seen.values())

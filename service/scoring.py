"""Score a posted submission, or return the stored result for content already scored."""

from __future__ import annotations

import logging

from moderation.schemas import ScoreResult
from service.runtime import Runtime

log = logging.getLogger(__name__)


def score_and_store(runtime: Runtime, submission_json: bytes,
                    files: dict[str, bytes]) -> tuple[ScoreResult, bool]:
    """Returns the result and whether it is new (False: the same content was scored before)."""
    pipeline = runtime.pipeline
    submission = pipeline.parse_submission(submission_json)
    prepared = pipeline.prepare(submission, files)
    existing = runtime.repository.find_by_content(prepared.content_hash)
    if existing is not None:
        log.info("submission %s already scored; returning the stored result", existing.submission_id)
        return existing, False
    result = pipeline.score(prepared)
    stored, created = runtime.repository.save(prepared, result)
    log.info("scored submission %s (version %s): risk %.2f in %.0f ms", stored.submission_id,
             stored.version, stored.risk, result.timings_ms.get("total", 0.0))
    return stored, created

"""Scoring a stored submission again from what was stored: after a worker died mid-scoring,
or after a model promotion (in bulk, on Ray: `training/rescore.py`). One function for both."""

from __future__ import annotations

import logging

from moderation.errors import InputError
from moderation.intake import restore_stored
from moderation.pipeline import ModerationPipeline
from moderation.schemas import ScoreResult, View
from moderation.storage.repository import SubmissionRepository

log = logging.getLogger(__name__)


def rescore(pipeline: ModerationPipeline, repository: SubmissionRepository,
            submission_id: str) -> ScoreResult:
    """Rebuild the submission from its stored photos (same pixels and orientation, and the
    identifying metadata recorded at upload), score it, and replace its findings."""
    submission, stored_photos = repository.load_stored(submission_id)
    photos = []
    for stored in stored_photos:
        if stored.stored is None:
            raise InputError(f"photo {stored.photo_id} of {submission_id} has no stored copy")
        photos.append(restore_stored(
            stored.photo_id, stored.photo_id.replace("/", "-"),
            View(stored.view) if stored.view else None, stored.stored,
            upload_sha256=stored.upload_sha256, upload_size=stored.upload_size,
            metadata=stored.metadata, limits=pipeline.settings.intake))
    prepared = pipeline.restore(submission, photos)
    if prepared.submission_id != submission_id:
        log.warning("submission %s rebuilt with a different content hash", submission_id)
    return repository.complete(submission_id, pipeline.score(prepared))

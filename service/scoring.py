"""Scoring posted submissions so that none is lost, and the service never takes on more
than it can score.

- Admission: at most `max_pending` requests are read, queued or scored at once; the next one
  gets 503 with Retry-After before its body is read (memory stays bounded).
- Durability: a submission is stored (`received`) before scoring starts and marked `scored`
  with its findings after. If the process dies in between, any worker re-scores it from what
  was stored once its claim lapses (`recover_stale`, run at start-up and periodically).
- Idempotency: the same content posted again returns the stored result; if that content is
  being scored right now, the second request waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from moderation.pipeline import ModerationPipeline
from moderation.rescoring import rescore
from moderation.schemas import ScoreResult
from moderation.settings import Settings
from moderation.storage.repository import SCORED, SubmissionRepository

log = logging.getLogger(__name__)


class ServiceBusy(Exception):
    """Every scoring slot is taken; the client should retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("the scoring queue is full")
        self.retry_after_s = retry_after_s


class Admission:
    """A counter of admitted requests with a hard ceiling (no waiting: full means 503)."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        self.limit, self.retry_after_s = limit, retry_after_s
        self._inside = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Admission:
        with self._lock:
            if self._inside >= self.limit:
                raise ServiceBusy(self.retry_after_s)
            self._inside += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._inside -= 1

    @property
    def inside(self) -> int:
        return self._inside


class ScoringService:
    def __init__(self, settings: Settings, pipeline: ModerationPipeline,
                 repository: SubmissionRepository) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.repository = repository
        scoring = settings.scoring
        self.admission = Admission(scoring.max_pending, scoring.retry_after_s)
        self.executor = ThreadPoolExecutor(max_workers=scoring.workers,
                                           thread_name_prefix="scoring")
        self._stop = threading.Event()
        self._recovery: threading.Thread | None = None

    # ------------------------------------------------------------ requests

    def score_posted(self, submission_json: bytes, files: dict[str, bytes]) -> tuple[ScoreResult, bool]:
        """Returns the result and whether it is new (False: the content was scored before)."""
        pipeline = self.pipeline
        submission = pipeline.parse_submission(submission_json)
        prepared = pipeline.prepare(submission, files)
        existing = self.repository.find_by_content(prepared.content_hash)
        if existing is not None:
            return existing, False
        receipt = self.repository.receive(prepared)
        if not receipt.created:
            return self._wait_for(receipt.submission_id), False
        result = pipeline.score(prepared)
        stored = self.repository.complete(receipt.submission_id, result)
        log.info("scored submission %s (version %s): risk %.2f in %.0f ms", stored.submission_id,
                 stored.version, stored.risk, result.timings_ms.get("total", 0.0))
        return stored, True

    def _wait_for(self, submission_id: str) -> ScoreResult:
        deadline = time.monotonic() + self.settings.scoring.wait_for_same_content_s
        while time.monotonic() < deadline:
            if self.repository.status_of(submission_id) == SCORED:
                result = self.repository.get(submission_id)
                assert result is not None
                return result
            time.sleep(0.1)
        raise ServiceBusy(self.settings.scoring.retry_after_s)

    # ------------------------------------------------------------ recovery

    def rescore(self, submission_id: str) -> ScoreResult:
        return rescore(self.pipeline, self.repository, submission_id)

    def recover_stale(self) -> int:
        """Re-score every received submission whose worker stopped; returns how many."""
        recovered = 0
        for submission_id in self.repository.claim_stale(self.settings.scoring.claim_lease_s):
            try:
                self.rescore(submission_id)
                recovered += 1
                log.info("re-scored submission %s left unscored by a stopped worker", submission_id)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop recovery
                log.error("re-scoring %s failed: %s", submission_id, type(exc).__name__)
        return recovered

    def start_recovery(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.recover_stale()
                except Exception as exc:  # noqa: BLE001 - e.g. the database is down: retry later
                    log.warning("recovery pass failed: %s", type(exc).__name__)
                self._stop.wait(self.settings.scoring.recovery_interval_s)

        self._recovery = threading.Thread(target=loop, name="recovery", daemon=True)
        self._recovery.start()

    def close(self) -> None:
        self._stop.set()
        if self._recovery is not None:
            self._recovery.join(timeout=5)
        self.executor.shutdown(wait=True)

"""Everything the service builds once at start-up and shares between requests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from moderation.checks.duplicate import INDEX_RESOURCE
from moderation.duplicates import PhotoHashIndex
from moderation.pipeline import ModerationPipeline
from moderation.schemas import ModelRef
from moderation.settings import Settings
from moderation.storage.db import make_engine, make_session_factory, migrate
from moderation.storage.images import ImageStore
from moderation.storage.photo_hashes import PhotoHashStore
from moderation.storage.repository import SubmissionRepository
from service.review_runtime import ReviewServices
from service.scoring import ScoringService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    images: ImageStore
    repository: SubmissionRepository
    photo_index: PhotoHashIndex
    scoring: ScoringService
    review: ReviewServices
    _reload_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pipeline(self) -> ModerationPipeline:
        """The pipeline serving new requests (a request keeps the one it started with)."""
        return self.scoring.pipeline

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        sessions = make_session_factory(engine)
        images = ImageStore(settings.image_dir)
        # Hashes of every stored photo, for the duplicate check; new rows are read per request.
        photo_index = PhotoHashIndex(PhotoHashStore(sessions))
        loaded = photo_index.sync()
        pipeline = build_pipeline(settings, photo_index)
        log.info("photo index: %d stored photos", loaded)
        log.info("ready: %d checks (%s), database %s", len(pipeline.checks),
                 ", ".join(check.name for check in pipeline.checks), engine.dialect.name)
        if not settings.api_keys:
            log.warning("API_KEYS is empty: POST /v1/score will refuse every request")
        repository = SubmissionRepository(sessions, images)
        scoring = ScoringService(settings, pipeline, repository)
        scoring.start_recovery()
        return cls(settings, engine, sessions, images, repository, photo_index, scoring,
                   ReviewServices.build(settings.review, sessions))

    def reload(self) -> tuple[list[ModelRef], list[ModelRef]]:
        """Load the promoted model versions into a new pipeline, then swap it in.

        The new pipeline is built completely before the swap (one reference assignment), so
        requests in flight finish with the pipeline they started with and new requests get
        the new one; if building fails, the old pipeline keeps serving. Returns the model
        versions (before, after)."""
        with self._reload_lock:
            before = self.pipeline
            after = build_pipeline(self.settings, self.photo_index)
            self.scoring.pipeline = after
        log.info("reloaded models: %s", ", ".join(f"{m.name} {m.version}"
                                                  for m in models_of(after)))
        return models_of(before), models_of(after)

    def close(self) -> None:
        self.scoring.close()
        self.engine.dispose()


def build_pipeline(settings: Settings, photo_index: PhotoHashIndex) -> ModerationPipeline:
    return ModerationPipeline.from_settings(settings, resources={INDEX_RESOURCE: photo_index})


def models_of(pipeline: ModerationPipeline) -> list[ModelRef]:
    return [check.model for check in pipeline.checks]

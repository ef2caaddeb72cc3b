"""Everything the service builds once at start-up and shares between requests."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from moderation.checks.duplicate import INDEX_RESOURCE
from moderation.duplicates import PhotoHashIndex
from moderation.pipeline import ModerationPipeline
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
    pipeline: ModerationPipeline
    scoring: ScoringService
    review: ReviewServices

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
        pipeline = ModerationPipeline.from_settings(settings,
                                                    resources={INDEX_RESOURCE: photo_index})
        log.info("photo index: %d stored photos", loaded)
        log.info("ready: %d checks (%s), database %s", len(pipeline.checks),
                 ", ".join(check.name for check in pipeline.checks), engine.dialect.name)
        if not settings.api_keys:
            log.warning("API_KEYS is empty: POST /v1/score will refuse every request")
        repository = SubmissionRepository(sessions, images)
        scoring = ScoringService(settings, pipeline, repository)
        scoring.start_recovery()
        return cls(settings, engine, sessions, images, repository, pipeline, scoring,
                   ReviewServices.build(settings.review, sessions))

    def close(self) -> None:
        self.scoring.close()
        self.engine.dispose()

"""Storage against both databases: SQLite (default) and PostgreSQL (skipped, with the reason,
when no server answers at 127.0.0.1:5432)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from moderation.errors import CaseConflict
from moderation.pipeline import ModerationPipeline
from moderation.settings import Settings
from moderation.storage.db import make_engine, make_session_factory, migrate
from moderation.storage.images import ImageStore
from moderation.storage.repository import SubmissionRepository
from moderation.storage.tables import FindingRow, StoredImage, SubmissionRow
from service.app import create_app
from tests import photos
from tests.conftest import make_settings, post_score, submission_json


@pytest.fixture
def repository(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    yield SubmissionRepository(sessions, ImageStore(tmp_path / "images"))
    engine.dispose()


@pytest.fixture
def pipeline(tmp_path: Path) -> ModerationPipeline:
    return ModerationPipeline.from_settings(Settings(data_dir=tmp_path))


def prepare(pipeline: ModerationPipeline, seed: int = 1, **overrides: object):
    submission = pipeline.parse_submission(submission_json(**overrides))
    files = {"b1": photos.jpeg(photos.scene(seed=seed)),
             "a1": photos.jpeg(photos.scene(seed=seed + 100))}
    prepared = pipeline.prepare(submission, files)
    return prepared, pipeline.score(prepared)


def test_migrations_create_the_schema_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"submissions", "submission_photos", "findings", "images", "alembic_version"} <= tables
    engine.dispose()


def test_save_and_read_back(repository: SubmissionRepository, pipeline: ModerationPipeline) -> None:
    prepared, result = prepare(pipeline)
    stored, created = repository.save(prepared, result)
    assert created and stored.version == 1 and stored.created_at is not None
    again = repository.get(stored.submission_id)
    assert again is not None
    assert again.model_dump(exclude={"created_at"}) == stored.model_dump(exclude={"created_at"})
    assert [f.model_dump() for f in again.findings] == [f.model_dump() for f in result.findings]
    assert repository.find_by_content(prepared.content_hash) is not None


def test_versions_of_a_case(repository: SubmissionRepository, pipeline: ModerationPipeline) -> None:
    for description in ("first notes", "second notes", "third notes"):
        repository.save(*prepare(pipeline, description=description))
    assert [v.version for v in repository.versions("c-1042")] == [1, 2, 3]
    with pytest.raises(CaseConflict):
        repository.save(*prepare(pipeline, member_id="m-other", description="x"))


def test_the_same_content_saved_concurrently_is_stored_once(
        repository: SubmissionRepository, pipeline: ModerationPipeline) -> None:
    prepared, result = prepare(pipeline)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: repository.save(prepared, result), range(4)))
    assert sum(created for _, created in outcomes) == 1
    assert len({stored.submission_id for stored, _ in outcomes}) == 1
    with repository.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubmissionRow)) == 1


def test_concurrent_edits_get_distinct_versions(
        repository: SubmissionRepository, pipeline: ModerationPipeline) -> None:
    edits = [prepare(pipeline, seed=1, description=f"edit {n}") for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        stored = list(pool.map(lambda pair: repository.save(*pair)[0], edits))
    assert sorted(s.version for s in stored) == [1, 2, 3, 4]


def test_photos_are_stored_once_by_content(repository: SubmissionRepository,
                                           pipeline: ModerationPipeline) -> None:
    first, _ = repository.save(*prepare(pipeline, seed=7, description="one"))
    second, _ = repository.save(*prepare(pipeline, seed=7, description="two"))
    with repository.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StoredImage)) == 2
        assert session.scalar(select(func.count()).select_from(FindingRow)) == \
            len(first.findings) + len(second.findings)
    assert len(list(repository.images.root.rglob("*.jpg"))) == 2


def test_the_service_runs_on_this_database(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        first = post_score(client)
        assert first.status_code == 201, first.text
        assert post_score(client).status_code == 200
        assert client.get("/readyz").json()["database"] in {"sqlite", "postgresql"}

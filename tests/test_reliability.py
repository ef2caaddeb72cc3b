"""Faults: a server killed during scoring, a full scoring queue, the database going away,
and a stored-but-unscored submission recovered from what was stored."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from moderation.pipeline import ModerationPipeline
from moderation.settings import Settings
from moderation.storage.db import make_engine, make_session_factory, migrate
from moderation.storage.images import ImageStore
from moderation.storage.repository import SubmissionRepository
from service.scoring import ScoringService
from tests import photos
from tests.conftest import submission_json
from service.process import ServerProcess
from tests.tcp_proxy import TcpProxy

KEY = "loopback-key"
SLOW = {"EXTRA_CHECKS": json.dumps({"slow": "tests.slow_check:SlowCheck"})}


def multipart(description: str = "Open rhinoplasty, 14 months.", seed: int = 1):
    return [
        ("submission", (None, submission_json(description=description), "application/json")),
        ("b1", ("b.jpg", photos.jpeg(photos.scene(seed=seed)), "image/jpeg")),
        ("a1", ("a.jpg", photos.jpeg(photos.scene(seed=seed + 50),
                                     exif=photos.exif_with(gps=True)), "image/jpeg")),
    ]


def post(server: ServerProcess, files, timeout: float = 60) -> httpx.Response:
    return httpx.post(f"{server.base}/v1/score", files=files, headers={"X-API-Key": KEY},
                      timeout=timeout)


def statuses(database: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status FROM submissions")).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


def test_a_received_submission_is_rescored_from_what_was_stored(tmp_path: Path) -> None:
    """In process: stored, never scored (the worker died), then recovered; the findings are
    the ones a direct score gives, metadata included although the stored copy has none."""
    settings = Settings(data_dir=tmp_path, scoring={"claim_lease_s": 0.01})
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    repository = SubmissionRepository(make_session_factory(engine), ImageStore(tmp_path / "img"))
    pipeline = ModerationPipeline.from_settings(settings)
    service = ScoringService(settings, pipeline, repository)
    files = {"b1": photos.jpeg(photos.scene(seed=1)),
             "a1": photos.jpeg(photos.scene(seed=2), exif=photos.exif_with(gps=True, orientation=6))}
    prepared = pipeline.prepare(pipeline.parse_submission(submission_json()), files)
    receipt = repository.receive(prepared)
    assert repository.status_of(receipt.submission_id) == "received"
    direct = pipeline.score(prepared)
    time.sleep(0.05)
    assert service.recover_stale() == 1
    recovered = repository.get(receipt.submission_id)
    assert recovered is not None
    assert [f.model_dump() for f in recovered.findings] == [f.model_dump() for f in direct.findings]
    assert recovered.photos == direct.photos
    assert service.recover_stale() == 0
    service.close()
    engine.dispose()


def test_kill_9_during_scoring_then_restart_scores_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**SLOW, "SLOW_CHECK_SECONDS": "30", "SCORING__CLAIM_LEASE_S": "1",
           "SCORING__RECOVERY_INTERVAL_S": "0.5"}
    server = ServerProcess(data, env=env).start()
    files = multipart()
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.update(
        response=_swallow(lambda: post(server, files))), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not statuses(data / "moderation.db"):
        time.sleep(0.1)
    assert [status for _, status in statuses(data / "moderation.db")] == ["received"]
    server.kill()
    thread.join(timeout=10)
    assert not isinstance(outcome.get("response"), httpx.Response)  # the client got no answer
    restarted = ServerProcess(data, env={"SCORING__CLAIM_LEASE_S": "1",
                                         "SCORING__RECOVERY_INTERVAL_S": "0.5"},
                              port=server.port).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and statuses(data / "moderation.db")[0][1] != "scored":
            time.sleep(0.2)
        [(submission_id, status)] = statuses(data / "moderation.db")
        assert status == "scored"
        stored = httpx.get(f"{restarted.base}/v1/submissions/{submission_id}",
                           headers={"X-API-Key": KEY}).json()
        assert {f["check"] for f in stored["findings"]} >= {"integrity", "phi_image"}
        retry = post(restarted, files)  # the client retries: the stored result, not a new one
        assert retry.status_code == 200 and retry.json()["submission_id"] == submission_id
    finally:
        restarted.stop()


def _swallow(call):
    try:
        return call()
    except httpx.TransportError as exc:
        return exc


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    env = {**SLOW, "SLOW_CHECK_SECONDS": "3", "SCORING__MAX_PENDING": "1"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        first: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: first.update(r=post(server, multipart(seed=1))))
        thread.start()
        time.sleep(1.0)
        busy = post(server, multipart(description="another case", seed=2))
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "2"
        assert "queue is full" in busy.json()["detail"]
        thread.join(timeout=30)
        assert first["r"].status_code == 201
        assert post(server, multipart(description="another case", seed=2)).status_code == 201
    finally:
        server.stop()


@pytest.mark.postgres
def test_database_outage_gives_503_and_recovers_without_restart(tmp_path: Path,
                                                               postgres_server: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    proxy = TcpProxy(("127.0.0.1", 5432)).start()
    url = f"postgresql+psycopg://root@127.0.0.1:{proxy.port}/test?options=-csearch_path%3D{schema}"
    server = ServerProcess(tmp_path / "data", env={"DATABASE_URL": url}).start()
    try:
        assert post(server, multipart(seed=1)).status_code == 201
        proxy.cut()
        down = post(server, multipart(description="while the database is down", seed=3))
        assert down.status_code == 503 and down.headers.get("retry-after")
        assert httpx.get(f"{server.base}/readyz").status_code == 503
        proxy.start()
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)
        back = post(server, multipart(description="while the database is down", seed=3))
        assert back.status_code == 201, back.text
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()
        proxy.cut()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

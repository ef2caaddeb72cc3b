"""Scale-out: two uvicorn processes on one PostgreSQL database and one shared DATA_DIR under
concurrent load: no conflicts, no duplicate submissions, versions numbered once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from service.process import ServerProcess
from tests import photos
from tests.conftest import submission_json

KEY = "loopback-key"


def files_for(case: str, description: str, seed: int):
    return [
        ("submission", (None, submission_json(case_id=case, member_id=f"m-{case}",
                                              description=description), "application/json")),
        ("b1", ("b.jpg", photos.jpeg(photos.scene(640, 480, seed=seed)), "image/jpeg")),
        ("a1", ("a.jpg", photos.jpeg(photos.scene(640, 480, seed=seed + 1)), "image/jpeg")),
    ]


@pytest.mark.postgres
def test_two_workers_on_one_database(tmp_path: Path, postgres_url: str) -> None:
    shared = tmp_path / "shared-data"
    env = {"DATABASE_URL": postgres_url, "SCORING__MAX_PENDING": "64"}
    servers = [ServerProcess(shared, env=env).start(), ServerProcess(shared, env=env).start()]
    try:
        # 6 cases x 3 edits each, every edit posted twice (once to each worker) at once.
        jobs = []
        for case_number in range(6):
            case = f"c-{case_number}"
            for edit in range(3):
                payload = files_for(case, f"edit {edit}", seed=case_number * 10)
                jobs += [(servers[0], payload), (servers[1], payload)]

        def post(job):
            server, payload = job
            return httpx.post(f"{server.base}/v1/score", files=payload,
                              headers={"X-API-Key": KEY}, timeout=120)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(post, jobs))
        codes = Counter(r.status_code for r in responses)
        assert set(codes) <= {200, 201}, codes
        assert codes[201] == 18  # each distinct content stored once
        ids = {r.json()["submission_id"] for r in responses}
        assert len(ids) == 18
        engine = create_engine(postgres_url)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT case_id, version, status FROM submissions ORDER BY case_id, version")).all()
        engine.dispose()
        assert len(rows) == 18 and {row.status for row in rows} == {"scored"}
        versions: dict[str, list[int]] = {}
        for row in rows:
            versions.setdefault(row.case_id, []).append(row.version)
        assert all(v == [1, 2, 3] for v in versions.values()), versions
    finally:
        for server in servers:
            server.stop()

"""Bulk re-scoring after a model promotion, on a local Ray instance, with the service's own
scoring code: every scored submission gets the findings the new configuration gives."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from tests import photos
from tests.conftest import API_KEY, make_settings, post_score, submission_json
from training.rescore import run


def test_rescore_on_a_local_ray_instance(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = []
    with TestClient(create_app(make_settings(data_dir))) as client:
        for seed in range(3):
            response = post_score(client, submission_json(case_id=f"c-{seed}"), files={
                "b1": photos.jpeg(photos.scene(640, 480, seed=seed)),
                "a1": photos.jpeg(photos.scene(640, 480, seed=seed + 10))})
            assert response.status_code == 201
            ids.append(response.json()["submission_id"])
        before = client.get(f"/v1/submissions/{ids[0]}", headers={"X-API-Key": API_KEY}).json()
    assert all(f["verdict"] == "pass" for f in before["findings"] if f["check"] == "integrity")

    # "A new model": integrity now wants photos of at least 1000 px on the short side.
    overrides = {"data_dir": str(data_dir),
                 "checks": {"integrity": {"options": {"min_side": 1000}}}}
    totals = run(address=None, workers=2, batch_size=2, limit=None, settings_overrides=overrides)
    assert totals == {"rescored": 3, "failed": 0}

    with TestClient(create_app(make_settings(data_dir))) as client:
        for submission_id in ids:
            after = client.get(f"/v1/submissions/{submission_id}",
                               headers={"X-API-Key": API_KEY}).json()
            integrity = [f for f in after["findings"] if f["check"] == "integrity"]
            assert {f["evidence"]["values"]["problem"] for f in integrity} == {"too_small"}
            assert after["version"] == 1  # re-scored in place, not a new version

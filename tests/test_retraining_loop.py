"""The whole retraining loop on a small generated set, through the real service:

submissions scored by POST /v1/score (real collage model and seam analysis), staff labels and
decisions posted through the review API, the dataset exported from the database, a tiny model
trained on CPU by the training CLI, evaluated against the promoted one on the same test split,
promoted, loaded by POST /v1/admin/reload while a request is in flight, and a new score that
names the new version. A deliberately weak model is refused with the figures that show why.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from datasets.collage import build
from datasets.staff_dataset import StaffDataset
from models.registry import SHIPPED_ROOT, ModelRegistry
from moderation.metadata import identifying_metadata
from moderation.review.audit import Actor
from moderation.review.schemas import Role
from moderation.storage.db import make_engine, make_session_factory, migrate
from service.app import create_app
from service.auth.accounts import AccountStore
from tests import photos
from tests.conftest import API_KEY, make_settings
from training.cli import app as training_cli

# The collage version this repository ships promoted: served until a run beats it.
SHIPPED_COLLAGE = ModelRegistry([SHIPPED_ROOT]).promoted("collage").version

PASSWORD = "correct horse battery"
CONFIGS = Path(__file__).parents[1] / "training" / "configs"
CASES, MEMBERS = 24, 8
ONLY_COLLAGE = {name: {"enabled": False} for name in (
    "phi_text", "phi_image", "procedure_match", "duplicate", "comparability", "watermark")}


def loop_settings(data_dir: Path):  # type: ignore[no-untyped-def]
    return make_settings(
        data_dir, checks={**ONLY_COLLAGE, "collage": {"options": {"use_ocr_labels": False}}},
        extra_checks={"slow": "tests.slow_check:SlowCheck"})


@pytest.fixture(scope="module")
def loop_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("loop") / "data"
    settings = loop_settings(data_dir)
    data_dir.mkdir(parents=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    accounts = AccountStore(make_session_factory(engine))
    for name, role in (("rita", Role.REVIEWER), ("ada", Role.ADMIN)):
        accounts.create(Actor(id=None, name="test-setup"), name, PASSWORD, role)
    engine.dispose()
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        client.app_state_settings = settings  # type: ignore[attr-defined]
        yield client


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def jpeg(array) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def post_case(client: TestClient, case_id: str, member: str, before: bytes, after: bytes):  # type: ignore[no-untyped-def]
    submission = json.dumps({
        "case_id": case_id, "member_id": member, "procedure": "rhinoplasty",
        "consent_confirmed": True, "description": "Open rhinoplasty; 14 months post-op.",
        "fields": {"approach": "open", "months_since_surgery": 14},
        "photo_sets": [{"view": "frontal", "before": "b1", "after": "a1"}]})
    parts = [("submission", (None, submission, "application/json")),
             ("b1", ("b1.jpg", before, "image/jpeg")), ("a1", ("a1.jpg", after, "image/jpeg"))]
    response = client.post("/v1/score", files=parts, headers={"X-API-Key": API_KEY})
    assert response.status_code in (200, 201), response.text
    return response.json()


def collage_version(result: dict) -> str:
    return next(m["version"] for m in result["models"] if m["name"] == "collage")


def review_like_staff(client: TestClient, case_id: str, truth: dict[str, int],
                      headers: dict[str, str]) -> None:
    """Confirm each collage finding the truth agrees with, override the others, decide."""
    case = client.get(f"/v1/cases/{case_id}").json()
    for finding in case["findings"]:
        if finding["check"] != "collage" or finding["model_says_broken"] is None:
            continue
        broken = bool(truth[finding["target"]])
        action = "confirm" if finding["model_says_broken"] == broken else "override"
        response = client.post(f"/v1/findings/{finding['id']}/label", headers=headers,
                               json={"action": action})
        assert response.status_code == 200 and response.json()["rule_broken"] == broken
    gallery = ({"action": "reject", "reason_code": "collage"} if any(truth.values())
               else {"action": "approve"})
    for body in ({"destination": "profile", "action": "approve"},
                 {"destination": "gallery", **gallery}):
        response = client.post(f"/v1/cases/{case_id}/versions/1/decisions", headers=headers,
                               json=body)
        assert response.status_code == 200, response.text


def test_the_whole_retraining_loop(loop_client: TestClient, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = loop_client
    settings = client.app_state_settings  # type: ignore[attr-defined]
    monkeypatch.setenv("SLOW_CHECK_SECONDS", "0")
    examples = list(build("test", 2 * CASES, seed=7, scale=0.75))  # type: ignore[arg-type]

    # 1. Submissions scored through the API by the promoted collage model.
    truths = {}
    for index in range(CASES):
        before, after = examples[2 * index], examples[2 * index + 1]
        result = post_case(client, f"c-loop-{index}", f"m-{index % MEMBERS}",
                           jpeg(before.image), jpeg(after.image))
        assert collage_version(result) == SHIPPED_COLLAGE
        truths[f"c-loop-{index}"] = {"photo:set1/before": before.label,
                                     "photo:set1/after": after.label}

    # 2. Staff label every collage finding and decide both destinations, through the API.
    headers = sign_in(client, "rita")
    for case_id, truth in truths.items():
        review_like_staff(client, case_id, truth, headers)

    # 3. Export: labels from the database, photos without metadata, split by member.
    exported = subprocess.run(
        [sys.executable, "-m", "datasets.export", "--out", str(tmp_path / "exports"),
         "--check", "collage", "--seed", "0"], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "DATA_DIR": str(settings.data_dir)}, cwd=Path(__file__).parents[1])
    assert exported.returncode == 0, exported.stderr[-2000:]
    dataset_dir = Path(exported.stdout.strip())
    dataset = StaffDataset(dataset_dir)
    assert len(dataset.items) == 2 * CASES
    members = {split: {i.member_id for i in dataset.items if i.split == split}
               for split in ("train", "val", "test")}
    assert all(members.values())
    assert not (members["train"] & members["val"] or members["train"] & members["test"]
                or members["val"] & members["test"])
    expected = {truth_key: label for case_id, truth in truths.items()
                for truth_key, label in [((case_id, t), v) for t, v in truth.items()]}
    assert sum(i.label for i in dataset.items) == sum(expected.values())
    for item in dataset.items[:6]:
        with Image.open(dataset.path(item)) as image:
            assert identifying_metadata(image) == []
    assert "| collage | test |" in (dataset_dir / "card.md").read_text()

    # 4. Train a tiny model on CPU, evaluate it against the promoted one, promote it.
    registry_root = settings.data_dir / "models"
    runner = CliRunner()
    started = time.perf_counter()
    trained = runner.invoke(training_cli, [
        "train", "collage", "--data", str(dataset_dir), "--config",
        str(CONFIGS / "collage_tiny.toml"), "--seed", "0", "--device", "cpu",
        "--out", str(tmp_path / "run-good"), "--version", "1.2.0",
        "--registry-root", str(registry_root), "--promote"])
    assert trained.exit_code == 0, trained.output
    assert time.perf_counter() - started < 60
    run = json.loads((tmp_path / "run-good" / "run.json").read_text())
    assert run["results"]["promoted"]["model"]["version"] == SHIPPED_COLLAGE
    assert run["gate"]["promote"] is True
    for plot in ("roc.png", "pr.png", "confusion.png", "worst_errors.png", "training.png"):
        assert (tmp_path / "run-good" / "report" / plot).stat().st_size > 1000
    registry = ModelRegistry.default(settings.data_dir)
    served = registry.promoted("collage")
    assert served.version == "1.2.0" and served.data_version == dataset.version
    assert served.thresholds["score"] == run["thresholds"]["score"]
    assert served.command and "collage_tiny.toml" in served.command
    assert registry.history("collage")[-1]["previous"] == SHIPPED_COLLAGE

    # 5. The service still serves the shipped version until reloaded; only an admin may reload.
    photo = jpeg(examples[0].image)
    assert collage_version(post_case(client, "c-before-reload", "m-90", photo,
                                     photos.jpeg(photos.scene(seed=3)))) == SHIPPED_COLLAGE
    reviewer = sign_in(client, "rita")
    assert client.post("/v1/admin/reload", headers=reviewer).status_code == 403

    # A request in flight during the reload finishes on the models it started with.
    monkeypatch.setenv("SLOW_CHECK_SECONDS", "2")
    in_flight: dict[str, dict] = {}
    thread = threading.Thread(target=lambda: in_flight.update(result=post_case(
        client, "c-in-flight", "m-91", photo, photos.jpeg(photos.scene(seed=4)))))
    thread.start()
    time.sleep(0.8)
    assert thread.is_alive()  # still scoring (the slow check holds it for 2 s)
    admin = sign_in(client, "ada")
    reloaded = client.post("/v1/admin/reload", headers=admin)
    assert reloaded.status_code == 200, reloaded.text
    assert {"name": "collage", "version": "1.2.0"} in reloaded.json()["models"]
    assert {"name": "collage", "version": SHIPPED_COLLAGE} in reloaded.json()["previous"]
    thread.join(timeout=30)
    assert collage_version(in_flight["result"]) == SHIPPED_COLLAGE
    monkeypatch.setenv("SLOW_CHECK_SECONDS", "0")

    # 6. A new score names the new version, in the response and on every collage finding.
    result = post_case(client, "c-after-reload", "m-92", photo, photos.jpeg(photos.scene(seed=5)))
    assert collage_version(result) == "1.2.0"
    assert {f["model"]["version"] for f in result["findings"] if f["check"] == "collage"} == {
        "1.2.0"}

    # 7. A weak model (a fresh network, barely trained) is refused with the figures.
    refused = runner.invoke(training_cli, [
        "train", "collage", "--data", str(dataset_dir), "--config",
        str(CONFIGS / "collage_scratch_tiny.toml"), "--seed", "0", "--out",
        str(tmp_path / "run-weak"), "--version", "1.3.0", "--registry-root", str(registry_root),
        "--promote"])
    assert refused.exit_code == 1, refused.output
    weak = json.loads((tmp_path / "run-weak" / "run.json").read_text())
    new, old = (weak["results"][role]["test"]["auroc"] for role in ("candidate", "promoted"))
    assert weak["results"]["promoted"]["model"]["version"] == "1.2.0"
    assert "not promoted" in refused.output and f"{new:.4f}" in refused.output
    assert f"{old:.4f}" in refused.output and "worse" in refused.output
    assert ModelRegistry.default(settings.data_dir).promoted("collage").version == "1.2.0"
    assert ModelRegistry.default(settings.data_dir).get("collage", "1.3.0") is None

    # 8. A reload that cannot load the promoted weights changes nothing: the old ones serve.
    served_weights = ModelRegistry.default(settings.data_dir).promoted("collage").path(
        "collage.pt")
    served_weights.write_bytes(b"not a checkpoint")
    failed = client.post("/v1/admin/reload", headers=admin)
    assert failed.status_code == 409, failed.text
    assert "previous models keep serving" in failed.json()["detail"]
    result = post_case(client, "c-after-failed-reload", "m-93", photo,
                       photos.jpeg(photos.scene(seed=6)))
    assert collage_version(result) == "1.2.0"

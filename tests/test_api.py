"""The /v1 API through FastAPI's TestClient (in-process; see test_server.py for real HTTP)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moderation.checks.registry import CHECKS
from tests import photos
from tests.conftest import API_KEY, post_score, submission_json


def test_score_returns_findings_and_recommendation(client: TestClient) -> None:
    response = post_score(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["submission_id"].startswith("s_") and body["version"] == 1
    assert response.headers["location"] == f"/v1/submissions/{body['submission_id']}"
    assert {f["check"] for f in body["findings"]} == set(CHECKS)
    assert body["recommendation"]["profile"]["action"] in {"approve", "review", "reject"}
    assert body["photos"][0]["width"] == 800 and body["timings_ms"]["total"] > 0
    stored = client.get(f"/v1/submissions/{body['submission_id']}", headers={"X-API-Key": API_KEY})
    assert stored.status_code == 200
    assert stored.json()["findings"] == body["findings"]


def test_same_content_twice_returns_the_same_submission(client: TestClient) -> None:
    files = {"b1": photos.jpeg(photos.scene(seed=5)), "a1": photos.jpeg(photos.scene(seed=6))}
    first = post_score(client, files=files)
    second = post_score(client, files=files)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["submission_id"] == second.json()["submission_id"]
    assert second.json()["version"] == 1


def test_an_edited_case_becomes_a_new_version(client: TestClient) -> None:
    files = {"b1": photos.jpeg(photos.scene(seed=5)), "a1": photos.jpeg(photos.scene(seed=6))}
    first = post_score(client, files=files).json()
    edited = post_score(client, submission_json(description="Closed approach, 12 months."),
                        files=files).json()
    assert edited["version"] == 2 and edited["submission_id"] != first["submission_id"]
    versions = client.get("/v1/cases/c-1042/versions", headers={"X-API-Key": API_KEY}).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert client.get(f"/v1/submissions/{first['submission_id']}",
                      headers={"X-API-Key": API_KEY}).status_code == 200


def test_a_case_id_cannot_move_to_another_member(client: TestClient) -> None:
    assert post_score(client).status_code == 201
    response = post_score(client, submission_json(member_id="m-99", description="other"))
    assert response.status_code == 409
    assert "belongs to another member" in response.json()["detail"]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_score_needs_a_valid_api_key(client: TestClient, key: str | None) -> None:
    response = post_score(client, key=key)
    assert response.status_code == 401
    assert response.json()["detail"] in {"missing X-API-Key header", "invalid API key"}


def test_any_configured_key_works(client: TestClient) -> None:
    assert post_score(client, key="test-key-2").status_code == 201


def test_consent_not_confirmed_is_422(client: TestClient) -> None:
    response = post_score(client, submission_json(consent_confirmed=False))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["loc"] == ["consent_confirmed"]
    assert "consent is on file" in body["errors"][0]["msg"]


def test_unknown_procedure_points_to_the_list(client: TestClient) -> None:
    response = post_score(client, submission_json(procedure="nose_job"))
    assert response.status_code == 422
    assert "GET /v1/procedures" in response.json()["detail"]


def test_fields_are_validated_against_the_procedure(client: TestClient) -> None:
    response = post_score(client, submission_json(fields={"approach": "sideways", "cup": "34B"}))
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["errors"]}
    assert errors[("fields", "approach")] == "must be one of: open, closed"
    assert errors[("fields", "cup")] == "is not a field of procedure rhinoplasty"


@pytest.mark.parametrize(("submission", "status", "message"), [
    ("{not json", 422, "not a valid submission"),
    (submission_json(photo_sets=[]), 422, "not a valid submission"),
    (submission_json(photo_sets=[{"before": "b1", "after": "zz"}]), 422, "'zz'"),
    (submission_json(photo_sets=[{"before": "b1", "after": "a1", "view": "sideways"}]), 422,
     "not a valid submission"),
    (submission_json(surgeon_notes="x"), 422, "not a valid submission"),
    (submission_json(description="x" * 20_001), 422, "the limit is 20,000"),
    (submission_json(case_id="../../etc/passwd"), 422, "not a valid submission"),
])
def test_malformed_submissions_get_a_clear_4xx(client: TestClient, submission: str, status: int,
                                               message: str) -> None:
    response = post_score(client, submission)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_validation_errors_do_not_echo_submitted_text(client: TestClient) -> None:
    response = post_score(client, submission_json(consent_confirmed="Jane Roe 555-0100"))
    assert response.status_code == 422
    assert "Jane Roe" not in response.text


def test_missing_submission_part_and_unused_files(client: TestClient) -> None:
    response = client.post("/v1/score", files={"b1": ("b.jpg", photos.jpeg(), "image/jpeg")},
                           headers={"X-API-Key": API_KEY})
    assert response.status_code == 422 and "'submission' part" in response.json()["detail"]
    extra = {"b1": photos.jpeg(), "a1": photos.jpeg(photos.scene(seed=3)), "c1": photos.jpeg()}
    response = post_score(client, files=extra)
    assert response.status_code == 422 and "'c1'" in response.json()["detail"]


@pytest.mark.parametrize("kind", sorted(photos.OTHER_FORMATS))
def test_other_image_formats_get_415(client: TestClient, kind: str) -> None:
    response = post_score(client, files={"b1": photos.jpeg(), "a1": photos.OTHER_FORMATS[kind]})
    assert response.status_code == 415
    assert response.json()["detail"].startswith(f"file part 'a1' is a {kind} file")


def test_a_png_named_jpg_is_accepted(client: TestClient) -> None:
    response = post_score(client, files={"b1": photos.png(), "a1": photos.jpeg()})
    assert response.status_code == 201
    assert response.json()["photos"][0]["format"] == "PNG"


def test_a_photo_over_15_mb_gets_413(client: TestClient) -> None:
    big = photos.jpeg() + b"\x00" * (15 * 1024 * 1024)
    response = post_score(client, files={"b1": photos.jpeg(), "a1": big})
    assert response.status_code == 413
    assert response.json()["detail"] == "the file part 'a1' is larger than the limit of 15 MB"


def test_a_2_gb_declared_body_is_refused_before_it_is_read(client: TestClient) -> None:
    sent = 0

    def body():
        nonlocal sent
        for _ in range(2048):
            sent += 1024 * 1024
            yield b"\x00" * (1024 * 1024)

    response = client.post(
        "/v1/score", content=body(),
        headers={"X-API-Key": API_KEY, "Content-Length": str(2 * 1024**3),
                 "Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 413
    assert "the request declares 2048 MB" in response.json()["detail"]


def test_decompression_bomb_gets_413(client: TestClient) -> None:
    response = post_score(client, files={"b1": photos.jpeg(),
                                         "a1": photos.png_header_only(100_000, 100_000)})
    assert response.status_code == 413 and "decompression bombs" in response.json()["detail"]


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("application/json", b"{}", 415),
    ("multipart/form-data", b"--x\r\n", 400),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}", 400),
    ("multipart/form-data; boundary=xyz", b"garbage without any boundary", 400),
])
def test_malformed_multipart_gets_a_clear_4xx(client: TestClient, content_type: str, body: bytes,
                                              status: int) -> None:
    response = client.post("/v1/score", content=body,
                           headers={"X-API-Key": API_KEY, "Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["detail"]


def test_nothing_stored_changes_after_bad_input(client: TestClient) -> None:
    good = post_score(client).json()
    post_score(client, files={"b1": photos.jpeg(), "a1": photos.OTHER_FORMATS["GIF"]})
    post_score(client, submission_json(consent_confirmed=False))
    versions = client.get("/v1/cases/c-1042/versions", headers={"X-API-Key": API_KEY}).json()
    assert [v["submission_id"] for v in versions] == [good["submission_id"]]


def test_an_undecodable_photo_is_refused_with_the_integrity_reason(client: TestClient) -> None:
    response = post_score(client, files={"b1": photos.jpeg(),
                                         "a1": photos.truncated(photos.jpeg(photos.scene(seed=8)))})
    assert response.status_code == 422
    body = response.json()
    assert "photo:set1/after (file part 'a1') is truncated" in body["detail"]
    assert body["errors"][0]["type"] == "integrity.truncated"
    assert client.get("/v1/cases/c-1042/versions", headers={"X-API-Key": API_KEY}).status_code == 404


def test_procedures_are_listed(client: TestClient) -> None:
    procedures = client.get("/v1/procedures").json()
    assert len(procedures) >= 30
    rhinoplasty = next(p for p in procedures if p["code"] == "rhinoplasty")
    assert rhinoplasty["regions"] == ["nose"] and rhinoplasty["category"] == "face"
    approach = next(f for f in rhinoplasty["fields"] if f["name"] == "approach")
    assert approach["type"] == "enum" and approach["choices"] == ["open", "closed"]


def test_submission_lookups(client: TestClient) -> None:
    assert client.get("/v1/submissions/s_nope", headers={"X-API-Key": API_KEY}).status_code == 404
    assert client.get("/v1/submissions/s_nope").status_code == 401
    assert client.get("/v1/cases/none/versions", headers={"X-API-Key": API_KEY}).status_code == 404


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["checks"] == list(CHECKS)
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/score"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["submission"]
    assert client.get("/docs").status_code == 200


def test_stored_photo_is_content_addressed_and_clean(client: TestClient, settings) -> None:
    tagged = photos.jpeg(photos.scene(seed=11), exif=photos.exif_with(artist="Jane Roe", gps=True))
    files = {"b1": tagged, "a1": tagged}
    body = post_score(client, files=files).json()
    assert body["photos"][0]["stored_sha256"] == body["photos"][1]["stored_sha256"]
    stored_files = [p for p in settings.image_dir.rglob("*.jpg")]
    assert len(stored_files) == 1  # one file for the photo used twice
    assert b"Jane Roe" not in stored_files[0].read_bytes()
    edited = post_score(client, submission_json(description="edited"), files=files).json()
    assert edited["version"] == 2
    assert len(list(settings.image_dir.rglob("*.jpg"))) == 1

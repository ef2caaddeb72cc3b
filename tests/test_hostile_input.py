"""Hostile input: every item of the fuzz corpus gets a clear 4xx, the service stays up, and
nothing stored changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests import fuzz_corpus, photos
from tests.conftest import API_KEY, post_score

IMAGES = fuzz_corpus.malformed_images()
SUBMISSIONS = fuzz_corpus.hostile_submissions()


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory):
    from service.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path_factory.mktemp("hostile") / "data")
    with TestClient(create_app(settings)) as client:
        first = post_score(client)
        assert first.status_code == 201
        yield client, first.json()


def stored_state(client: TestClient) -> list[dict]:
    response = client.get("/v1/cases/c-1042/versions", headers={"X-API-Key": API_KEY})
    return [{k: v for k, v in item.items() if k != "timings_ms"} for item in response.json()]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_malformed_image_gets_a_clear_4xx(hostile_client, name: str) -> None:
    client, _ = hostile_client
    before = stored_state(client)
    response = post_score(client, files={"b1": photos.jpeg(photos.scene(seed=1)), "a1": IMAGES[name]})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    detail = response.json()["detail"]
    assert "'a1'" in detail or "photo:set1/after" in detail, detail
    assert stored_state(client) == before
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_hostile_submission_part_gets_a_clear_4xx(hostile_client, name: str) -> None:
    client, _ = hostile_client
    before = stored_state(client)
    multipart = [("submission", (None, SUBMISSIONS[name], "application/json")),
                 ("b1", ("b.jpg", photos.jpeg(photos.scene(seed=1)), "image/jpeg")),
                 ("a1", ("a.jpg", photos.jpeg(photos.scene(seed=2)), "image/jpeg"))]
    response = client.post("/v1/score", files=multipart, headers={"X-API-Key": API_KEY})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert response.json()["detail"]
    assert "DROP TABLE" not in response.text and "<script>" not in response.text
    assert stored_state(client) == before


@pytest.mark.parametrize("name", sorted(fuzz_corpus.MALFORMED_MULTIPART))
def test_malformed_multipart_gets_a_clear_4xx(hostile_client, name: str) -> None:
    client, _ = hostile_client
    before = stored_state(client)
    content_type, body = fuzz_corpus.MALFORMED_MULTIPART[name]
    response = client.post("/v1/score", content=body,
                           headers={"X-API-Key": API_KEY, "Content-Type": content_type})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert response.json()["detail"]
    assert stored_state(client) == before


@pytest.mark.parametrize("text", fuzz_corpus.INJECTIONS[:-2])
def test_unicode_and_injection_text_is_stored_verbatim(hostile_client, text: str) -> None:
    """In free text, the same strings are legitimate content: stored as given, never run."""
    from tests.conftest import submission_json

    client, _ = hostile_client
    response = post_score(client, submission_json(case_id="c-text", description=text,
                                                  fields={"grafts": text[:500]}))
    assert response.status_code in (200, 201), response.text
    stored = client.get(f"/v1/submissions/{response.json()['submission_id']}",
                        headers={"X-API-Key": API_KEY})
    assert stored.status_code == 200

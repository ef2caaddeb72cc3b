"""The review tool through FastAPI's TestClient over https://testserver (so Secure cookies
travel): sessions, roles, CSRF, the sign-in limit, the JSON API, the pages' HTML, escaping,
admin management of users and API keys, and the `create-admin` command."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from moderation.review.audit import Actor
from moderation.review.schemas import Role
from moderation.storage.db import make_engine, make_session_factory
from service.app import create_app
from service.auth.accounts import AccountStore
from tests.conftest import API_KEY, make_settings, post_score
from tests.review_data import PHI_NAME, seed_review_demo

PASSWORD = "correct horse battery"
CLI_ACTOR = Actor(id=None, name="test-setup")


@pytest.fixture(scope="module")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cases and accounts made once; each test gets its own copy."""
    data_dir = tmp_path_factory.mktemp("review-template") / "data"
    settings = make_settings(data_dir)
    seed_review_demo(settings)
    engine = make_engine(settings.resolved_database_url)
    accounts = AccountStore(make_session_factory(engine))
    for name, role in (("rita", Role.REVIEWER), ("dana", Role.DATA), ("ada", Role.ADMIN)):
        accounts.create(CLI_ACTOR, name, PASSWORD, role)
    engine.dispose()
    return data_dir


@pytest.fixture
def app_client(seeded_data: Path, tmp_path: Path) -> Iterator[TestClient]:
    data_dir = tmp_path / "data"
    shutil.copytree(seeded_data, data_dir)
    with TestClient(create_app(make_settings(data_dir)), base_url="https://testserver",
                    follow_redirects=False) as client:
        yield client


def sign_in_page(client: TestClient, username: str, password: str = PASSWORD,
                 next_path: str = "/review/queue"):
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token, "next": next_path})


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def api_sign_in(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def photo_url(client: TestClient) -> str:
    return re.search(r'src="(/review/photos/[0-9a-f]{64})',  # type: ignore[union-attr]
                     client.get("/review/cases/c-2001").text).group(1)


def test_no_page_or_case_data_without_a_session(app_client: TestClient) -> None:
    sign_in_page(app_client, "rita")
    photo = photo_url(app_client)
    app_client.cookies.clear()
    for path in ("/review/queue", "/review/cases/c-2001", photo, "/admin", "/review/labels.jsonl"):
        for headers in ({}, {"X-API-Key": API_KEY}):  # a /v1/score key opens no staff page
            response = app_client.get(path, headers=headers)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
    for path in ("/v1/queue", "/v1/cases/c-2001", "/v1/labels", "/v1/users", "/v1/session"):
        response = app_client.get(path, headers={"X-API-Key": API_KEY})
        assert response.status_code == 401, path
        assert PHI_NAME not in response.text
    assert app_client.get("/login").status_code == 200


def test_sign_in_sets_a_secure_http_only_session_cookie(app_client: TestClient) -> None:
    wrong = sign_in_page(app_client, "rita", "not the password")
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    response = sign_in_page(app_client, "rita", next_path="/review/cases/c-2001")
    assert response.status_code == 303 and response.headers["location"] == "/review/cases/c-2001"
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith("mod_session="))
    assert {"HttpOnly", "Secure", "SameSite=lax"} <= {part.strip() for part in cookie.split(";")}
    assert app_client.get("/review/queue").status_code == 200
    # Never a redirect to another site after signing in.
    app_client.cookies.clear()
    assert sign_in_page(app_client, "rita", next_path="//evil.example/x").headers[
        "location"] == "/review/queue"
    # Signing out ends the session on the server, not only in the browser.
    cookie_value = app_client.cookies.get("mod_session")
    queue = app_client.get("/review/queue")
    app_client.post("/logout", data={"csrf_token": csrf_of(queue.text)})
    app_client.cookies.set("mod_session", cookie_value, domain="testserver.local")
    assert app_client.get("/review/queue").status_code == 303


def test_sign_in_is_rate_limited(app_client: TestClient) -> None:
    for _ in range(5):
        assert sign_in_page(app_client, "rita", "guess-guess-guess").status_code == 401
    blocked = sign_in_page(app_client, "rita")  # even the right password, for now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    api = app_client.post("/v1/session", json={"username": "rita", "password": PASSWORD})
    assert api.status_code == 429
    assert sign_in_page(app_client, "dana").status_code == 429  # the same client address


def test_every_form_and_change_needs_the_csrf_token(app_client: TestClient) -> None:
    form = app_client.get("/login")
    assert app_client.post("/login", data={"username": "rita", "password": PASSWORD,
                                           "csrf_token": "forged"}).status_code == 403
    assert form.status_code == 200
    sign_in_page(app_client, "rita")
    page = app_client.get("/review/cases/c-2001")
    action = "/review/cases/c-2001/versions/1/decisions"
    body = {"destination": "profile", "action": "approve"}
    assert app_client.post(action, data=body).status_code == 403
    assert app_client.post(action, data={**body, "csrf_token": "x" * 43}).status_code == 403
    assert app_client.post(action, data={**body, "csrf_token": csrf_of(page.text)}).status_code == 303
    # The JSON API wants the token in a header.
    api = "/v1/cases/c-2001/versions/1/decisions"
    assert app_client.post(api, json=body).status_code == 403
    token = app_client.get("/v1/session").json()["csrf_token"]
    assert app_client.post(api, json=body, headers={"X-CSRF-Token": token}).status_code == 200


def test_review_through_the_json_api(app_client: TestClient) -> None:
    headers = api_sign_in(app_client, "rita")
    queue = app_client.get("/v1/queue").json()
    assert [item["case_id"] for item in queue["items"]][:2] == ["c-2001", "c-2002"]
    assert queue["items"][0]["risk"] == 0.97
    case = app_client.get("/v1/cases/c-2001").json()
    spans = [s for t in case["texts"] for s in t["segments"] if s["entity_type"]]
    assert {s["text"] for s in spans} == {PHI_NAME, "04/12/1980"}
    watermark = next(f for f in case["findings"] if f["check"] == "watermark")
    label = app_client.post(f"/v1/findings/{watermark['id']}/label",
                            json={"action": "override", "note": "a ruler"}, headers=headers)
    assert label.json() == {"finding_id": watermark["id"], "action": "override",
                            "rule_broken": False}
    confirmed = app_client.post("/v1/cases/c-2001/versions/1/confirm-all", headers=headers)
    assert confirmed.json()["confirmed"] == len(case["findings"]) - 1
    reject = app_client.post("/v1/cases/c-2001/versions/1/decisions", headers=headers,
                             json={"destination": "gallery", "action": "reject"})
    assert reject.status_code == 422 and "reason" in reject.json()["detail"]
    decided = app_client.post("/v1/cases/c-2001/versions/1/decisions", headers=headers, json={
        "destination": "gallery", "action": "reject", "reason_code": "watermark"})
    assert decided.json()["case_status"] == "partial"
    after = app_client.get("/v1/queue").json()["items"]
    assert after[-1]["case_id"] == "c-2001" and after[0]["case_id"] == "c-2002"
    assert app_client.get("/v1/cases/c-2001").json()["audit"][0]["new"]["reason_code"] == "watermark"
    assert app_client.get("/v1/cases/c-9999").status_code == 404
    assert app_client.get("/v1/queue?after=garbage").status_code == 400
    assert app_client.get("/v1/queue?status=maybe").status_code == 422
    # Labels are the data team's to export, not a reviewer's.
    assert app_client.get("/v1/labels").status_code == 403
    app_client.cookies.clear()
    api_sign_in(app_client, "dana")
    rows = app_client.get("/v1/labels", params={"check": "watermark"}).json()
    assert [(r["case_id"], r["action"], r["rule_broken"]) for r in rows] == [
        ("c-2001", "override", False)]
    # One session serves the pages and the JSON API alike.
    assert app_client.get("/review/labels.jsonl").status_code == 200

def test_the_data_team_reads_and_exports_but_changes_nothing(app_client: TestClient) -> None:
    sign_in_page(app_client, "dana")
    page = app_client.get("/review/cases/c-2001")
    assert page.status_code == 200 and "Approve profile" not in page.text
    response = app_client.post("/review/cases/c-2001/versions/1/decisions",
                               data={"destination": "profile", "action": "approve",
                                     "csrf_token": csrf_of(page.text)}, follow_redirects=True)
    assert "does not decide" in response.text
    assert app_client.get("/v1/cases/c-2001").json()["decisions"]["profile"] is None
    assert app_client.get("/admin").status_code == 403
    export = app_client.get("/review/labels.jsonl")
    assert export.status_code == 200 and export.headers["content-type"] == "application/x-ndjson"


def test_case_page_draws_evidence_and_highlights_phi(app_client: TestClient) -> None:
    sign_in_page(app_client, "rita")
    html = app_client.get("/review/cases/c-2001").text
    assert f'<mark class="phi" data-entity="PERSON" title="PERSON (97%)">{PHI_NAME}</mark>' in html
    assert 'data-entity="DATE_OF_BIRTH"' in html
    assert html.count('data-layer-toggle="') == 4  # watermark, phi_image, collage, procedure_match
    assert re.search(r'<rect class="evidence-box" data-evidence="box" x="520.0" y="470.0" '
                     r'width="240.0" height="80.0"', html)
    assert '<line class="evidence-line" data-evidence="line" x1="400.0"' in html
    assert "Jane Doe 2024" in html  # OCR text in the box's tooltip
    original = app_client.get(photo_url(app_client))
    assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(original.content)).size == (800, 600)
    preview = app_client.get(photo_url(app_client) + "?w=800")
    assert Image.open(io.BytesIO(preview.content)).size == (800, 600)
    assert app_client.get(photo_url(app_client) + "?w=123").status_code == 422
    queue = app_client.get("/review/queue").text
    assert queue.index("c-2001") < queue.index("c-2002") < queue.index("c-2004")
    filtered = app_client.get("/review/queue?procedure=facelift").text
    assert "c-2003" in filtered and "c-2001" not in filtered


def test_user_strings_render_as_text(app_client: TestClient) -> None:
    sign_in_page(app_client, "rita")
    page = app_client.get("/review/cases/c-2002")
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in page.text
    assert "<script>window" not in page.text and "<img src=x" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    app_client.post("/review/cases/c-2002/versions/1/decisions", data={
        "destination": "gallery", "action": "reject", "reason_code": "other",
        "reason_text": '<b onmouseover="x()">bold</b>', "csrf_token": csrf_of(page.text)})
    page = app_client.get("/review/cases/c-2002").text
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;bold&lt;/b&gt;" in page
    assert "<b onmouseover" not in page


def test_a_refused_decision_shows_the_case_with_the_reason(app_client: TestClient) -> None:
    sign_in_page(app_client, "rita")
    page = app_client.get("/review/cases/c-2004")
    response = app_client.post("/review/cases/c-2004/versions/1/decisions", data={
        "destination": "gallery", "action": "reject", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert "a rejection needs a reason from the list" in response.text
    assert 'data-destination="gallery"' in response.text  # the case page, ready to try again
    odd = app_client.post("/review/cases/c-2004/versions/1/decisions", data={
        "destination": "gallery", "action": "maybe", "csrf_token": csrf_of(page.text)})
    assert odd.status_code == 422 and "the form is not valid: action" in odd.text
    assert odd.headers["content-type"].startswith("text/html")


def test_next_case_follows_the_queue_from_where_the_reviewer_came(app_client: TestClient) -> None:
    sign_in_page(app_client, "rita")
    first = app_client.get("/review/queue")
    link = re.search(r'href="(/review/cases/c-2001\?from=[^"]+)"', first.text).group(1)  # type: ignore[union-attr]
    page = app_client.get(link.replace("&amp;", "&"))
    next_link = re.search(r'href="(/review/cases/c-2001/next\?[^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    app_client.post("/review/cases/c-2001/versions/1/decisions", data={
        "destination": "profile", "action": "approve", "csrf_token": csrf_of(page.text)})
    response = app_client.get(next_link.replace("&amp;", "&"))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/review/cases/c-2002?")


def test_admin_manages_accounts_and_api_keys(app_client: TestClient) -> None:
    sign_in_page(app_client, "ada")
    page = app_client.get("/admin")
    token = csrf_of(page.text)
    made = app_client.post("/admin/users", data={"username": "Nina", "password": PASSWORD,
                                                 "role": "reviewer", "csrf_token": token})
    assert made.status_code == 303
    short = app_client.post("/admin/users", data={"username": "neo", "password": "short",
                                                  "role": "reviewer", "csrf_token": token},
                            follow_redirects=True)
    assert "at least 10 characters" in short.text
    created = app_client.post("/admin/keys", data={"name": "upload backend", "csrf_token": token})
    key = re.search(r"<code data-new-key>([^<]+)</code>", created.text).group(1)  # type: ignore[union-attr]
    assert post_score(app_client, key=key).status_code == 201
    key_id = app_client.get("/v1/api-keys").json()[0]["id"]
    app_client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": token})
    assert post_score(app_client, key=key).status_code == 401
    assert app_client.get("/review/queue", headers={"X-API-Key": key}).status_code == 200  # ada's
    users = {u["username"]: u for u in app_client.get("/v1/users").json()}
    assert users["nina"]["role"] == "reviewer"
    app_client.post(f"/admin/users/{users['nina']['id']}",
                    data={"role": "data", "active": "false", "csrf_token": token})
    changed = {u["username"]: u for u in app_client.get("/v1/users").json()}["nina"]
    assert (changed["role"], changed["active"]) == ("data", False)
    admin_page = app_client.get("/admin").text
    assert "apikey.revoke" in admin_page and "user.create" in admin_page
    app_client.cookies.clear()
    assert sign_in_page(app_client, "nina").status_code == 401  # deactivated
    sign_in_page(app_client, "rita")
    assert app_client.get("/admin").status_code == 403


def test_create_admin_command(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "service.cli", "create-admin", "--username", "Root-Admin"]
    done = subprocess.run(command, input=f"{PASSWORD}\n{PASSWORD}\n".encode(), env=env,
                          capture_output=True, timeout=120, check=False, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr.decode()
    assert b"admin 'root-admin' created" in done.stdout and PASSWORD.encode() not in done.stdout
    again = subprocess.run(command, input=f"{PASSWORD}\n{PASSWORD}\n".encode(), env=env,
                           capture_output=True, timeout=120, check=False, cwd=Path(__file__).parents[1])
    assert again.returncode != 0 and b"is taken" in again.stderr
    weak = subprocess.run([*command[:-1], "other-admin", "--password", "short"], env=env,
                          capture_output=True, timeout=120, check=False, cwd=Path(__file__).parents[1])
    assert weak.returncode != 0 and b"at least 10 characters" in weak.stderr
    settings = make_settings(tmp_path / "data")
    with TestClient(create_app(settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        assert sign_in_page(client, "root-admin").status_code == 303
        assert client.get("/admin").status_code == 200

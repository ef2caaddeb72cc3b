"""The review tool in a real browser: Playwright driving Debian's Chromium (installed by
`make test`; no browser is downloaded) against a real uvicorn process on loopback.

Walks the reviewer's whole path and writes the screenshots shown in the README."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moderation.review.audit import Actor
from moderation.review.schemas import Role
from moderation.settings import Settings
from moderation.storage.db import make_engine, make_session_factory
from service.auth.accounts import AccountStore
from tests.review_data import PHI_NAME, seed_review_demo

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
# The README's screenshots are rewritten only when asked (UPDATE_SCREENSHOTS=1), so a test run
# leaves the checkout as it found it.
DOC_SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"
REPO = Path(__file__).parents[1]
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed (make test installs it)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("review-browser")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MODERATION_CONFIG"}}
    env.update({"DATA_DIR": str(data_dir), "API_KEYS": "browser-test-key"})
    seed_review_demo(Settings(data_dir=data_dir))
    created = subprocess.run(  # the first admin, made as an operator would
        [sys.executable, "-m", "service.cli", "create-admin", "--username", "ada"],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(), env=env, cwd=REPO, capture_output=True,
        timeout=120, check=False)
    assert created.returncode == 0, created.stderr.decode()
    engine = make_engine(Settings(data_dir=data_dir).resolved_database_url)
    AccountStore(make_session_factory(engine)).create(
        Actor(id=None, name="test-setup"), "rita", PASSWORD, Role.REVIEWER, "Rita Reviewer")
    engine.dispose()

    port = free_port()
    env["PORT"] = str(port)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=REPO, env=env,
                               stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not start: " + (data_dir / "server.log").read_text()[-2000:])
    yield base
    process.terminate()
    process.wait(timeout=20)
    log.close()
    server_log = (data_dir / "server.log").read_text(errors="replace")
    assert PHI_NAME not in server_log and PASSWORD not in server_log


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, username: str = "rita") -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/review/queue")


def test_a_page_without_a_session_redirects_to_sign_in(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/review/cases/c-2001")
    assert "/login?next=/review/cases/c-2001" in page.url
    assert page.locator("h1").inner_text() == "Sign in"
    assert PHI_NAME not in page.content()
    # After signing in, the reviewer lands where they were going.
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/review/cases/c-2001")


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return DOC_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_the_review_path(page, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page)
    rows = page.locator("[data-queue-row]")
    assert rows.first.locator("[data-case-link]").inner_text() == "c-2001"  # highest risk first
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "queue.png"))
    assert (screenshots / "queue.png").stat().st_size > 0

    page.keyboard.press("Enter")  # the first row is selected; Enter opens it
    page.wait_for_url("**/review/cases/c-2001?*")
    phi = page.locator('mark.phi[data-entity="PERSON"]').first
    assert phi.inner_text() == PHI_NAME and phi.is_visible()
    box = page.locator('[data-photo="set1/after"] g[data-layer="watermark"] rect').first
    drawn = box.bounding_box()
    photo = page.locator('[data-photo="set1/after"] img').bounding_box()
    assert drawn and photo and drawn["width"] > 20 and drawn["height"] > 5
    # The box sits where the finding says: x=520 of an 800-px-wide photo.
    assert abs((drawn["x"] - photo["x"]) / photo["width"] - 520 / 800) < 0.02
    assert page.locator('[data-photo="set1/after"] line[data-evidence="line"]').count() == 1

    page.uncheck('[data-layer-toggle="watermark"]')  # layers toggle
    assert not box.is_visible()
    page.check('[data-layer-toggle="watermark"]')
    assert box.is_visible()

    watermark_row = page.locator('tr[data-check="watermark"]')
    watermark_row.locator("input[name=note]").fill("a ruler, not a logo")
    watermark_row.locator('button[data-action="override"]').click()
    page.wait_for_load_state()
    assert "Overridden: rule not broken" in page.locator('tr[data-check="watermark"]').inner_text()

    page.keyboard.press("c")  # confirm every finding not labelled yet
    page.wait_for_selector('tr[data-check="integrity"] [data-label="confirm"]')
    assert page.locator("[data-label]").count() == page.locator("[data-finding]").count()

    page.keyboard.press("a")  # approve the profile
    page.wait_for_selector('[data-destination="profile"] [data-decision="approve"]')
    assert page.locator("[data-case-status]").inner_text() == "partial"
    audit = page.locator("#audit tbody tr")
    assert audit.first.get_attribute("data-audit") == "decision.set"
    assert "rita" in audit.first.inner_text() and "approve" in audit.first.inner_text()
    assert page.locator('#audit tr[data-audit="finding.override"]').count() == 1
    page.screenshot(path=str(screenshots / "case.png"), full_page=True)

    page.keyboard.press("n")  # the next case of the queue the reviewer came from
    page.wait_for_url("**/review/cases/c-2002?*")
    page.keyboard.press("q")
    page.wait_for_url("**/review/queue")
    order = page.locator("[data-queue-row] [data-case-link]").all_inner_texts()
    assert order[0] == "c-2002" and order[-1] == "c-2001"  # decided work moves down


def test_a_forged_form_without_its_csrf_token_is_refused(page) -> None:  # type: ignore[no-untyped-def]
    sign_in(page)
    page.goto("/review/cases/c-2004")
    # A form like the page's own, but without the token (what a forging site would send).
    page.evaluate("""() => {
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/review/cases/c-2004/versions/1/decisions';
        for (const [name, value] of [['destination', 'gallery'], ['action', 'approve']]) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value;
            form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
    }""")
    page.wait_for_selector("p.error")
    assert "CSRF token is missing or wrong" in page.locator("p.error").inner_text()
    page.goto("/review/cases/c-2004")
    assert "Not decided yet" in page.locator('[data-destination="gallery"]').inner_text()


def test_notes_with_markup_render_literally(page) -> None:  # type: ignore[no-untyped-def]
    sign_in(page)
    page.goto("/review/cases/c-2002")
    text = page.locator('[data-target="description"] .text').inner_text()
    assert "<script>window.__xss = 1</script>" in text
    assert 'onerror="window.__xss = 2"' in text
    assert page.evaluate("() => window.__xss") is None

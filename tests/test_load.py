"""A bounded load test on loopback (the full 50 clients x 60 s run is `bench/load.py`):
nothing but 200/201 and deliberate 503s with Retry-After, no accepted submission lost, memory
bounded."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests import photos
from tests.conftest import submission_json
from service.process import ServerProcess

KEY = "loopback-key"
CLIENTS = 16
SECONDS = 12


def test_bounded_load(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"SCORING__MAX_PENDING": "6"}).start()
    images = [photos.jpeg(photos.scene(1200, 900, seed=seed)) for seed in range(8)]
    results: list[tuple[int, str | None, str | None]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS

    def client(number: int) -> None:
        sent = 0
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < stop_at:
                files = [
                    ("submission", (None, submission_json(
                        case_id=f"load-{number}-{sent % 3}", member_id=f"m-{number}",
                        description=f"Load test case {number}, edit {sent}."), "application/json")),
                    ("b1", ("b.jpg", images[(number + sent) % 8], "image/jpeg")),
                    ("a1", ("a.jpg", images[(number + sent + 1) % 8], "image/jpeg")),
                ]
                response = http.post(f"{server.base}/v1/score", files=files,
                                     headers={"X-API-Key": KEY})
                body_id = response.json().get("submission_id") if response.status_code < 300 else None
                with lock:
                    results.append((response.status_code, body_id,
                                    response.headers.get("retry-after")))
                if response.status_code == 503:
                    time.sleep(0.2)
                sent += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak_rss_kb = _peak_rss_kb(server.pid)
    server.stop()
    codes = Counter(code for code, _, _ in results)
    assert set(codes) <= {200, 201, 503}, codes
    assert codes[201] > 0
    assert all(retry for code, _, retry in results if code == 503)
    accepted = {submission_id for code, submission_id, _ in results if code in (200, 201)}
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'moderation.db'}")
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT id, status FROM submissions")).all())
    engine.dispose()
    assert accepted <= set(stored), "an accepted submission is missing"
    assert {stored[i] for i in accepted} == {"scored"}
    assert peak_rss_kb < 2 * 1024 * 1024


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

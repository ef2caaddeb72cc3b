"""A bounded load test on loopback: many concurrent clients posting submissions for a fixed
time against one real server. Prints the answers by status, latency, the deliberate 503s,
peak memory, and checks that no accepted submission was lost.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parents[1]))
from bench.score_latency import NOTE, peak_rss_mb, percentile, real_base_photos  # noqa: E402
from service.process import ServerProcess  # noqa: E402

KEY = "bench-key"


def photo_bytes() -> list[bytes]:
    import io

    from PIL import Image

    photos = []
    for base in real_base_photos():
        buffer = io.BytesIO()
        Image.fromarray(base).convert("RGB").resize((1600, 1200)).save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--config", type=Path, default=None,
                        help="a settings TOML for the server (its MODERATION_CONFIG)")
    args = parser.parse_args(argv)
    if args.config is not None and not args.config.is_file():
        parser.error(f"--config {args.config} is not a file")
    photos = photo_bytes()
    results: list[tuple[int, float, str | None, str | None]] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as data_dir:
        server = ServerProcess(Path(data_dir), api_keys=KEY, env={"LOG_LEVEL": "warning"},
                               settings_file=args.config).start()
        stop_at = time.monotonic() + args.seconds

        def client(number: int) -> None:
            sent = 0
            with httpx.Client(timeout=120) as http:
                while time.monotonic() < stop_at:
                    import json

                    submission = json.dumps({
                        "case_id": f"load-{number}-{sent}", "member_id": f"m-{number}",
                        "procedure": "rhinoplasty", "consent_confirmed": True,
                        "description": NOTE, "fields": {},
                        "photo_sets": [{"before": "b1", "after": "a1"}]})
                    files = [("submission", (None, submission, "application/json")),
                             ("b1", ("b.jpg", photos[sent % 4], "image/jpeg")),
                             ("a1", ("a.jpg", photos[(sent + 1) % 4], "image/jpeg"))]
                    started = time.perf_counter()
                    try:
                        response = http.post(f"{server.base}/v1/score", files=files,
                                             headers={"X-API-Key": KEY})
                        code = response.status_code
                        body_id = response.json().get("submission_id") if code < 300 else None
                        retry = response.headers.get("retry-after")
                    except httpx.TransportError:
                        code, body_id, retry = 0, None, None
                    with lock:
                        results.append((code, (time.perf_counter() - started) * 1000, body_id, retry))
                    if code == 503:
                        time.sleep(float(retry or 1))
                    sent += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        rss = peak_rss_mb(server.pid)
        server.stop()
        engine = create_engine(f"sqlite:///{Path(data_dir) / 'moderation.db'}")
        with engine.connect() as connection:
            stored = dict(connection.execute(text("SELECT id, status FROM submissions")).all())
        engine.dispose()

    codes = Counter(code for code, _, _, _ in results)
    accepted = {sid for code, _, sid, _ in results if code in (200, 201)}
    lost = [sid for sid in accepted if stored.get(sid) != "scored"]
    ok_latency = [ms for code, ms, _, _ in results if code in (200, 201)]
    table = Table(title=f"load: {args.clients} clients x {args.seconds:.0f} s on loopback "
                        "(1 photo set of 1600-px JPEGs + a note per request)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("answers by status", ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())),
                  "2xx and 503 only")
    table.add_row("503 without Retry-After",
                  str(sum(1 for code, _, _, retry in results if code == 503 and not retry)), "0")
    table.add_row("accepted submissions / s", f"{len(accepted) / elapsed:.2f}", "")
    table.add_row("latency of accepted, median / p95 (ms)",
                  f"{statistics.median(ok_latency):.0f} / {percentile(ok_latency, 95):.0f}"
                  if ok_latency else "-", "")
    table.add_row("accepted but not stored as scored (lost)", str(len(lost)), "0")
    table.add_row("peak RSS of the server (MB)", f"{rss:.0f}", "≤ 2048")
    Console().print(table)
    if lost or set(codes) - {200, 201, 503}:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

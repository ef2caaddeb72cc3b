"""End-to-end /v1/score latency and throughput against the time Pillow takes merely to decode
the same photos at full size.

    .venv/bin/python bench/score_latency.py [--requests 20] [--seconds 30] [--clients 4]
                                            [--config settings.toml]

A typical submission: 2 photo sets of 12-megapixel JPEGs (~4 MB each) and a 300-word note,
every shipped check on, a real uvicorn process on loopback with its default settings (or
those of `--config`: the server never reads the caller's MODERATION_CONFIG). Prints
one table: latency (median, p95, p99), the full-decode baseline and the ratio (the headline),
sustained throughput, peak RSS, cold start to ready, and time per check.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parents[1]))
from service.process import ServerProcess  # noqa: E402

KEY = "bench-key"
WIDTH, HEIGHT = 4000, 3000
NOTE = " ".join(
    ["Open rhinoplasty with dorsal hump reduction, spreader grafts and tip refinement."] * 3
    + ["The patient was seen at 3, 6 and 14 months post-op; swelling resolved by 12 months,"
       " and the nasal airway improved. Photos taken in the standard frontal, oblique and"
       " lateral views under the same studio lighting and background."] * 6)


def real_base_photos() -> list[np.ndarray]:
    """Real photographs when scikit-image is installed, else a photo-like synthetic scene."""
    try:
        from skimage import data

        return [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    except ImportError:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (512, 512, 3), dtype=np.uint8) for _ in range(4)]


def twelve_megapixel_jpeg(base: np.ndarray, seed: int) -> bytes:
    """Upscale a real photo to 4000x3000 and add sensor-like noise: a phone photo's size
    and entropy (about 4 MB at quality 92)."""
    image = Image.fromarray(base).convert("RGB").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, 5, (HEIGHT, WIDTH, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def full_decode_ms(photos: list[bytes], repeats: int = 5) -> tuple[list[float], list[float]]:
    """Pillow decoding each photo of one submission at full size, per submission: wall and
    CPU milliseconds (one thread)."""
    times, cpu_times = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for data in photos:
            Image.open(io.BytesIO(data)).load()
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
    return times, cpu_times


def submission(number: int) -> str:
    return json.dumps({
        "case_id": f"bench-{number}", "member_id": "m-bench", "procedure": "rhinoplasty",
        "consent_confirmed": True, "description": f"{NOTE} Case {number}.",
        "fields": {"approach": "open", "months_since_surgery": 14},
        "photo_sets": [{"view": "frontal", "before": "b1", "after": "a1"},
                       {"view": "lateral", "before": "b2", "after": "a2"}],
    })


def post(client: httpx.Client, base: str, photos: list[bytes], number: int) -> tuple[float, dict]:
    files = [("submission", (None, submission(number), "application/json"))]
    files += [(name, (f"{name}.jpg", data, "image/jpeg"))
              for name, data in zip(["b1", "a1", "b2", "a2"], photos, strict=True)]
    started = time.perf_counter()
    response = client.post(f"{base}/v1/score", files=files, headers={"X-API-Key": KEY})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 201):
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="sequential requests timed")
    parser.add_argument("--seconds", type=float, default=30, help="throughput run length")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for throughput")
    parser.add_argument("--config", type=Path, default=None, help=(
        "a settings TOML merged over the defaults for the server (its MODERATION_CONFIG; the "
        "server otherwise ignores the caller's), to time a setting against the defaults"))
    args = parser.parse_args(argv)
    if args.config is not None and not args.config.is_file():
        parser.error(f"--config {args.config} is not a file")
    console = Console()

    load_at_start = load_average()
    console.print("making 4 twelve-megapixel JPEGs from real photos ...")
    photos = [twelve_megapixel_jpeg(base, seed) for seed, base in enumerate(real_base_photos())]
    sizes = [len(p) / 1e6 for p in photos]

    with tempfile.TemporaryDirectory() as data_dir:
        if args.config is not None:
            console.print(f"server settings: the defaults, then {args.config}")
        server = ServerProcess(Path(data_dir), api_keys=KEY, env={"LOG_LEVEL": "warning"},
                               settings_file=args.config)
        server.start(timeout=120)
        cold_start_s = server.ready_after
        try:
            latencies, per_check = [], defaultdict(list)
            with httpx.Client(timeout=120) as client:
                post(client, server.base, photos, -1)  # warm-up
                server_cpu_started = process_cpu_s(server.pid)
                for number in range(args.requests):
                    elapsed, body = post(client, server.base, photos, number)
                    latencies.append(elapsed)
                    for name, ms in body["timings_ms"].items():
                        per_check[name].append(ms)
            server_cpu_ms = (process_cpu_s(server.pid) - server_cpu_started) * 1000 / args.requests
            decode, decode_cpu = full_decode_ms(photos)
            client_cpu_started = process_cpu_s(os.getpid())
            server_cpu_started, wall_started = process_cpu_s(server.pid), time.monotonic()
            throughput, posted = run_throughput(server.base, photos, args.clients, args.seconds)
            server_busy_s = process_cpu_s(server.pid) - server_cpu_started
            busy_cores = server_busy_s / (time.monotonic() - wall_started)
            sustained_cpu_ms = server_busy_s * 1000 / max(posted, 1)
            client_cpu_ms = (process_cpu_s(os.getpid()) - client_cpu_started) * 1000 / max(posted, 1)
            rss = peak_rss_mb(server.pid)
        finally:
            server.stop()

    median_latency, median_decode = statistics.median(latencies), statistics.median(decode)
    ratio = median_latency / median_decode
    table = Table(title=f"/v1/score, 2 photo sets of 12-MP JPEGs ({min(sizes):.1f}-{max(sizes):.1f} MB)"
                        f" + a {len(NOTE.split())}-word note, {args.requests} requests")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("score latency median / p95 / p99 (ms)",
                  f"{median_latency:.0f} / {percentile(latencies, 95):.0f} / {percentile(latencies, 99):.0f}", "")
    table.add_row("baseline: Pillow full decode of the 4 photos, median (ms)", f"{median_decode:.0f}", "")
    table.add_row("[bold]score time / full-decode time (median)", f"[bold]{ratio:.2f}", "≤ 1.5")
    table.add_row(f"sustained throughput, {args.clients} clients x {args.seconds:.0f} s (submissions/s)",
                  f"{throughput:.2f}", "≥ 3")
    table.add_row("  server CPU per submission during it, all threads (ms)",
                  f"{sustained_cpu_ms:.0f}", "")
    table.add_row("  cores the server kept busy during it (CPU s / wall s)", f"{busy_cores:.2f}",
                  f"{os.cpu_count()}")
    table.add_row("peak RSS of the server (MB)", f"{rss:.0f}", "≤ 2048")
    table.add_row("cold start to ready (s)", f"{cold_start_s:.1f}", "≤ 15")
    table.add_row("server CPU per submission, all threads (ms)", f"{server_cpu_ms:.0f}", "")
    median_decode_cpu = statistics.median(decode_cpu)
    table.add_row("baseline: Pillow full decode of the 4 photos, CPU (ms)",
                  f"{median_decode_cpu:.0f}", "")
    table.add_row("server CPU / full-decode CPU (the ratio without waiting for a busy CPU)",
                  f"{server_cpu_ms / median_decode_cpu:.2f}", "")
    table.add_row("capacity on 2 idle cores: 2 x 1000 / server CPU ms (submissions/s)",
                  f"{2000 / server_cpu_ms:.2f}", "≥ 3")
    table.add_row("benchmark client CPU per submission sent (ms; same 2 cores)",
                  f"{client_cpu_ms:.0f}", "")
    table.add_row("machine load average (1, 5, 15 min): at start -> at end",
                  f"{load_at_start} -> {load_average()}", f"{os.cpu_count()} cores")
    console.print(table)
    checks = Table(title="time per stage inside the service (ms per submission, median)")
    checks.add_column("stage")
    checks.add_column("ms", justify="right")
    for name, values in sorted(per_check.items(), key=lambda item: -statistics.median(item[1])):
        checks.add_row(name, f"{statistics.median(values):.1f}")
    console.print(checks)


def run_throughput(base: str, photos: list[bytes], clients: int,
                   seconds: float) -> tuple[float, int]:
    """Submissions scored per second, and how many were posted."""
    done, lock = [0], threading.Lock()
    stop_at = time.monotonic() + seconds
    started = time.monotonic()

    def worker(offset: int) -> None:
        number = 10_000 * (offset + 1)
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < stop_at:
                post(client, base, photos, number)
                number += 1
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.monotonic() - started), done[0]


if __name__ == "__main__":
    main()

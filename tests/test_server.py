"""The service as users run it: a real uvicorn process, real HTTP on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import photos
from tests.conftest import submission_json

KEY = "loopback-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("server-data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"PORT": str(port), "DATA_DIR": str(data_dir), "API_KEYS": f"{KEY},other"})
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"],
                               cwd=Path(__file__).parents[1], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # the models load at start-up; a busy shared machine is slow
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not become ready: "
                    + (data_dir / "server.log").read_text(errors="replace")[-2000:])
    yield base
    process.terminate()
    process.wait(timeout=20)
    log.close()
    # The log is there for operators: it must hold no PHI.
    text = (data_dir / "server.log").read_text(errors="replace")
    assert "Jane Roe" not in text and "IMG_0001" not in text


def test_score_two_real_jpegs_over_http(server: str) -> None:
    files = [
        ("submission", (None, submission_json(description="Pt Jane Roe, seen 14 months post-op."),
                        "application/json")),
        ("b1", ("IMG_0001 Jane Roe.jpg", photos.jpeg(photos.scene(1600, 1200, seed=1)), "image/jpeg")),
        ("a1", ("IMG_0002.jpg", photos.jpeg(photos.scene(1600, 1200, seed=2)), "image/jpeg")),
    ]
    response = httpx.post(f"{server}/v1/score", files=files, headers={"X-API-Key": KEY}, timeout=60)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body["recommendation"]) == {"profile", "gallery"}
    assert body["findings"] and body["photos"][0]["width"] == 1600
    again = httpx.get(f"{server}/v1/submissions/{body['submission_id']}",
                      headers={"X-API-Key": "other"})
    assert again.status_code == 200 and again.json()["submission_id"] == body["submission_id"]


def test_missing_key_over_http(server: str) -> None:
    response = httpx.post(f"{server}/v1/score", files={"submission": (None, "{}")})
    assert response.status_code == 401


def test_a_streamed_2_gb_upload_is_refused_without_reading_it(server: str) -> None:
    """Chunked, no Content-Length: the server stops reading at the first part over 15 MB."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n")
        head = (b'--xyz\r\nContent-Disposition: form-data; name="a1"; filename="a.jpg"\r\n\r\n')
        connection.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"\xff" * (1024 * 1024)
        sent = 0
        connection.settimeout(0.05)
        response = b""
        while sent < 2 * 1024**3:
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError, socket.timeout):
                break
            try:
                response += connection.recv(65536)
                if response:
                    break
            except (TimeoutError, socket.timeout):
                continue
        connection.settimeout(10)
        while not _complete(response):
            more = connection.recv(65536)
            if not more:
                break
            response += more
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 100 * 1024 * 1024
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["detail"] == "the file part 'a1' is larger than the limit of 15 MB"


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_openapi_is_served(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/v1/score", "/v1/procedures", "/v1/submissions/{submission_id}", "/healthz",
            "/readyz"} <= set(spec["paths"])
    assert json.dumps(spec)

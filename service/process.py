"""Running the service as a real uvicorn process on loopback: for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]  # the repository root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None,
                 api_keys: str = "loopback-key", settings_file: Path | None = None) -> None:
        """The caller's DATABASE_URL, EXTRA_CHECKS and MODERATION_CONFIG are not passed on: the
        server runs the defaults unless `env` or `settings_file` (its MODERATION_CONFIG) says."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"DATABASE_URL", "EXTRA_CHECKS", "MODERATION_CONFIG"}}
        self.env.update({"PORT": str(self.port), "DATA_DIR": str(data_dir), "API_KEYS": api_keys})
        self.env.update(env or {})
        if settings_file is not None:
            self.env["MODERATION_CONFIG"] = str(Path(settings_file).resolve())
        self.log_path = data_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=ROOT,
                                        env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    self.ready_after = time.monotonic() - self.started_at
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not become ready: {self.log()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown handlers run."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

"""The `moderation` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests import photos
from tests.conftest import post_score, submission_json

CLI = [sys.executable, "-m", "service.cli"]


def run_cli(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATA_DIR"}}
    env["DATA_DIR"] = str(cwd / "never-created")
    return subprocess.run([*CLI, *args], cwd=Path(__file__).parents[1], env=env, input=stdin,
                          capture_output=True, timeout=120)


@pytest.fixture
def case_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "before": tmp_path / "IMG_0001 Jane Roe.jpg",
        "after": tmp_path / "after.png",
        "notes": tmp_path / "notes.txt",
    }
    files["before"].write_bytes(photos.jpeg(photos.scene(seed=1)))
    files["after"].write_bytes(photos.png(photos.scene(seed=2)))
    files["notes"].write_text("Open rhinoplasty with spreader grafts; 14 months post-op.")
    return files


def test_cli_prints_the_same_json_as_the_api(case_files: dict[str, Path], tmp_path: Path,
                                             client: TestClient) -> None:
    result = run_cli("score", "--procedure", "rhinoplasty", "--notes", str(case_files["notes"]),
                     "--before", str(case_files["before"]), "--after", str(case_files["after"]),
                     "--fields", '{"approach": "open", "months_since_surgery": 14}',
                     "--view", "frontal", "--case-id", "c-1042", "--member-id", "m-77",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    from_cli = json.loads(result.stdout)
    assert not (tmp_path / "never-created").exists()  # no database, no image store
    from_api = post_score(client, submission_json(), files={
        "b1": case_files["before"].read_bytes(), "a1": case_files["after"].read_bytes()}).json()
    ignore = {"timings_ms", "version", "created_at"}
    # Only the duplicate check differs: without a database it compares the submission alone.
    for body, with_index in ((from_cli, False), (from_api, True)):
        for finding in body["findings"]:
            if finding["check"] == "duplicate":
                assert finding["evidence"]["values"].pop("compared_with_index") is with_index
                finding["reason"] = finding["reason"].split(" (compared")[0]
    assert {k: v for k, v in from_cli.items() if k not in ignore} == \
        {k: v for k, v in from_api.items() if k not in ignore}
    assert from_cli["version"] is None and "total" in from_cli["timings_ms"]
    assert b"Jane Roe" not in result.stderr


def test_cli_reads_notes_from_stdin_and_takes_several_sets(case_files: dict[str, Path],
                                                           tmp_path: Path) -> None:
    result = run_cli("score", "--procedure", "rhinoplasty", "--notes", "-",
                     "--before", str(case_files["before"]), "--after", str(case_files["after"]),
                     "--before", str(case_files["after"]), "--after", str(case_files["before"]),
                     "--indent", "0", cwd=tmp_path, stdin=b"Closed approach.")
    assert result.returncode == 0, result.stderr.decode()
    body = json.loads(result.stdout)
    assert [p["id"] for p in body["photos"]] == ["set1/before", "set1/after", "set2/before",
                                                 "set2/after"]


@pytest.mark.parametrize(("args", "message"), [
    (["--procedure", "nose_job"], "unknown procedure code 'nose_job'"),
    (["--procedure", "rhinoplasty", "--fields", "{oops"], "--fields is not valid JSON"),
    (["--procedure", "rhinoplasty", "--fields", '{"approach": "sideways"}'],
     "fields.approach: must be one of: open, closed"),
    (["--procedure", "rhinoplasty", "--extra-before"], "No such option"),
])
def test_cli_bad_input_gets_a_message_and_a_nonzero_exit(case_files: dict[str, Path],
                                                         tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    result = run_cli("score", *args, "--before", str(case_files["before"]),
                     "--after", str(case_files["after"]), cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr.decode()
    assert result.stdout == b""


def test_cli_names_the_problem_with_a_photo(case_files: dict[str, Path], tmp_path: Path) -> None:
    gif = tmp_path / "after.gif"
    gif.write_bytes(photos.OTHER_FORMATS["GIF"])
    result = run_cli("score", "--procedure", "rhinoplasty", "--before", str(case_files["before"]),
                     "--after", str(gif), cwd=tmp_path)
    assert result.returncode == 2
    assert "is a GIF file; photos must be JPEG or PNG" in result.stderr.decode()
    missing = run_cli("score", "--procedure", "rhinoplasty", "--before", str(tmp_path / "nope.jpg"),
                      "--after", str(gif), cwd=tmp_path)
    assert missing.returncode == 2
    assert "before photo of set 1 file does not exist" in missing.stderr.decode()
    uneven = run_cli("score", "--procedure", "rhinoplasty", "--before", str(case_files["before"]),
                     cwd=tmp_path)
    assert uneven.returncode != 0


def test_cli_lists_procedures(tmp_path: Path) -> None:
    result = run_cli("procedures", cwd=tmp_path)
    assert result.returncode == 0
    assert len(result.stdout.decode().splitlines()) >= 30

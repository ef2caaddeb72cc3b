"""The offline kit and the GPU script: a watermark run on a copy of the repository that holds
what a call to a lent machine carries (the working tree and the kit), on this machine's CPU.
Real photos, real training steps, real export. The kit's wheels are the one part left out:
`pip download` needs PyPI, and the tests stay offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from datasets import sample_photos
from models.registry import sha256_of
from training import offline_kit

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training" / "gpu_watermark.sh"
TINY_RUN = ["--device", "cpu", "--photo-set", "1", "--train-samples", "8", "--val-samples", "8",
            "--test-samples", "8", "--workers", "1", "--threads", "2", "--evaluations", "1",
            "--batch-size", "4", "--crops-per-sample", "1", "--version", "1.99"]


def travelling_copy(root: Path) -> Path:
    """The working tree as a call carries it: tracked files and untracked ones not ignored."""
    for name in offline_kit.working_tree():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, root / name)
    return root


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kit") / ".kit"
    assert offline_kit.main(["build", "--out", str(out), "--photo-set", "1", "--no-wheels"]) == 0
    return out


def test_the_kit_holds_the_photos_and_the_detector_and_names_the_start(kit: Path) -> None:
    manifest = json.loads((kit / "manifest.json").read_text())
    served = [p for p in sample_photos.split("train") + sample_photos.split("val")
              if p.registry != "pypi"]
    copies = {path.relative_to(kit / "sources") for path in (kit / "sources").rglob("*")
              if path.is_file()}
    assert copies == {p.path.relative_to(sample_photos.SOURCE_CACHE) for p in served}
    assert manifest["init"] == "models/weights/watermark/1.8/watermark.pt"
    assert not (kit / "init").exists()  # registered weights travel with the working tree
    assert (kit / "site" / "rapidocr_onnxruntime" / "models").is_dir()
    assert manifest["kit_bytes"] == sum(f["bytes"] for f in manifest["files"].values())
    assert 0 < manifest["registered_weights_bytes"] < manifest["working_tree_bytes"]


def test_a_run_from_the_kit_on_a_travelling_copy(
        kit: Path, tmp_path: Path) -> None:
    travel = travelling_copy(tmp_path / "repo")
    shutil.copytree(kit, travel / ".kit")
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(travel / "training" / "gpu_watermark.sh"), "runs/try",
                           *TINY_RUN], check=False, cwd=travel, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads((travel / "runs" / "try" / "run.json").read_text())
    assert run["args"]["init"] == "models/weights/watermark/1.8/watermark.pt"
    assert run["args"]["freeze_to"] == 0 and run["args"]["arch"] == "ppocr"
    assert run["args"]["photo_set"] == 1  # the arguments given win over the recipe's
    assert (travel / "runs" / "try" / "watermark.pt").is_file()
    fetched = {path.name for path in (travel / "data" / "sources").iterdir()}
    assert "deb" not in fetched and not any(name.endswith(".tgz") for name in fetched)


@pytest.fixture
def untracked_start() -> Iterator[Path]:
    """Start weights inside the repository that git ignores (a run folder's), so they do not
    travel with the working tree."""
    folder = REPO / "runs" / f"kit-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    start = folder / "watermark.pt"
    shutil.copyfile(offline_kit.DEFAULT_INIT, start)
    yield start
    shutil.rmtree(folder)


def test_start_weights_that_would_not_travel_go_into_the_kit_and_back(
        untracked_start: Path, tmp_path: Path) -> None:
    out = tmp_path / ".kit"
    tree = offline_kit.working_tree()
    assert not offline_kit.travels(untracked_start, tree)
    assert offline_kit.travels(offline_kit.DEFAULT_INIT, tree)
    assert offline_kit.main(["build", "--out", str(out), "--photo-set", "1", "--no-wheels",
                             "--init", str(untracked_start)]) == 0
    packed = out / "init" / untracked_start.relative_to(REPO)
    assert sha256_of(packed) == sha256_of(untracked_start)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"][str(packed.relative_to(out))]["sha256"] == sha256_of(packed)
    untracked_start.unlink()  # as on the lent machine, before unpack
    missing = offline_kit.check(out, 1)
    assert missing == [(f"start weights {manifest['init']} are not in the checkout "
                        "(neither travelled nor in the kit)")]
    offline_kit.unpack(out)
    assert sha256_of(untracked_start) == sha256_of(packed)
    assert offline_kit.check(out, 1) == []


def test_unpack_leaves_the_files_already_in_place(kit: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "sources"
    monkeypatch.setattr(sample_photos, "SOURCE_CACHE", cache)
    monkeypatch.setattr(offline_kit, "REPO", tmp_path / "repo")
    first = next(path for path in (kit / "sources").rglob("*") if path.is_file())
    kept = cache / first.relative_to(kit / "sources")
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"the original")
    files = sum(1 for path in kit.rglob("*") if path.is_file()
                and path.parts[len(kit.parts)] in ("sources", "init"))
    assert offline_kit.unpack(kit) == files - 1
    assert kept.read_bytes() == b"the original"


def test_bad_requests_are_refused_with_the_reason(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("not a kit")
    assert offline_kit.main(["build", "--out", str(mine), "--no-wheels"]) == 1
    assert "no kit's manifest.json" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "not a kit"
    outside = tmp_path / "weights.pt"
    outside.write_bytes(b"x")
    assert offline_kit.main(["build", "--out", str(tmp_path / "k"), "--init", str(outside)]) == 1
    assert "not inside the repository" in capsys.readouterr().err
    assert offline_kit.main(["check", "--kit", str(tmp_path / "none"), "--photo-set", "1"]) == 1
    assert "no manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        offline_kit.main(["build", "--photo-set", "0"])
    assert refused.value.code == 2
    usage = subprocess.run(["bash", str(SCRIPT)], check=False, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    no_kit = subprocess.run(["bash", str(SCRIPT), "runs/x"], check=False, capture_output=True,
                            text=True, env={**os.environ, "KIT": str(tmp_path / "none")})
    assert no_kit.returncode == 2 and "offline_kit build" in no_kit.stderr

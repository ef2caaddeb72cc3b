"""The clinical PHI test set: synthetic plastic-surgery case notes with span annotations.

`load(split)` reads the versioned file (`v2/phi_case_notes.jsonl`, made by `generate.py`,
checked against the sha256 in `v2/manifest.json`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DEFAULT_VERSION_DIR = Path(__file__).parent / "v2"
SPLITS = ("train", "dev", "test")


def manifest(version_dir: Path = DEFAULT_VERSION_DIR) -> dict:
    return json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))


def load(split: str | None = None, version_dir: Path = DEFAULT_VERSION_DIR) -> list[dict]:
    """The records of one split (or all), after checking the file against its manifest."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    info = manifest(version_dir)
    data = (version_dir / info["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise ValueError(f"{info['file']} does not match the sha256 in its manifest")
    records = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return [r for r in records if split is None or r["split"] == split]

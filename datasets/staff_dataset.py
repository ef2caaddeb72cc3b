"""A versioned dataset of staff-labelled photos: the shape `datasets.export` writes and the
training CLI reads.

```
<root>/<version>/
  dataset.json      version, what made it, split fractions and seed, counts
  manifest.jsonl    one row per (photo, check): label, split, member, procedure, model score
  checksums.sha256  sha256 of every other file (`sha256sum -c` reads it)
  card.md           counts per check, label and split
  photos/<sha256>.<jpg|png>   stored copies (metadata-free), named by their content hash
```

Splits are by member (practice): every row of one member is in one split, so a model is never
tested on a practice it was trained on. File names and rows hold no notes or case text.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.registry import sha256_of

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.jsonl"
DATASET_INFO = "dataset.json"
CHECKSUMS = "checksums.sha256"
CARD = "card.md"
PHOTOS = "photos"
SERVICE_PHOTOS = ("Photos are the service's stored copies (metadata stripped at intake, verified "
                  "on export), named by content hash. Notes and case text are not exported.")


class DatasetError(ValueError):
    """A dataset folder that is missing, incomplete or altered."""


@dataclass(frozen=True)
class LabelledItem:
    """One staff label on one photo for one check (`label` 1: the rule is broken)."""

    check: str
    label: int
    member_id: str
    photo: str  # relative path inside the dataset
    sha256: str
    case_id: str = ""
    procedure: str = ""
    regions: tuple[str, ...] = ()
    model_score: float | None = None
    model: dict[str, str] = field(default_factory=dict)
    action: str = ""  # confirm or override
    split: str = ""

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["regions"] = list(self.regions)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LabelledItem:
        return cls(**{**row, "regions": tuple(row.get("regions", ()))})


def split_members(members: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Members shuffled (seeded) and dealt so each split's share of members follows
    `fractions`; val and test get at least one member each when there are three or more."""
    order = sorted(set(members))
    random.Random(seed).shuffle(order)
    counts = {name: round(fractions.get(name, 0.0) * len(order)) for name in ("val", "test")}
    if len(order) >= 3:
        counts = {name: max(1, count) for name, count in counts.items()}
    assignment: dict[str, str] = {}
    position = 0
    for name in ("test", "val"):
        for member in order[position:position + counts[name]]:
            assignment[member] = name
        position += counts[name]
    for member in order[position:]:
        assignment[member] = "train"
    return assignment


class DatasetWriter:
    """Writes items (with their photos already under `staging/photos`) as a versioned dataset.

    The version is a hash of the manifest: the same labels on the same photos give the same
    version, and a re-export that changes nothing writes nothing new."""

    def __init__(self, root: Path, fractions: dict[str, float], seed: int, source: str,
                 photos_note: str = SERVICE_PHOTOS) -> None:
        self.root = root
        self.fractions = fractions
        self.seed = seed
        self.source = source
        self.photos_note = photos_note

    def write(self, items: list[LabelledItem], photo_files: dict[str, Path]) -> Path:
        if not items:
            raise DatasetError("no labelled photos to export")
        splits = split_members([item.member_id for item in items], self.fractions, self.seed)
        items = sorted((_with_split(item, splits[item.member_id]) for item in items),
                       key=lambda item: (item.check, item.sha256, item.member_id))
        manifest = "".join(json.dumps(item.as_row(), sort_keys=True) + "\n" for item in items)
        version = "ds-" + hashlib.sha256(manifest.encode()).hexdigest()[:12]
        directory = self.root / version
        if (directory / CHECKSUMS).exists():
            return directory
        (directory / PHOTOS).mkdir(parents=True, exist_ok=True)
        for relative, source in photo_files.items():
            target = directory / relative
            if not target.exists():
                target.write_bytes(source.read_bytes())
        (directory / MANIFEST).write_text(manifest)
        info = {"version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": self.source, "photos": self.photos_note, "split_seed": self.seed,
                "fractions": self.fractions,
                "counts": counts(items), "members": _members_per_split(items)}
        (directory / DATASET_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        (directory / CARD).write_text(card(info))
        write_checksums(directory)
        return directory


def _with_split(item: LabelledItem, split: str) -> LabelledItem:
    return LabelledItem(**{**item.__dict__, "split": split})


def counts(items: list[LabelledItem]) -> dict[str, dict[str, dict[str, int]]]:
    """{check: {split: {"broken": n, "ok": n}}}"""
    table: dict[str, dict[str, dict[str, int]]] = {}
    tally = Counter((item.check, item.split, item.label) for item in items)
    for (check, split, label), count in sorted(tally.items()):
        row = table.setdefault(check, {}).setdefault(split, {"broken": 0, "ok": 0})
        row["broken" if label else "ok"] += count
    return table


def _members_per_split(items: list[LabelledItem]) -> dict[str, int]:
    return {split: len({i.member_id for i in items if i.split == split}) for split in SPLITS}


def card(info: dict[str, Any]) -> str:
    lines = [f"# Dataset {info['version']}", "",
             f"Staff labels exported from {info['source']} on {info['created_at']}.",
             ("A label is a reviewer's decision on a finding: confirmed (the model was right) "
              "or overridden (the opposite holds). `broken` = the rule is broken."), "",
             (f"Split by member (seed {info['split_seed']}, fractions {info['fractions']}); "
              f"members per split: {info['members']}. No member is in two splits."), "",
             info["photos"], "",
             "| check | split | broken | ok |", "|---|---|---|---|"]
    for check, splits in info["counts"].items():
        for split in SPLITS:
            row = splits.get(split, {"broken": 0, "ok": 0})
            lines.append(f"| {check} | {split} | {row['broken']} | {row['ok']} |")
    return "\n".join(lines) + "\n"


def write_checksums(directory: Path) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    (directory / CHECKSUMS).write_text("".join(
        f"{sha256_of(p)}  {p.relative_to(directory).as_posix()}\n" for p in files))


class StaffDataset:
    """A dataset folder, verified against its checksums when opened."""

    def __init__(self, directory: Path, verify: bool = True) -> None:
        if not (directory / MANIFEST).is_file():
            raise DatasetError(f"{directory} is not a dataset folder (no {MANIFEST})")
        self.directory = directory
        if verify:
            self.verify()
        self.info = json.loads((directory / DATASET_INFO).read_text())
        self.items = [LabelledItem.from_row(json.loads(line))
                      for line in (directory / MANIFEST).read_text().splitlines() if line]

    @property
    def version(self) -> str:
        return str(self.info["version"])

    def verify(self) -> None:
        listed = (self.directory / CHECKSUMS).read_text().splitlines()
        for line in listed:
            expected, relative = line.split("  ", 1)
            path = self.directory / relative
            if not path.is_file() or sha256_of(path) != expected:
                raise DatasetError(f"dataset file {relative} is missing or does not match "
                                   "its checksum")

    def split(self, check: str, name: str) -> list[LabelledItem]:
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name}; choose from {', '.join(SPLITS)}")
        return [item for item in self.items if item.check == check and item.split == name]

    def path(self, item: LabelledItem) -> Path:
        return self.directory / item.photo

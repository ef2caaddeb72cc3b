"""The model registry: versions of each learned model, with what made them, and which one is
promoted (served).

Two roots are searched, newest first: the writable one under `DATA_DIR/models` (where the data
team's training runs land) and the read-only one shipped in this package (`models/weights`).
Each root holds `registry.json` (`{"models": {name: {"promoted": version}}}`) and one folder per
version, `<name>/<version>/`, with the weight files, `meta.json` and `card.md`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moderation.schemas import ModelRef

SHIPPED_ROOT = Path(__file__).with_name("weights")
REGISTRY_FILE = "registry.json"
META_FILE = "meta.json"


class ModelIntegrityError(RuntimeError):
    """A weight file does not match the checksum recorded when it was registered."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    directory: Path
    files: dict[str, str]  # file name -> sha256
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    data_version: str | None = None
    command: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def path(self, filename: str) -> Path:
        if filename not in self.files:
            raise KeyError(f"model {self.name} {self.version} has no file {filename}")
        return self.directory / filename

    def verify(self) -> None:
        for filename, expected in self.files.items():
            if sha256_of(self.directory / filename) != expected:
                raise ModelIntegrityError(
                    f"model {self.name} {self.version}: {filename} does not match its checksum")

    @classmethod
    def read(cls, directory: Path) -> ModelVersion:
        meta = json.loads((directory / META_FILE).read_text())
        return cls(directory=directory, **meta)

    def write_meta(self) -> None:
        meta = asdict(self)
        meta.pop("directory")
        (self.directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


class ModelRegistry:
    def __init__(self, roots: list[Path]) -> None:
        if not roots:
            raise ValueError("a registry needs at least one root")
        self.roots = roots

    @classmethod
    def default(cls, data_dir: Path) -> ModelRegistry:
        return cls([data_dir / "models", SHIPPED_ROOT])

    @property
    def writable_root(self) -> Path:
        return self.roots[0]

    def _index(self, root: Path) -> dict[str, Any]:
        path = root / REGISTRY_FILE
        return json.loads(path.read_text()) if path.exists() else {"models": {}}

    def versions(self, name: str) -> list[ModelVersion]:
        found = []
        for root in self.roots:
            for meta in sorted((root / name).glob(f"*/{META_FILE}")):
                found.append(ModelVersion.read(meta.parent))
        return found

    def get(self, name: str, version: str) -> ModelVersion | None:
        return next((v for v in self.versions(name) if v.version == version), None)

    def promoted(self, name: str) -> ModelVersion | None:
        """The served version: the newest root that promotes one wins."""
        for root in self.roots:
            version = self._index(root)["models"].get(name, {}).get("promoted")
            if version and (root / name / version / META_FILE).exists():
                return ModelVersion.read(root / name / version)
        return None

    def add(self, name: str, version: str, files: dict[str, Path], *,
            metrics: dict[str, float] | None = None, thresholds: dict[str, float] | None = None,
            data_version: str | None = None, command: str | None = None,
            config: dict[str, Any] | None = None, card: str | None = None,
            root: Path | None = None) -> ModelVersion:
        """Copy weight files into `<root>/<name>/<version>/` and record what made them."""
        directory = (root or self.writable_root) / name / version
        if directory.exists():
            raise FileExistsError(f"model {name} {version} is registered already")
        directory.mkdir(parents=True)
        for filename, source in files.items():
            shutil.copyfile(source, directory / filename)
        model = ModelVersion(
            name=name, version=version, directory=directory,
            files={filename: sha256_of(directory / filename) for filename in files},
            metrics=metrics or {}, thresholds=thresholds or {}, data_version=data_version,
            command=command, config=config or {},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        model.write_meta()
        if card is not None:
            (directory / "card.md").write_text(card)
        return model

    def promote(self, name: str, version: str, root: Path | None = None, *,
                note: str | None = None) -> None:
        """Serve `version` (under `root`, default the writable one) and append the change to
        that root's promotion history; the service picks it up at start or on reload."""
        root = root or self.writable_root
        if not (root / name / version / META_FILE).exists():
            raise KeyError(f"model {name} {version} is not registered under {root}")
        served = self.promoted(name)
        index = self._index(root)
        entry = index["models"].setdefault(name, {})
        entry["promoted"] = version
        entry.setdefault("history", []).append({
            "version": version, "previous": served.version if served else None,
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "note": note or ""})
        root.mkdir(parents=True, exist_ok=True)
        (root / REGISTRY_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every recorded promotion of `name`, oldest first, from all roots."""
        entries = [entry for root in self.roots
                   for entry in self._index(root)["models"].get(name, {}).get("history", [])]
        return sorted(entries, key=lambda entry: entry["at"])

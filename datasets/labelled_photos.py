"""Labelled photos for the region classifier: an ImageFolder tree or a manifest.

ImageFolder: one folder per label, named after
- a region of the taxonomy (`nose/`), or several joined with `+` (`breast+chest+abdomen/`);
- `none/` for photos that show no region (scenes, objects, backgrounds);
- a procedure code (`rhinoplasty/`): the photo is labelled with that procedure and with the
  procedure's regions.

Manifest: a `.jsonl` file, one object a line, `{"path": "...", "regions": [...],
"procedure": "..."}` (`regions` and `procedure` optional, not both missing); relative paths are
relative to the manifest (the shape the dataset export writes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from torch.utils.data import Dataset

from moderation.taxonomy import Taxonomy

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class LabelError(ValueError):
    """A folder or manifest line whose label the taxonomy does not know."""


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    regions: tuple[str, ...]
    procedure: str | None


def labels_of(name: str, taxonomy: Taxonomy) -> tuple[tuple[str, ...], str | None]:
    """(regions, procedure) for an ImageFolder folder name."""
    if name == "none":
        return (), None
    procedure = taxonomy.get(name)
    if procedure is not None:
        return tuple(procedure.regions), procedure.code
    regions = tuple(name.split("+"))
    unknown = [r for r in regions if r not in taxonomy.regions]
    if unknown:
        raise LabelError(
            f"folder '{name}': {', '.join(unknown)} is neither a region nor a procedure code; "
            f"regions are: {', '.join(taxonomy.regions)}")
    return regions, None


def read_image_folder(root: Path, taxonomy: Taxonomy) -> list[LabelledPhoto]:
    if not root.is_dir():
        raise LabelError(f"{root} is not a folder")
    photos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        regions, procedure = labels_of(folder.name, taxonomy)
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                photos.append(LabelledPhoto(path, regions, procedure))
    if not photos:
        raise LabelError(f"{root} holds no labelled photos (one folder per label, JPEG/PNG inside)")
    return photos


def read_manifest(path: Path, taxonomy: Taxonomy) -> list[LabelledPhoto]:
    photos = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            regions = tuple(entry.get("regions") or ())
            procedure = entry.get("procedure")
            file = Path(entry["path"])
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise LabelError(f"{path.name} line {number}: not an object with a 'path'") from None
        unknown = [r for r in regions if r not in taxonomy.regions]
        if unknown or (procedure is not None and taxonomy.get(procedure) is None):
            raise LabelError(f"{path.name} line {number}: unknown region or procedure code")
        if procedure and not regions:
            regions = tuple(taxonomy.get(procedure).regions)
        photos.append(LabelledPhoto(file if file.is_absolute() else path.parent / file,
                                    regions, procedure))
    if not photos:
        raise LabelError(f"{path} lists no photos")
    return photos


def read_labelled(source: Path, taxonomy: Taxonomy) -> list[LabelledPhoto]:
    return read_manifest(source, taxonomy) if source.is_file() else read_image_folder(source, taxonomy)


class RegionDataset(Dataset):
    """Tensors for training: the whole photo squashed to a square (as at inference), with
    augmentation (a jittered crop, flips, colour and blur) when `train`."""

    def __init__(self, photos: list[LabelledPhoto], regions: list[str], procedures: list[str],
                 image_size: int, train: bool, seed: int = 0, augment: str = "standard") -> None:
        self.photos = photos
        self.region_index = {name: i for i, name in enumerate(regions)}
        self.procedure_index = {name: i for i, name in enumerate(procedures)}
        self.image_size = image_size
        self.train = train
        self.strong = augment == "strong"  # wider crops, small rotations, more grey
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.photos)

    def targets(self, photo: LabelledPhoto) -> tuple[torch.Tensor, int]:
        regions = torch.zeros(len(self.region_index))
        for region in photo.regions:
            regions[self.region_index[region]] = 1.0
        procedure = self.procedure_index.get(photo.procedure, -100) if photo.procedure else -100
        return regions, procedure

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        from models.region_classifier import preprocess

        photo = self.photos[index]
        image = Image.open(photo.path).convert("RGB")
        if self.train:
            image = self._augment(image)
        pixels = preprocess(np.asarray(image), self.image_size)[0]
        regions, procedure = self.targets(photo)
        return torch.from_numpy(pixels), regions, procedure

    def _augment(self, image: Image.Image) -> Image.Image:
        rng = self.rng
        width, height = image.size
        low = 0.6 if self.strong else 0.8
        keep = rng.uniform(low, 1.0)
        w, h = max(8, int(width * keep)), max(8, int(height * rng.uniform(low, 1.0)))
        x, y = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        image = image.crop((x, y, x + w, y + h))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.strong and rng.random() < 0.5:
            image = image.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR,
                                 expand=False, fillcolor=tuple(int(v) for v in rng.integers(0, 256, 3)))
        if rng.random() < 0.3:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
        array = np.asarray(image).astype(np.float32)
        array = array * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)  # contrast, brightness
        array = array * rng.uniform(0.9, 1.1, size=3)  # white balance
        if rng.random() < (0.25 if self.strong else 0.1):
            array = np.repeat(array.mean(axis=2, keepdims=True), 3, axis=2)
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))

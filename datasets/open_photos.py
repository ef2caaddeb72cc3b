"""Openly licensed real photos that ship inside installed PyPI packages.

Nothing is downloaded: scikit-image, scikit-learn and matplotlib carry these files in their
wheels. Each photo has a fixed split so that evaluation uses photos training never saw, and a
`straight_edges` flag for the hard negatives of the collage task (tiles, grids, buildings,
shelves: full-length straight lines that are not seams).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Split = Literal["train", "test"]


@dataclass(frozen=True)
class OpenPhoto:
    name: str
    package: str
    path: str  # inside the package
    license: str
    split: Split
    straight_edges: bool = False
    subject: str = "scene"

    def file(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {self.package} is not installed (pip install it)")
        return Path(next(iter(spec.submodule_search_locations))) / self.path

    def load(self) -> np.ndarray:
        """RGB uint8 (grey photos are repeated over three channels)."""
        return _load(self.file())


@cache
def _load(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


_SK = "skimage"
_CC0 = "CC0 1.0"
_PD = "public domain"
PHOTOS: tuple[OpenPhoto, ...] = (
    # ---- training photos
    OpenPhoto("astronaut", _SK, "data/astronaut.png", _PD + " (NASA)", "train", subject="person"),
    OpenPhoto("camera", _SK, "data/camera.png", _CC0 + " (Lav Varshney)", "train", True, "person"),
    OpenPhoto("chelsea", _SK, "data/chelsea.png", _CC0 + " (Stefan van der Walt)", "train",
              subject="animal"),
    OpenPhoto("coins", _SK, "data/coins.png", "no known copyright restrictions", "train", True),
    OpenPhoto("grass", _SK, "data/grass.png", _CC0, "train", subject="texture"),
    OpenPhoto("hubble_deep_field", _SK, "data/hubble_deep_field.jpg", _PD + " (NASA)", "train"),
    OpenPhoto("moon", _SK, "data/moon.png", "no known copyright restrictions", "train"),
    OpenPhoto("retina", _SK, "data/retina.jpg", _CC0 + " (Mikael Häggström)", "train"),
    OpenPhoto("page", _SK, "data/page.png", "no known copyright restrictions", "train", True),
    OpenPhoto("immunohistochemistry", _SK, "data/ihc.png", "no known copyright restrictions",
              "train"),
    OpenPhoto("china", "sklearn", "datasets/images/china.jpg",
              "CC BY 2.0 (danielbuechele on Flickr)", "train", True),
    # ---- held-out photos: never used for training
    OpenPhoto("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
              _PD + " (US Navy)", "test", subject="person"),
    OpenPhoto("coffee", _SK, "data/coffee.png", _CC0 + " (Rachel Michetti)", "test"),
    OpenPhoto("rocket", _SK, "data/rocket.jpg", _PD + " (SpaceX)", "test", True),
    OpenPhoto("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0 (vultilion on Flickr)",
              "test"),
    OpenPhoto("brick", _SK, "data/brick.png", _CC0 + " (CC0Textures)", "test", True, "texture"),
    OpenPhoto("gravel", _SK, "data/gravel.png", _CC0 + " (CC0Textures)", "test",
              subject="texture"),
    OpenPhoto("text", _SK, "data/text.png", _PD, "test", True),
    OpenPhoto("motorcycle_left", _SK, "data/motorcycle_left.png",
              "Middlebury 2014 stereo dataset (free for research use, as shipped by scikit-image)",
              "test", True),
    OpenPhoto("motorcycle_right", _SK, "data/motorcycle_right.png",
              "Middlebury 2014 stereo dataset (free for research use, as shipped by scikit-image)",
              "test", True),
)


def photos(split: Split | None = None, straight_edges: bool | None = None) -> list[OpenPhoto]:
    return [p for p in PHOTOS
            if (split is None or p.split == split)
            and (straight_edges is None or p.straight_edges == straight_edges)]


def by_name(name: str) -> OpenPhoto:
    return next(p for p in PHOTOS if p.name == name)


def lfw_faces() -> np.ndarray:
    """scikit-image's LFW subset: 100 small (25 x 25) grey face crops of different people.

    Used only as hard negatives for duplicate detection (distinct photos that look alike)."""
    spec = importlib.util.find_spec("skimage")
    assert spec and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "lfw_subset.npy"
    faces = np.load(path)[:100]
    return (faces * 255).round().astype(np.uint8)


LICENSE_NOTES = {
    "lfw_subset": "Labeled Faces in the Wild subset shipped by scikit-image (research use)",
}

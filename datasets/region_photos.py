"""Real photos of people and scenes for the procedure-match check: where they come from, how
they are cut into faces, close-ups of one feature and torsos, and what each one shows.

No photo is stored in this repository: every source ships inside a package that installs with
its registry's own client, under the licence recorded in `SOURCES`:

- `skimage:<name>`: scikit-image's sample data (PyPI, BSD-3; astronaut: NASA, public domain;
  camera: "no known copyright restrictions"; the scenes: scikit-image contributors, CC0/BSD).
- `matplotlib:grace_hopper`: matplotlib's sample data (PyPI, PSF-style; US Navy photo,
  public domain).
- `npm:<package>@<version>:<member>`: demo photos inside an npm package, fetched with
  `npm pack` into a cache folder: @vladmandic/face-api 1.7.15 (MIT, (c) Vladimir Mandic; the
  package states no other licence for its demo photos) and tracking 1.1.3 (BSD).

Two uses: the benchmark reads a fixed list of crops (`manifests/procedure_match_bench.json`,
proposed from face landmarks by `crops_for_face` and reviewed by eye); the training-folder
builder cuts jittered crops from other sources into an ImageFolder tree that
`training/train_region_classifier.py` reads. The two never share a source photo.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MANIFEST_DIR = Path(__file__).with_name("manifests")
BENCH_MANIFEST = MANIFEST_DIR / "procedure_match_bench.json"

FACE_API = "@vladmandic/face-api@1.7.15"
TRACKING = "tracking@1.1.3"
HUMAN = "@vladmandic/human@3.3.6"
HUMAN_SAMPLES = f"npm:{HUMAN}:package/assets/samples.jpg"

SOURCES: dict[str, str] = {
    **{f"npm:{FACE_API}:package/demo/sample{i}.jpg": "MIT (npm package @vladmandic/face-api)"
       for i in range(1, 7)},
    f"npm:{TRACKING}:package/examples/assets/faces.jpg": "BSD (npm package tracking)",
    HUMAN_SAMPLES: "MIT (npm package @vladmandic/human)",
    **{f"sample:kde_{name}": "LGPL-3.0 or CC BY-SA 4.0 (Debian plasma-workspace-wallpapers; "
                             "datasets/sample_photos.py)" for name in (
        "bythewater", "coldripple", "colorfulcups", "darkesthour", "eveningglow", "fallenleaf",
        "grey", "kite", "onestandsout", "path", "volna", "summer_1am")},
    "skimage:astronaut": "public domain (NASA), via scikit-image",
    "skimage:camera": "no known copyright restrictions, via scikit-image",
    "matplotlib:grace_hopper": "public domain (US Navy), via matplotlib",
    **{f"skimage:{name}": "CC0/BSD-3, via scikit-image" for name in (
        "coffee", "chelsea", "rocket", "horse", "motorcycle_left", "hubble_deep_field", "grass",
        "immunohistochemistry", "brick", "gravel", "coins", "moon", "page", "text", "cell",
        "logo", "colorwheel", "retina", "motorcycle_right", "clock")},
}

# What each kind of crop shows, in the taxonomy's regions (moderation/procedures.toml).
CATEGORY_REGIONS: dict[str, tuple[str, ...]] = {
    "face_frontal": ("face", "forehead", "eyes", "nose", "ears", "lips", "chin", "cheeks", "neck", "skin"),
    "face_oblique": ("face", "forehead", "eyes", "nose", "ears", "lips", "chin", "cheeks", "neck", "skin"),
    "face_profile": ("face", "forehead", "eyes", "nose", "ears", "lips", "chin", "cheeks", "neck", "skin"),
    "closeup_eyes": ("eyes", "skin"),
    "closeup_nose": ("nose", "skin"),
    "closeup_lips": ("lips", "skin"),
    "torso": ("breast", "chest", "abdomen", "arms", "skin"),
    "non_human": (),
}

# Sources the benchmark uses; the training folder is built from the others.
BENCH_SOURCES = (
    f"npm:{FACE_API}:package/demo/sample4.jpg", f"npm:{FACE_API}:package/demo/sample5.jpg",
    f"npm:{FACE_API}:package/demo/sample6.jpg", "skimage:astronaut", "skimage:camera",
    "matplotlib:grace_hopper", "skimage:coffee", "skimage:chelsea", "skimage:rocket",
    "skimage:clock", "skimage:motorcycle_left", "skimage:hubble_deep_field", "skimage:grass",
    "skimage:immunohistochemistry",
)
TRAIN_PEOPLE_SOURCES = (
    f"npm:{FACE_API}:package/demo/sample1.jpg", f"npm:{FACE_API}:package/demo/sample2.jpg",
    f"npm:{FACE_API}:package/demo/sample3.jpg", f"npm:{TRACKING}:package/examples/assets/faces.jpg",
)
# Torsos only, boxes (x1, y1, x2, y2) reviewed by eye: the library's demo montage has its face
# annotations drawn over every face, so no face or feature is cut from it; below the chins
# the clothes are clean apart from thin box lines. Nine more people's clothed torsos.
TRAIN_TORSO_BOXES: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    HUMAN_SAMPLES: (
        (172, 68, 292, 156), (385, 58, 522, 122), (705, 58, 785, 125),  # the top row
        (245, 585, 385, 800), (395, 590, 520, 810), (505, 600, 635, 820),  # the group photo
        (645, 605, 775, 830), (925, 650, 1095, 890), (135, 560, 240, 840),
    ),
}
TRAIN_SCENE_SOURCES = tuple(f"skimage:{name}" for name in (
    "brick", "gravel", "coins", "moon", "page", "text", "cell", "logo", "colorwheel", "retina",
    "motorcycle_right", "horse"))
# Photographs without people (KDE wallpapers from Debian's plasma-workspace-wallpapers,
# datasets/sample_photos.py records each one's licence and author): more scenes for `none/`.
TRAIN_MORE_SCENE_SOURCES = tuple(f"sample:kde_{name}" for name in (
    "bythewater", "coldripple", "colorfulcups", "darkesthour", "eveningglow", "fallenleaf", "grey",
    "kite", "onestandsout", "path", "volna", "summer_1am"))


class SourceUnavailable(RuntimeError):
    """A source photo cannot be loaded here (its package or npm is missing)."""


def load_source(source: str, cache_dir: Path) -> np.ndarray:
    """The source photo as RGB uint8."""
    kind, _, rest = source.partition(":")
    if kind == "skimage":
        from skimage import data

        if rest.startswith("motorcycle_"):  # one of a stereo pair
            image = data.stereo_motorcycle()[0 if rest.endswith("left") else 1]
        else:
            image = getattr(data, rest)()
    elif kind == "matplotlib":
        from matplotlib import cbook

        with cbook.get_sample_data(f"{rest}.jpg") as handle:
            image = np.asarray(Image.open(handle).convert("RGB"))
    elif kind == "npm":
        spec, _, member = rest.rpartition(":")
        image = np.asarray(Image.open(npm_member(spec, member, cache_dir)).convert("RGB"))
    elif kind == "sample":  # a photo of datasets/sample_photos.py (its own cache and licence)
        from datasets import sample_photos

        image = sample_photos.by_name(rest).load()
    else:
        raise SourceUnavailable(f"unknown source kind in {source}")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = (255 * (image - image.min()) / max(float(np.ptp(image)), 1e-6)).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])


def npm_member(spec: str, member: str, cache_dir: Path) -> Path:
    """One file of an npm package (`name@version`), fetched once with `npm pack` into the cache."""
    target = cache_dir / spec.replace("/", "_").replace("@", "") / member
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable(f"npm is needed to fetch {spec} (apt-get install npm)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run([npm, "pack", spec, "--pack-destination", str(cache_dir)],
                            check=True, capture_output=True, text=True).stdout.strip().splitlines()
    with tarfile.open(cache_dir / packed[-1]) as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise SourceUnavailable(f"{spec} has no file {member}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(extracted.read())
    return target


def deb_member(spec: str, member: str, cache_dir: Path) -> Path:
    """One file of a Debian package (`name=version`), fetched once with `apt-get download`
    into the cache and read from its data archive (nothing is installed)."""
    target = cache_dir / spec.replace("=", "_").replace(":", "_") / member.lstrip("./")
    if target.is_file():
        return target
    apt_get, dpkg_deb = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt_get is None or dpkg_deb is None:
        raise SourceUnavailable(f"apt-get and dpkg-deb are needed to fetch {spec}")
    folder = cache_dir / "deb"
    folder.mkdir(parents=True, exist_ok=True)
    name = spec.partition("=")[0]
    packages = sorted(folder.glob(f"{name}_*.deb"))
    if not packages:
        fetched = subprocess.run([apt_get, "download", spec], cwd=folder, capture_output=True,
                                 text=True)
        packages = sorted(folder.glob(f"{name}_*.deb"))
        if fetched.returncode or not packages:
            raise SourceUnavailable(f"apt-get download {spec} failed (run apt-get update first?)")
    data = subprocess.run([dpkg_deb, "--fsys-tarfile", str(packages[-1])], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        try:
            extracted = archive.extractfile(member)
        except KeyError:
            extracted = None
        if extracted is None:
            raise SourceUnavailable(f"{spec} has no file {member}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(extracted.read())
    return target


# ---------------------------------------------------------------- crops from a face

def crops_for_face(face, jitter: float = 0.0,
                   rng: np.random.Generator | None = None) -> dict[str, tuple[float, float, float, float]]:
    """Crop boxes (x1, y1, x2, y2) around one face (models.faces.Face): the head, close-ups
    of the eyes, the nose and the lips, and the torso below. `jitter` moves and resizes each
    box by up to that share of its size (for training)."""
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    eyes = face.eye_distance
    centre_x = face.x + face.w / 2
    mouth_y = (mly + mry) / 2
    boxes = {
        f"face_{face.pose}": (face.x - 0.45 * face.w, face.y - 0.35 * face.h,
                              face.x + 1.45 * face.w, face.y + 1.45 * face.h),
        "closeup_eyes": (min(lx, rx) - 0.65 * eyes, min(ly, ry) - 0.45 * eyes,
                         max(lx, rx) + 0.65 * eyes, max(ly, ry) + 0.4 * eyes),
        "closeup_nose": (nx - 0.55 * eyes, (ly + ry) / 2 + 0.05 * eyes, nx + 0.55 * eyes, ny + 0.3 * eyes),
        "closeup_lips": (mlx - 0.35 * eyes, mouth_y - 0.4 * eyes, mrx + 0.35 * eyes, mouth_y + 0.4 * eyes),
        "torso": (centre_x - 1.5 * face.w, face.y + 1.25 * face.h,
                  centre_x + 1.5 * face.w, face.y + 3.85 * face.h),
    }
    if jitter and rng is not None:
        boxes = {name: _jittered(box, jitter, rng) for name, box in boxes.items()}
    return boxes


def _jittered(box: tuple[float, float, float, float], amount: float,
              rng: np.random.Generator) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    grow = 1 + rng.uniform(-amount, amount)
    cx = (x1 + x2) / 2 + rng.uniform(-amount, amount) * w / 2
    cy = (y1 + y2) / 2 + rng.uniform(-amount, amount) * h / 2
    return cx - w * grow / 2, cy - h * grow / 2, cx + w * grow / 2, cy + h * grow / 2


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> list[int] | None:
    """(x, y, w, h) inside the image, or None when too little of it is."""
    x1, y1, x2, y2 = box
    cx1, cy1 = max(0, round(x1)), max(0, round(y1))
    cx2, cy2 = min(width, round(x2)), min(height, round(y2))
    if cx2 - cx1 < 0.8 * (x2 - x1) or cy2 - cy1 < 0.8 * (y2 - y1):
        return None
    return [cx1, cy1, cx2 - cx1, cy2 - cy1]


# ---------------------------------------------------------------- the benchmark set

@dataclass(frozen=True)
class BenchPhoto:
    id: str
    source: str
    crop: tuple[int, int, int, int] | None  # x, y, w, h in the source photo; None: all of it
    category: str
    match: str | None  # a procedure whose regions the photo shows (None for scenes)
    mismatch: str  # a procedure whose regions it does not show

    @property
    def regions(self) -> tuple[str, ...]:
        return CATEGORY_REGIONS[self.category]


def read_bench_manifest(path: Path = BENCH_MANIFEST) -> list[BenchPhoto]:
    entries = json.loads(path.read_text())["photos"]
    return [BenchPhoto(id=e["id"], source=e["source"],
                       crop=tuple(e["crop"]) if e.get("crop") else None, category=e["category"],
                       match=e.get("match"), mismatch=e["mismatch"]) for e in entries]


def bench_images(photos: Iterable[BenchPhoto], cache_dir: Path,
                 min_side: int = 400) -> Iterator[tuple[BenchPhoto, np.ndarray]]:
    """Each benchmark photo's pixels; small crops are enlarged (bicubic) to `min_side`, as a
    close-up photo would be taken, so that the intake's size rules take them."""
    sources: dict[str, np.ndarray] = {}
    for photo in photos:
        if photo.source not in sources:
            sources[photo.source] = load_source(photo.source, cache_dir)
        image = sources[photo.source]
        if photo.crop:
            x, y, w, h = photo.crop
            image = image[y:y + h, x:x + w]
        yield photo, _enlarged(np.ascontiguousarray(image), min_side)


def _enlarged(image: np.ndarray, min_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = min_side / min(height, width)
    if factor <= 1:
        return image
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


# Declarations for the benchmark: each photo once with a procedure whose regions it shows and
# once with one whose regions it does not (rotating through these, so that a mismatch is
# sometimes another feature of the same face).
_MATCHING = {"face_frontal": "rhinoplasty", "face_oblique": "facelift", "face_profile": "rhinoplasty",
             "closeup_eyes": "blepharoplasty_upper", "closeup_nose": "rhinoplasty",
             "closeup_lips": "lip_augmentation", "torso": "breast_augmentation"}
_MISMATCHING = {
    "face_frontal": ("breast_augmentation", "abdominoplasty", "liposuction_thighs"),
    "face_oblique": ("breast_reduction", "liposuction_abdomen", "arm_lift"),
    "face_profile": ("abdominoplasty", "breast_lift"),
    "closeup_eyes": ("lip_augmentation", "breast_augmentation", "otoplasty"),
    "closeup_nose": ("blepharoplasty_lower", "abdominoplasty", "lip_augmentation"),
    "closeup_lips": ("blepharoplasty_upper", "breast_reduction", "otoplasty"),
    "torso": ("rhinoplasty", "blepharoplasty_upper", "facelift", "otoplasty"),
    "non_human": ("rhinoplasty", "breast_augmentation", "abdominoplasty", "blepharoplasty_upper"),
}
MIN_CROP_SIDE = 50  # source pixels: smaller close-ups are too blurred to judge by eye


def propose_bench_manifest(cache_dir: Path, detector=None) -> dict[str, object]:
    """The benchmark list, proposed from face landmarks (to be reviewed by eye, then kept)."""
    from models.faces import FaceDetector, FaceDetectorConfig

    detector = detector or FaceDetector(FaceDetectorConfig(detect_side=1024, min_face_fraction=0.03,
                                                           zoom_out_canvases=()))
    photos: list[dict[str, object]] = []
    turns: dict[str, int] = {}

    def add(photo_id: str, source: str, crop: list[int] | None, category: str) -> None:
        turn = turns.get(category, 0)
        turns[category] = turn + 1
        options = _MISMATCHING[category]
        entry = {"id": photo_id, "source": source, "crop": crop, "category": category,
                 "match": _MATCHING.get(category), "mismatch": options[turn % len(options)]}
        if category == "non_human":
            entry["match"] = None
            photos.append({**entry, "id": photo_id + "_b",
                           "mismatch": options[(turn + 1) % len(options)]})
        photos.append(entry)

    for source in BENCH_SOURCES:
        image = load_source(source, cache_dir)
        height, width = image.shape[:2]
        faces = sorted((f for f in detector.detect(image) if f.score > 0.95), key=lambda f: f.x)
        short = source.rsplit("/", 1)[-1].split(":")[-1].removesuffix(".jpg")
        if not faces:
            add(short, source, None, "non_human")
            continue
        for index, face in enumerate(faces):
            for category, box in crops_for_face(face).items():
                crop = clip_box(box, width, height)
                if crop is None or min(crop[2], crop[3]) < MIN_CROP_SIDE:
                    continue
                add(f"{short}_p{index}_{category}", source, crop, category)
    return {"about": "Crops of real photos for bench/procedure_match.py; see "
                     "datasets/region_photos.py for sources and licences.",
            "photos": photos}


def build_training_folder(out_dir: Path, cache_dir: Path, *, seed: int = 0,
                          crops_per_face: int = 12, scene_crops: int = 24,
                          size: int = 160, torso_sources: bool = True,
                          more_scenes: bool = True) -> dict[str, int]:
    """An ImageFolder tree of jittered crops from the training sources, one folder per label:
    `eyes/`, `nose/`, `lips/`, a face (`face+forehead+...`), a torso (`breast+chest+...`) and
    `none/` (scenes, and background patches of the people photos away from anyone).
    `torso_sources=False` and `more_scenes=False` leave out `TRAIN_TORSO_BOXES` and
    `TRAIN_MORE_SCENE_SOURCES` (what made version 1.0.0)."""
    from models.faces import FaceDetector, FaceDetectorConfig

    rng = np.random.default_rng(seed)
    detector = FaceDetector(FaceDetectorConfig(detect_side=1024, min_face_fraction=0.03,
                                               zoom_out_canvases=()))
    counts: dict[str, int] = {}
    groups: dict[str, str] = {}

    def save(image: np.ndarray, category: str, group: str) -> None:
        folder = out_dir / folder_name(CATEGORY_REGIONS[category])
        folder.mkdir(parents=True, exist_ok=True)
        index = counts.get(folder.name, 0)
        counts[folder.name] = index + 1
        tile = Image.fromarray(image)
        tile.thumbnail((size * 2, size * 2))
        tile.save(folder / f"{index:05d}.jpg", quality=92)
        groups[f"{folder.name}/{index:05d}.jpg"] = group

    for source in TRAIN_PEOPLE_SOURCES:
        image = load_source(source, cache_dir)
        height, width = image.shape[:2]
        faces = [f for f in detector.detect(image) if f.score > 0.95]
        for number, face in enumerate(faces):
            for _ in range(crops_per_face):
                for category, box in crops_for_face(face, 0.25, rng).items():
                    crop = clip_box(box, width, height)
                    if crop is not None and min(crop[2], crop[3]) >= 24:
                        x, y, w, h = crop
                        save(image[y:y + h, x:x + w], "face_frontal" if category.startswith("face")
                             else category, f"person:{short_name(source)}#{number}")
        for _ in range(scene_crops):
            patch = _background_patch(image, faces, rng)
            if patch is not None:
                save(patch, "non_human", f"background:{short_name(source)}")
    for source, torsos in TRAIN_TORSO_BOXES.items() if torso_sources else ():
        image = load_source(source, cache_dir)
        height, width = image.shape[:2]
        for number, box in enumerate(torsos):
            for _ in range(crops_per_face):
                crop = clip_box(_jittered(box, 0.15, rng), width, height)
                if crop is not None:
                    x, y, w, h = crop
                    save(image[y:y + h, x:x + w], "torso", f"torso:{short_name(source)}#{number}")
    for source in TRAIN_SCENE_SOURCES + (TRAIN_MORE_SCENE_SOURCES if more_scenes else ()):
        image = load_source(source, cache_dir)
        for _ in range(max(1, scene_crops // 4)):
            save(_random_patch(image, rng), "non_human", f"scene:{short_name(source)}")
    write_groups(out_dir, groups)
    return counts


GROUPS_FILE = "groups.json"


def short_name(source: str) -> str:
    """`sample1`, `faces`, `samples`, `kde_path`, `brick`: a source's name without its package."""
    return source.rsplit("/", 1)[-1].split(":")[-1].removesuffix(".jpg")


def write_groups(out_dir: Path, groups: dict[str, str]) -> None:
    """`groups.json` beside the label folders: which person (or scene) each crop was cut from,
    so that training can hold out whole people (`person:`, `torso:`) and whole scenes for
    validation. The label folders alone (what the trainer reads as data) are unchanged by it."""
    (out_dir / GROUPS_FILE).write_text(json.dumps(
        {"about": "crop (folder/file) -> the person or scene it was cut from "
                  "(datasets/region_photos.py)", "groups": groups}, indent=0, sort_keys=True) + "\n")


def folder_name(regions: Iterable[str]) -> str:
    """The ImageFolder folder for a set of regions: `nose`, `breast+chest`, `none`."""
    regions = list(regions)
    return "+".join(regions) if regions else "none"


def _random_patch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    share = rng.uniform(0.3, 1.0)
    h, w = max(16, int(height * share)), max(16, int(width * rng.uniform(0.3, 1.0)))
    y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    return image[y:y + h, x:x + w]


def _background_patch(image: np.ndarray, faces, rng: np.random.Generator,
                      tries: int = 20) -> np.ndarray | None:
    """A patch above every face (walls, ceilings, windows): no person's region in it."""
    top = min((face.y for face in faces), default=image.shape[0])
    if top < 48:
        return None
    band = image[: int(top * 0.9)]
    for _ in range(tries):
        patch = _random_patch(band, rng)
        if min(patch.shape[:2]) >= 32:
            return patch
    return None


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    propose = commands.add_parser("propose-bench", help="print the proposed benchmark list (JSON)")
    propose.add_argument("--cache", type=Path, default=Path("data/sources"))
    folder = commands.add_parser("training-folder", help="write the training ImageFolder tree")
    folder.add_argument("out", type=Path)
    folder.add_argument("--cache", type=Path, default=Path("data/sources"))
    folder.add_argument("--seed", type=int, default=0)
    folder.add_argument("--crops-per-face", type=int, default=12)
    folder.add_argument("--no-torso-sources", action="store_true",
                        help="leave out TRAIN_TORSO_BOXES (as version 1.0.0 was trained)")
    folder.add_argument("--no-more-scenes", action="store_true",
                        help="leave out TRAIN_MORE_SCENE_SOURCES (as 1.0.0 and 1.1.0 were)")
    args = parser.parse_args()
    if args.command == "propose-bench":
        print(json.dumps(propose_bench_manifest(args.cache), indent=1))
    else:
        counts = build_training_folder(args.out, args.cache, seed=args.seed,
                                       crops_per_face=args.crops_per_face,
                                       torso_sources=not args.no_torso_sources,
                                       more_scenes=not args.no_more_scenes)
        for name, count in sorted(counts.items()):
            print(f"{count:6d}  {name}")


if __name__ == "__main__":
    main()

"""The watermark builder, the learned detector (the shipped ONNX/TorchScript weights, really
run) and the `watermark` check with the real OCR, on real sample photographs."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from datasets import sample_photos
from datasets.fonts import font
from datasets.watermarks import (
    DERIVED_KINDS,
    MARK_KINDS,
    NEGATIVE_KINDS,
    SCENE_TEXT_FORMS,
    WatermarkSynth,
    background,
    band_of_contrast,
    derived_background,
    draw_mark,
    draw_negative,
    luminance_change,
    share,
)
from datasets.region_photos import SourceUnavailable
from models.checks.watermark import WatermarkCheck, cut_practice_mark, practice_mark_kind
from models.registry import ModelRegistry
from models.watermark import DetectorOptions, MarkMap, WatermarkDetector
from moderation.checks.base import CheckContext
from moderation.image_formats import ImageFormat
from moderation.intake import PreparedPhoto
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy

TEST_PHOTOS = sample_photos.split("test")
KNOWN_GAP = pytest.mark.xfail(
    strict=True, reason="the watermark models do not tell a text-free logo on an unseen photo "
    "from the clean photo yet (bench recall 0.25 for 2.9, 2.2 and 2.1, see their cards and the "
    "README): on the check's scale 2.9 alone scores this logo 0.37 and the clean portrait 0.35, "
    "both below review; the shipped join with 1.10 (also_version, combine mean, also_weight "
    "0.67) scores them 0.67 and 0.66, both in review (1.10 alone: 0.82 and 0.81, the flag's "
    "white stars on the clean portrait). "
    "Remove this mark when a retrained model passes.")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> CheckContext:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    return CheckContext(settings=settings, taxonomy=default_taxonomy())


@pytest.fixture(scope="module")
def check(context: CheckContext) -> WatermarkCheck:
    return WatermarkCheck(context.settings.check("watermark"), context)


def photo_of(image: np.ndarray | Image.Image, original_width: int | None = None) -> PreparedPhoto:
    array = np.asarray(image)
    height, width = array.shape[:2]
    return PreparedPhoto(id="set1/after", part="a1", view=None, data=b"", sha256="0" * 64,
                         format=ImageFormat.JPEG, width=original_width or width,
                         height=round((original_width or width) * height / width), image=array)


def portrait(size: tuple[int, int] = (1200, 1400)) -> Image.Image:
    return Image.fromarray(sample_photos.load("grace_hopper")).resize(size)


# ---------------------------------------------------------------- the builder

def test_the_builder_is_seeded() -> None:
    first = WatermarkSynth(TEST_PHOTOS, seed=3).sample(5, marked=True)
    again = WatermarkSynth(TEST_PHOTOS, seed=3).sample(5, marked=True)
    other = WatermarkSynth(TEST_PHOTOS, seed=4).sample(5, marked=True)
    assert np.array_equal(first.image, again.image) and first.describe() == again.describe()
    assert not np.array_equal(first.image, other.image)


def small_training_set(**options: float) -> WatermarkSynth:
    """Four training scenes at 300-360 px, seed 3: a set and its variants sample alike."""
    return WatermarkSynth(sample_photos.split("train")[:4], seed=3, long_side=(300, 360),
                          **options)


def test_derived_scenes_replace_a_share_of_scenes_and_leave_the_rest_as_they_were() -> None:
    plain, derived = small_training_set(), small_training_set(derived_rate=0.5)
    changed = []
    for index in range(12):
        before, after = plain.sample(index), derived.sample(index)
        assert after.image.shape == before.image.shape
        assert [m.kind for m in after.marks] == [m.kind for m in before.marks]
        assert np.array_equal(after.image, derived.sample(index).image)  # seeded
        changed.append(not np.array_equal(after.image, before.image))
    assert 2 <= sum(changed) <= 10  # about half, and the others drawn as they always were


@pytest.mark.parametrize("kind", DERIVED_KINDS)
def test_every_derived_scene_kind_fills_the_frame_with_a_new_scene(kind: str) -> None:
    train = sample_photos.split("train")[:4]
    image = background(sample_photos.load(train[0].name), np.random.default_rng(0), 320)
    for seed in range(40):  # the first seed whose draw is `kind`
        rng = np.random.default_rng(seed)
        if str(rng.choice(DERIVED_KINDS)) == kind:
            break
    scene = derived_background(image, train, np.random.default_rng(seed))
    assert scene.shape == image.shape and scene.dtype == np.uint8
    assert np.abs(scene.astype(int) - image.astype(int)).mean() > 5
    assert scene.std() > 1  # not one flat colour


def test_a_derived_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="derived_rate"):
        WatermarkSynth(TEST_PHOTOS, seed=3, derived_rate=1.5)


def test_scene_text_is_added_to_a_share_of_samples_and_changes_nothing_else() -> None:
    plain, with_text = small_training_set(), small_training_set(scene_text_rate=0.5)
    added = []
    for index in range(16):
        before, after = plain.sample(index), with_text.sample(index)
        assert after.describe()["marks"] == before.describe()["marks"]  # labels and masks kept
        assert np.array_equal(after.mask, before.mask)
        assert np.array_equal(after.image, with_text.sample(index).image)  # seeded
        has_text = "scene_text" in after.negatives
        assert after.negatives == before.negatives + ["scene_text"] * has_text
        assert has_text == (not np.array_equal(after.image, before.image))
        added.append(has_text)
    assert 3 <= sum(added) <= 13
    with pytest.raises(ValueError, match="scene_text_rate"):
        WatermarkSynth(TEST_PHOTOS, seed=3, scene_text_rate=-0.1)


def test_mark_weights_shift_the_kinds_drawn_and_no_weights_draw_as_before() -> None:
    even, weighted = small_training_set(), small_training_set(mark_weights={"logo": 6.0})
    unweighted = WatermarkSynth(sample_photos.split("train")[:4], seed=3, long_side=(300, 360),
                                mark_weights={})
    kinds = {name: [m.kind for i in range(60) for m in synth.sample(i, marked=True).marks]
             for name, synth in (("even", even), ("weighted", weighted))}
    assert kinds["weighted"].count("logo") > 2 * kinds["even"].count("logo")
    assert np.array_equal(unweighted.sample(5).image, even.sample(5).image)
    with pytest.raises(ValueError, match="unknown mark kinds blob"):
        small_training_set(mark_weights={"blob": 2.0})
    with pytest.raises(ValueError, match="at least one mark kind"):
        small_training_set(mark_weights=dict.fromkeys(MARK_KINDS, 0.0))


def test_the_rate_options_take_a_share_and_name_what_is_wrong() -> None:
    assert share("0") == 0.0 and share("0.3") == 0.3 and share("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"a share is 0\.\.1, not 1\.5"):
        share("1.5")
    with pytest.raises(argparse.ArgumentTypeError, match="a share is a number, 0..1, not 'a lot'"):
        share("a lot")


@pytest.mark.parametrize("form", SCENE_TEXT_FORMS)
def test_every_scene_text_form_draws_opaque_lettering_into_the_scene(form: str) -> None:
    from datasets.watermarks import draw_scene_text

    scene = Image.fromarray(np.full((360, 480, 3), 128, np.uint8))
    for seed in range(60):  # the first seed whose draw is `form`
        if str(np.random.default_rng(seed).choice(SCENE_TEXT_FORMS)) == form:
            break
    drawn = np.asarray(draw_scene_text(scene, np.random.default_rng(seed))).astype(int)
    changed = np.abs(drawn - 128).max(axis=2) > 40
    assert 0.002 < changed.mean() < 0.6  # a plate or patch, not the whole frame
    ys, xs = np.nonzero(changed)
    patch = drawn[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    assert patch.std() > 20  # lettering on it, not a flat plate


def test_marked_samples_carry_their_marks_and_masks() -> None:
    synth = WatermarkSynth(TEST_PHOTOS, seed=11, negative_rate=0.0)
    for index in range(6):
        marked = synth.sample(index, marked=True)
        height, width = marked.image.shape[:2]
        assert marked.label == 1 and marked.mask.max() == 1.0
        for mark in marked.marks:
            x, y, w, h = mark.box
            assert 0 <= x < width and 0 <= y < height and w > 0 and h > 0
            assert 0.15 <= mark.opacity <= 0.95
            assert mark.kind in MARK_KINDS and (mark.text is None) == ("logo" == mark.kind
                                                                       or mark.kind == "tiled_logo")
        clean = synth.sample(100 + index, marked=False)
        assert clean.label == 0 and clean.mask.max() == 0.0 and clean.marks == []


@pytest.mark.parametrize("kind", MARK_KINDS)
def test_every_mark_kind_draws_something_faint_or_not(kind: str) -> None:
    rng = np.random.default_rng(1)
    canvas = Image.fromarray(background(sample_photos.load("coffee"), rng, 448))
    marked, mark, alpha = draw_mark(canvas, kind, rng)
    changed = np.abs(np.asarray(marked).astype(int) - np.asarray(canvas).astype(int)).max(axis=2)
    assert alpha.sum() > 20 and changed[alpha > 0].mean() > 0
    # Outside the mark's mask only its faint anti-aliased rim (alpha < 0.1) may move a little.
    assert changed[alpha == 0].max() <= 26


def test_a_mark_records_how_much_it_changes_the_photo() -> None:
    # The same mark (seed 8 draws white text at 35 % opacity): plain on a black photo, nothing
    # on a white one, whatever its opacity says.
    on_black, on_white = [draw_mark(Image.new("RGB", (448, 336), shade), "url",
                                    np.random.default_rng(8))[1] for shade in ("black", "white")]
    assert on_black.opacity == on_white.opacity
    assert on_black.contrast > 30 and on_white.contrast < 1
    assert on_white.contrast_band == "0-8" and band_of_contrast(on_black.contrast) != "0-8"


def test_the_luminance_change_counts_only_the_mark_s_pixels() -> None:
    before = Image.new("RGB", (10, 10), "black")
    after = np.zeros((10, 10, 3), np.uint8)
    after[:, :5] = 40  # the left half changed by 40 grey levels
    alpha = np.zeros((10, 10), np.float32)
    alpha[:, :2] = 1.0  # the mark covers two columns of it
    assert luminance_change(before, Image.fromarray(after), alpha) == pytest.approx(40)
    assert luminance_change(before, before, np.zeros((10, 10), np.float32)) == 0.0
    assert [band_of_contrast(v) for v in (0, 7.9, 8, 63.9, 64, 255)] == [
        "0-8", "0-8", "8-16", "32-64", "64-255", "64-255"]


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_hard_negatives_change_the_scene_but_are_no_marks(kind: str) -> None:
    rng = np.random.default_rng(2)
    canvas = Image.fromarray(background(sample_photos.load("coffee"), rng, 448))
    drawn = draw_negative(canvas, kind, rng)
    assert np.abs(np.asarray(drawn).astype(int) - np.asarray(canvas).astype(int)).sum() > 1000


def test_training_validation_and_test_photos_never_share_a_scene() -> None:
    train, val, test = ({photo.group for photo in sample_photos.split(part)}
                        for part in ("train", "val", "test"))
    assert train and val and test and not (train & val or train & test or val & test)
    assert test == {"grace_hopper", "coffee", "china", "gravel"}  # the benchmark's, unchanged
    assert all(photo.license and photo.origin for photo in sample_photos.PHOTOS)
    with pytest.raises(ValueError, match="split is one of"):
        sample_photos.split("everything")


def test_a_later_photo_set_adds_training_scenes_and_keeps_the_earlier_samples() -> None:
    first = sample_photos.split("train")
    latest = sample_photos.split("train", sample_photos.LATEST_PHOTO_SET)
    assert sample_photos.LATEST_PHOTO_SET >= 2 and set(first) < set(latest)
    assert {p.photo_set for p in first} == {1}
    for part in ("val", "test"):  # thresholds and benchmark stay on the same scenes
        assert sample_photos.split(part, sample_photos.LATEST_PHOTO_SET) == \
            sample_photos.split(part)
    groups = {p.group for p in latest}
    assert not groups & {p.group for p in sample_photos.split("test")}
    with pytest.raises(ValueError, match="photo set is 1 to"):
        sample_photos.split("train", sample_photos.LATEST_PHOTO_SET + 1)


def test_photo_copies_for_a_machine_without_registries(tmp_path: Path) -> None:
    """What a lent GPU machine reads as data/sources: the registry-served photos as `load()`
    gives them, re-encoded; the wheels' photos are left to the wheels there."""
    served = next(p for p in sample_photos.split("train") if p.registry != "pypi")
    in_wheel = next(p for p in sample_photos.split("train") if p.registry == "pypi")
    assert sample_photos.write_copies([served, in_wheel], tmp_path) > 0
    copies = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert copies == [tmp_path / served.path.relative_to(sample_photos.SOURCE_CACHE)]
    with Image.open(copies[0]) as copy:
        assert copy.format == "JPEG"
        pixels = np.asarray(copy.convert("RGB"), np.float32)
    original = served.load().astype(np.float32)
    assert pixels.shape == original.shape and np.abs(pixels - original).mean() < 3
    with pytest.raises(SystemExit) as refused:
        sample_photos.main([str(tmp_path / "x"), "--photo-set", "0"])
    assert refused.value.code == 2 and not (tmp_path / "x").exists()


def fake_deb(folder: Path, name: str, files: dict[str, bytes]) -> None:
    """A real Debian package (built by dpkg-deb) holding `files`, as apt-get download leaves it."""
    root = folder / "build"
    for member, data in files.items():
        (root / member).parent.mkdir(parents=True, exist_ok=True)
        (root / member).write_bytes(data)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n")
    (folder / "deb").mkdir(parents=True, exist_ok=True)
    package = folder / "deb" / f"{name}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(package)], check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")
def test_a_debian_package_photo_is_read_from_its_archive_and_shrunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = io.BytesIO()
    Image.new("RGB", (2400, 1200), (30, 140, 60)).save(big, "JPEG")
    fake_deb(tmp_path, "photo-pack", {"usr/share/photos/big.jpg": big.getvalue()})
    monkeypatch.setattr(sample_photos, "SOURCE_CACHE", tmp_path)
    photo = sample_photos.SamplePhoto("big", "photo-pack=1.0-1", "./usr/share/photos/big.jpg",
                                      "CC0", "a test photo", "big", "debian")
    image = photo.load()
    assert image.shape == (sample_photos.MAX_LONG_SIDE // 2, sample_photos.MAX_LONG_SIDE, 3)
    assert photo.origin == "Debian package photo-pack=1.0-1" and photo.path.is_file()
    missing = sample_photos.SamplePhoto("none", "photo-pack=1.0-1", "./usr/share/photos/no.jpg",
                                        "CC0", "", "none", "debian")
    with pytest.raises(SourceUnavailable, match="has no file"):
        missing.load()


# ---------------------------------------------------------------- the learned detector

def test_mark_map_boxes_are_connected_hot_cells_in_photo_pixels() -> None:
    probabilities = np.zeros((6, 8), np.float32)
    probabilities[0, 6:8] = [0.9, 0.7]  # top-right corner
    probabilities[4, 1] = 0.95
    probabilities[2, 3] = 0.3  # below the threshold
    boxes = MarkMap(probabilities, cell=40.0).boxes(threshold=0.5)
    assert [(b.x, b.y, b.w, b.h, b.score) for b in boxes] == [
        (40, 160, 40, 40, 0.95), (240, 0, 80, 40, 0.9)]


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> WatermarkDetector:
    """Version 1.2, the last one on the photo's pixels (2.x score the OCR's features:
    tests/test_watermark_head.py)."""
    registry = ModelRegistry.default(tmp_path_factory.mktemp("data"))
    return WatermarkDetector.from_registry(registry, DetectorOptions(version="1.2"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    registry = ModelRegistry.default(tmp_path_factory.mktemp("data"))
    return WatermarkDetector.from_registry(registry)


@pytest.mark.parametrize("which", ["detector", "shipped"])
def test_the_shipped_model_is_registered_with_a_card_and_threshold(
        which: str, request: pytest.FixtureRequest) -> None:
    detector = request.getfixturevalue(which)
    version = detector.version
    assert version.name == "watermark" and 0 < detector.threshold < 1
    card = (version.directory / "card.md").read_text()
    for needed in ("## Data", "## Command", "## Metrics", "## Licenses", "seed", "ONNX"):
        assert needed in card
    assert version.command.startswith("python -m training.train_watermark")


def test_onnx_and_torchscript_backends_agree(detector) -> None:
    image = np.asarray(portrait((900, 1200)))
    scripted = WatermarkDetector(detector.version, DetectorOptions(backend="torchscript"))
    onnx_map, script_map = detector.predict(image), scripted.predict(image)
    assert onnx_map.probabilities.shape == script_map.probabilities.shape == (28, 21)
    assert np.abs(onnx_map.probabilities - script_map.probabilities).max() < 1e-3


def test_a_missing_model_version_is_a_clear_error(tmp_path: Path) -> None:
    registry = ModelRegistry.default(tmp_path)
    with pytest.raises(LookupError, match="watermark version 9.9"):
        WatermarkDetector.from_registry(registry, DetectorOptions(version="9.9"))


# ---------------------------------------------------------------- the check

@pytest.mark.parametrize(("text", "kind"), [
    ("www.drpatelaesthetics.com", "url"), ("@drkimplastics", "url"),
    ("© 2024 Larsen", "symbol"), ("Smith Plastic Surgery", "practice"),
    ("Dr. Anna Weiss, MD", "practice"), ("Radiance MedSpa", "practice"),
    ("12/03/2024", None), ("Patient: Maria Lopez", None), ("1 2 3 4", None),
    ("ww.larsenaesthetics", "url"),  # a URL the photo's edge cut on both sides
])
def test_practice_mark_text(text: str, kind: str | None) -> None:
    assert practice_mark_kind(text) == kind


@pytest.mark.parametrize(("text", "cut"), [
    ("FACIAL PLASTI", True), ("Rossi Cosmet", True), ("Dsmetic Surge", True),  # read by the OCR
    ("OKAFOR FAOXKPLASTICS", True), ("NOVA FAC", True),  # from marks on the bench's photos
    ("Elevate Alesthetics", True), ("Aesthetiverly Hills", True), ("Reconstr", True),
    ("TOMASZ HERRERA", False), ("Siobhan A. Keane", False), ("DOB 03JUL1941", False),
    ("Beau Pham", False), ("", False),
])
def test_a_practice_mark_the_ocr_cut_is_still_the_practice_s(text: str, cut: bool) -> None:
    """phi_image leaves these to the watermark check: a cut mark is no patient's name."""
    assert cut_practice_mark(text) is cut


def test_a_corner_url_mark_fails_with_a_box_and_its_text(check: WatermarkCheck) -> None:
    image = portrait().convert("RGBA")
    layer = Image.new("RGBA", image.size)
    ImageDraw.Draw(layer).text((560, 1320), "www.larsenaesthetics.com",
                               font=font("DejaVuSans-Bold.ttf", 34), fill=(255, 255, 255, 150))
    photo = photo_of(Image.alpha_composite(image, layer).convert("RGB"), original_width=2400)
    observation = check.observe(photo)
    assert observation.score >= check.settings.fail_at
    assert "web address" in observation.reason and "larsen" not in observation.reason
    text_boxes = [box for box in observation.evidence.boxes if box.label == "text:url"]
    assert len(text_boxes) == 1 and "larsen" in text_boxes[0].text.lower()
    box = text_boxes[0]  # in the original's pixels: twice the working image's
    assert abs(box.x - 1120) < 60 and abs(box.y - 2640) < 60 and box.w > 700


@KNOWN_GAP
def test_a_text_free_logo_is_found_by_the_model(check: WatermarkCheck) -> None:
    image = portrait().convert("RGBA")
    layer = Image.new("RGBA", image.size)
    draw = ImageDraw.Draw(layer)
    draw.ellipse([880, 1080, 1140, 1340], outline=(255, 255, 255, 200), width=16)
    draw.polygon([(1010, 1120), (1100, 1290), (920, 1290)], fill=(255, 255, 255, 200))
    observation = check.observe(photo_of(Image.alpha_composite(image, layer).convert("RGB")))
    clean = check.observe(photo_of(portrait()))
    assert observation.evidence.values["model_score"] >= check.settings.pass_below
    assert clean.evidence.values["model_score"] < check.settings.pass_below
    marks = [box for box in observation.evidence.boxes if box.label == "mark"]
    assert marks and any(box.x + box.w > 880 and box.y + box.h > 1080 for box in marks)


def test_a_ruler_is_not_watermark_text(check: WatermarkCheck) -> None:
    rng = np.random.default_rng(5)
    with_ruler = draw_negative(portrait(), "ruler", rng)
    observation = check.observe(photo_of(with_ruler))
    assert observation.evidence.values["text_score"] < check.settings.pass_below


def sign_in_a_corner() -> PreparedPhoto:
    """Text of the scene: a room sign, legible, in the top-left corner, reading like no mark."""
    image = portrait()
    draw = ImageDraw.Draw(image)
    draw.rectangle([40, 50, 360, 120], fill=(20, 90, 50))
    draw.text((56, 62), "WAITING ROOM", font=font("DejaVuSans-Bold.ttf", 36),
              fill=(250, 250, 250))
    return photo_of(image)


def test_text_of_the_scene_adds_nothing_to_the_score(check: WatermarkCheck) -> None:
    """The shipped text rules give text that reads like no mark nothing (`placed`, `other`):
    the sign is read, but the score is the detectors' alone and no text box is evidence."""
    observation = check.observe(sign_in_a_corner())
    values = observation.evidence.values
    assert values["text_regions"] >= 1
    assert values["text_score"] == 0.0
    assert observation.score == pytest.approx(values["model_score"], abs=1e-4)
    assert not any(box.label.startswith("text:") for box in observation.evidence.boxes)


def test_a_hot_region_over_text_that_scores_nothing_is_still_a_box(check: WatermarkCheck) -> None:
    """Text of the scene shows no text box, so where the detectors are hot over it their own
    box is the evidence (a score with no box would leave staff nothing to look at)."""
    photo = sign_in_a_corner()
    _, maps = check.detector_scores(photo)
    hot = [(box.x, box.y, box.w, box.h) for detector, mark_map in maps
           for box in mark_map.boxes(detector.threshold)]
    assert any(x < 360 and y < 120 for x, y, _, _ in hot)  # the pixel detector takes the sign
    marks = [(box.x, box.y, box.w, box.h) for box in check.observe(photo).evidence.boxes
             if box.label == "mark"]
    assert set(hot[: check.options.max_boxes]) <= set(marks)


def test_text_in_a_corner_scores_what_the_text_rules_say(context: CheckContext) -> None:
    settings = context.settings.check("watermark").model_copy(
        update={"options": {"text": {"placed": 0.45, "other": 0.25}}})
    observation = WatermarkCheck(settings, context).observe(sign_in_a_corner())
    values = observation.evidence.values
    assert values["text_score"] == 0.45  # `placed`: the sign sits in the corner zone
    expected = 1 - (1 - 0.45) * (1 - values["model_score"])
    assert observation.score == pytest.approx(expected, abs=1e-3)


def test_a_clean_portrait_is_not_rejected(check: WatermarkCheck) -> None:
    assert check.observe(photo_of(portrait())).score < check.settings.fail_at


@KNOWN_GAP
def test_a_clean_portrait_passes(check: WatermarkCheck) -> None:
    assert check.observe(photo_of(portrait())).score < check.settings.pass_below


def test_watermark_options_are_validated(context: CheckContext) -> None:
    settings = context.settings.check("watermark").model_copy(
        update={"options": {"detector": {"backend": "tensorflow"}}})
    with pytest.raises(ValidationError, match="backend"):
        WatermarkCheck(settings, context)


def test_the_model_threshold_lands_on_fail_at(check: WatermarkCheck) -> None:
    threshold = check.detector.threshold
    points = [0.0, threshold / 2, threshold, (1 + threshold) / 2, 1.0]
    mapped = [check.calibrated(p) for p in points]
    assert mapped[0] == 0.0 and mapped[-1] == pytest.approx(1.0)
    assert mapped[2] == pytest.approx(check.settings.fail_at)
    assert mapped == sorted(mapped)

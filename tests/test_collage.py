"""The collage check: seam analysis, the seeded builder, and the shipped model through the API."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import collage as collage_data
from datasets.open_photos import by_name, photos
from models.collage import find_seams, panel_boxes
from tests.conftest import post_score, submission_json


def panel(name: str, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(by_name(name).load()).resize((width, height), Image.BICUBIC))


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def side_by_side(gutter: int = 0) -> np.ndarray:
    parts = [panel("grace_hopper", 400, 500)]
    if gutter:
        parts.append(np.full((500, gutter, 3), 255, np.uint8))
    parts.append(panel("coffee", 400, 500))
    return np.concatenate(parts, axis=1)


def test_a_white_gutter_is_a_band_and_abutting_panels_an_edge() -> None:
    with_gutter = find_seams(side_by_side(gutter=12))
    assert [(s.orientation, s.kind) for s in with_gutter] == [("vertical", "band")]
    assert with_gutter[0].position == pytest.approx(406, abs=2)
    abutting = find_seams(side_by_side())
    assert [(s.orientation, s.kind) for s in abutting] == [("vertical", "edge")]
    assert abutting[0].position == pytest.approx(400, abs=2)


def test_one_large_panel_beside_two_small_ones_gives_three_panels() -> None:
    right = np.concatenate([panel("flower", 400, 250), panel("rocket", 400, 250)], axis=0)
    composite = np.concatenate([panel("grace_hopper", 400, 500), right], axis=1)
    boxes = panel_boxes(800, 500, find_seams(composite))
    assert [tuple(round(v / 10) for v in box) for box in boxes] == [
        (0, 0, 40, 50), (40, 0, 40, 25), (40, 25, 40, 25)]


@pytest.mark.parametrize("name", ["grace_hopper", "coffee", "chelsea", "flower", "rocket"])
def test_single_photos_have_no_seams(name: str) -> None:
    assert find_seams(by_name(name).load()) == []


def test_the_builder_is_seeded_and_keeps_the_splits_apart() -> None:
    first = list(collage_data.build("test", 6, seed=3, scale=0.5))
    again = list(collage_data.build("test", 6, seed=3, scale=0.5))
    assert all(np.array_equal(a.image, b.image) and a.label == b.label for a, b in zip(first, again))
    assert {e.label for e in collage_data.build("test", 12, seed=1, scale=0.5)} == {0, 1}
    held_out = {p.name for p in photos("test")}
    assert held_out.isdisjoint(p.name for p in photos("train"))
    for example in first:
        assert set(example.sources) <= held_out


def test_collages_fail_and_a_single_photo_passes_through_the_api(client) -> None:
    collage = side_by_side(gutter=14)
    response = post_score(client, submission_json(),
                          {"b1": jpeg(collage), "a1": jpeg(by_name("grace_hopper").load())})
    assert response.status_code == 201
    body = response.json()
    findings = {f["target"]: f for f in body["findings"] if f["check"] == "collage"}
    before, after = findings["photo:set1/before"], findings["photo:set1/after"]
    assert before["verdict"] == "fail", before
    assert before["reason"].startswith("photo:set1/before looks like a collage")
    line = before["evidence"]["lines"][0]
    assert line["x1"] == line["x2"] == pytest.approx(407, abs=3)  # original pixels
    assert (line["y1"], line["y2"]) == (0, 500)
    panels = [b for b in before["evidence"]["boxes"] if b["label"] == "panel"]
    assert len(panels) == 2
    assert before["model"]["name"] == "collage"
    assert after["verdict"] == "pass"
    assert "collage" in " ".join(body["recommendation"]["gallery"]["reasons"])
    # All three checks of issue 5 answer in /v1/score, with their evidence.
    by_check = {(f["check"], f["target"]): f for f in body["findings"]}
    comparability = by_check[("comparability", "photo:set1/after")]
    assert {"exposure_difference_ev", "colour_shift_delta_ab"} <= set(comparability["evidence"]["values"])
    duplicate = by_check[("duplicate", "photo:set1/after")]
    assert duplicate["evidence"]["values"]["compared_with_index"] is True
    assert {m["name"] for m in body["models"]} >= {"collage", "comparability-rules", "duplicate-rules"}


def test_the_shipped_combiner_discounts_many_parallel_lines() -> None:
    from models.collage import Combiner, Seam
    from models.registry import ModelRegistry

    version = ModelRegistry.default(Path("unused-data-dir")).promoted("collage")
    assert version is not None and "combiner.json" in version.files
    combiner = Combiner(version.path("combiner.json"))
    one = [Seam("vertical", 400, 0, 500, "edge", 0.95)]
    tiles = [Seam("vertical", x, 0, 500, "edge", 0.95) for x in range(100, 800, 100)]
    assert combiner.score(0.6, one, 800, 500) > combiner.score(0.6, tiles, 800, 500)
    assert combiner.score(0.9, [], 800, 500) > combiner.score(0.2, [], 800, 500)


def test_equal_panels_are_halves_or_thirds_not_many_courses() -> None:
    from models.collage import Seam, combiner_features

    def equal(seams: list[Seam]) -> float:
        return combiner_features(0.5, seams, 900, 600)["equal_panels"]

    assert equal([Seam("vertical", 452, 0, 600, "edge", 0.9)]) == 1.0
    assert equal([Seam("vertical", 300, 0, 600, "band", 1.0),
                  Seam("vertical", 598, 0, 600, "band", 1.0)]) == 1.0
    assert equal([Seam("horizontal", 300, 0, 900, "edge", 0.8)]) == 1.0
    assert equal([Seam("vertical", 620, 0, 600, "edge", 0.9)]) == 0.0  # off the middle
    assert equal([Seam("vertical", 450, 0, 280, "edge", 0.9)]) == 0.0  # half-length
    courses = [Seam("horizontal", y, 0, 900, "edge", 0.9) for y in range(60, 600, 60)]
    assert equal(courses) == 0.0


def test_the_collage_photo_splits_are_disjoint() -> None:
    from datasets.open_photos import collage_photos

    names = {split: {p.name for p in collage_photos(split)} for split in ("train", "val", "test")}
    assert names["test"] == {p.name for p in photos("test")}  # the benchmark's, unchanged
    assert not names["train"] & names["val"]
    assert not (names["train"] | names["val"]) & names["test"]
    assert len(names["train"]) >= 25 and len(names["val"]) >= 5


def test_a_gutter_is_one_cut_and_many_courses_many() -> None:
    from models.collage import Seam, combiner_features

    # A gutter: its band and an edge on either side of it, 2% of the width apart.
    gutter = [Seam("vertical", 450, 0, 600, "band", 1.0),
              Seam("vertical", 441, 0, 600, "edge", 0.9),
              Seam("vertical", 459, 0, 600, "edge", 0.9)]
    features = combiner_features(0.5, gutter, 900, 600)
    assert features["parallel_seams"] == 3 and features["equal_panels"] == 0.0  # 1.5.0's view
    assert features["cuts"] == 1 and features["equal_cuts"] == 1.0
    thirds = gutter[:1] + [Seam("vertical", 600, 0, 600, "edge", 0.9)]
    assert combiner_features(0.5, thirds, 900, 600)["equal_cuts"] == 0.0  # a half and a third
    courses = [Seam("horizontal", y, 0, 900, "edge", 0.9) for y in range(60, 600, 60)]
    features = combiner_features(0.5, courses, 900, 600)
    assert features["cuts"] == 9 and features["equal_cuts"] == 0.0


def test_layout_contrast_finds_a_faint_cut_in_the_middle_and_not_courses() -> None:
    from models.collage import analysis_copy, layout_contrast

    photo = panel("chelsea", 400, 500).astype(np.float32)
    # Two shots of one scene, the second 8% brighter: no gutter, a faint step.
    faint = np.concatenate([photo, photo * 1.08], axis=1).clip(0, 255).astype(np.uint8)
    single = panel("chelsea", 800, 500)
    rng = np.random.default_rng(0)
    courses = np.full((500, 800, 3), 150.0) + rng.normal(0, 6, (500, 800, 3))
    for y in range(25, 500, 50):  # mortar every 50 px, one of them across the middle
        courses[y - 2:y + 2] -= 60
    contrast = {name: layout_contrast(analysis_copy(image)[0]) for name, image in (
        ("faint", faint), ("single", single), ("courses", courses.clip(0, 255).astype(np.uint8)))}
    assert contrast["faint"][0] > 2 * contrast["single"][0]
    assert contrast["faint"][1] > 1.0  # nothing else steps like it
    assert contrast["courses"][0] > 2 and contrast["courses"][1] < 1.0  # every course alike


def test_the_onnx_runtime_copy_scores_as_the_torchscript_one_did() -> None:
    """The shipped backend (the trained network exported to ONNX in memory) against the
    TorchScript copy it replaced, on real photos and a composite; an unknown backend is refused."""
    from models.collage import CollageModel
    from models.registry import ModelRegistry
    from moderation.settings import Settings

    version = ModelRegistry.default(Settings().data_dir).promoted("collage")
    assert version is not None
    onnx = CollageModel(version.path("collage.pt"), backend="onnxruntime")
    torchscript = CollageModel(version.path("collage.pt"), backend="torchscript")
    images = [photo.load() for photo in photos()[:6]] + [side_by_side(gutter=12)]
    for image in images:
        assert onnx.probabilities([image]) == pytest.approx(torchscript.probabilities([image]),
                                                            abs=1e-5)
    batch = onnx.probabilities(images[:3], flips=False)
    assert batch.shape == (3,) and np.all((batch > 0) & (batch < 1))
    with pytest.raises(ValueError, match="backend"):
        CollageModel(version.path("collage.pt"), backend="tensorflow")

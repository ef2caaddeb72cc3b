"""The benchmark's photo list and the crops cut around a face."""

from __future__ import annotations

import numpy as np

from datasets.region_photos import (
    BENCH_SOURCES,
    CATEGORY_REGIONS,
    SOURCES,
    TRAIN_PEOPLE_SOURCES,
    TRAIN_SCENE_SOURCES,
    TRAIN_TORSO_BOXES,
    clip_box,
    crops_for_face,
    folder_name,
    read_bench_manifest,
)
from models.faces import Face
from moderation.taxonomy import default_taxonomy


def test_every_benchmark_declaration_is_a_real_match_or_mismatch() -> None:
    taxonomy = default_taxonomy()
    photos = read_bench_manifest()
    assert len(photos) >= 80 and len({p.id for p in photos}) == len(photos)
    for photo in photos:
        assert photo.source in SOURCES and photo.source in BENCH_SOURCES
        shown = set(CATEGORY_REGIONS[photo.category])
        if photo.match is not None:
            assert shown & set(taxonomy.get(photo.match).regions), photo.id
        assert not shown & set(taxonomy.get(photo.mismatch).regions), photo.id
    kinds = {p.category for p in photos}
    assert {"face_frontal", "face_oblique", "face_profile", "closeup_eyes", "closeup_nose",
            "closeup_lips", "torso", "non_human"} <= kinds


def test_training_and_benchmark_never_share_a_source() -> None:
    training = set(TRAIN_PEOPLE_SOURCES) | set(TRAIN_SCENE_SOURCES) | set(TRAIN_TORSO_BOXES)
    assert not set(BENCH_SOURCES) & training
    assert training <= set(SOURCES)  # each with its licence recorded
    for boxes in TRAIN_TORSO_BOXES.values():
        assert boxes and all(x1 < x2 and y1 < y2 for x1, y1, x2, y2 in boxes)


def test_crops_around_a_face_hold_their_feature() -> None:
    face = Face(x=100, y=100, w=200, h=240, score=1.0, landmarks=(
        (160, 210), (240, 210), (200, 260), (165, 300), (235, 300)))
    boxes = crops_for_face(face)
    assert set(boxes) == {"face_frontal", "closeup_eyes", "closeup_nose", "closeup_lips", "torso"}
    x1, y1, x2, y2 = boxes["closeup_nose"]
    assert x1 < 200 < x2 and y1 < 260 < y2 and y2 < 300  # the nose tip, above the mouth
    x1, y1, x2, y2 = boxes["closeup_eyes"]
    assert x1 < 160 and x2 > 240 and y2 < 260
    assert boxes["torso"][1] > face.y + face.h  # below the chin
    jittered = crops_for_face(face, 0.25, np.random.default_rng(0))
    assert jittered != boxes and set(jittered) == set(boxes)
    assert clip_box((-50, 0, 100, 100), 400, 400) is None  # half outside: not a crop
    assert clip_box((10, 10, 110, 60), 400, 400) == [10, 10, 100, 50]


def test_folder_names_round_trip_to_regions() -> None:
    assert folder_name(()) == "none"
    assert folder_name(("breast", "chest")) == "breast+chest"

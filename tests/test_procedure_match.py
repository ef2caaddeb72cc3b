"""procedure_match: regions from real detectors on real photos, scores, evidence, the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.body_parts import BodyPart
from models.faces import Face
from models.procedure_match import DETECTORS_REF, ProcedureMatchCheck
from models.regions import estimate_regions
from moderation.checks.base import CheckContext
from moderation.checks.registry import CHECKS, load_check_class
from moderation.pipeline import ModerationPipeline
from moderation.schemas import Verdict
from moderation.settings import Settings
from moderation.taxonomy import default_taxonomy
from tests import real_photos
from tests.conftest import post_score, submission_json


def face(x: float, y: float, size: float, partial: bool = False) -> Face:
    """A frontal face whose landmarks sit where MTCNN puts them, in a size x 1.2 size box."""
    h = size * 1.2
    return Face(x=x, y=y, w=size, h=h, score=0.99, partial=partial, landmarks=(
        (x + 0.3 * size, y + 0.45 * h), (x + 0.7 * size, y + 0.45 * h), (x + 0.5 * size, y + 0.62 * h),
        (x + 0.35 * size, y + 0.8 * h), (x + 0.65 * size, y + 0.8 * h)))


# ---------------------------------------------------------------- the mapping, on its own

def test_a_portrait_shows_the_face_and_its_features() -> None:
    estimate = estimate_regions([face(300, 200, 400)], [], 1000, 1200)
    for region in ("face", "eyes", "nose", "lips", "chin", "cheeks", "forehead", "neck"):
        assert estimate.probability(region) > 0.9, region
    assert estimate.probability("breast") == 0.0


def test_a_small_face_in_a_full_body_photo_does_not_show_a_nose() -> None:
    estimate = estimate_regions([face(450, 50, 100)], [], 1000, 1500)  # 120 px of 1500
    assert estimate.probability("nose") < 0.1
    assert estimate.probability("face") < 0.5


def test_features_outside_the_frame_of_a_partial_face_are_not_shown() -> None:
    # A band across the eyes: the face goes on far below the frame.
    estimate = estimate_regions([face(-20, -120, 500, partial=True)], [], 460, 200)
    assert estimate.probability("eyes") > 0.8
    assert estimate.probability("lips") == 0.0 and estimate.probability("chin") == 0.0
    assert estimate.probability("face") == 0.0  # a close-up of a feature is not a face photo


def test_body_parts_map_to_regions_and_a_head_shot_damps_them() -> None:
    breast = BodyPart("FEMALE_BREAST_COVERED", 300, 500, 300, 250, 0.8)
    belly = BodyPart("BELLY_EXPOSED", 300, 800, 300, 250, 0.7)
    estimate = estimate_regions([], [breast, belly], 1000, 1200)
    assert estimate.probability("breast") > 0.8 and estimate.probability("chest") > 0.8
    assert estimate.probability("abdomen") > 0.7 and estimate.probability("flanks") > 0.7
    head_shot = estimate_regions([face(100, 0, 700)], [breast], 1000, 1000)
    assert head_shot.probability("breast") < 0.5


def test_the_classifier_adds_to_what_the_detectors_saw() -> None:
    estimate = estimate_regions([], [], 400, 400).combined_with({"nose": 0.9, "eyes": 0.1}, 0.9)
    assert estimate.probability("nose") == pytest.approx(0.81)
    assert estimate.shown() == ["nose"]


# ---------------------------------------------------------------- the check, real models

DETECTORS_ONLY = {"procedure_match": {"options": {"classifier": ""}}}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> ModerationPipeline:
    """The detectors alone: what these tests pin down is the detectors' evidence."""
    return ModerationPipeline.from_settings(Settings(data_dir=tmp_path_factory.mktemp("data"),
                                                     checks=DETECTORS_ONLY))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> ModerationPipeline:
    """The defaults: detectors and the shipped (promoted) region classifier."""
    return ModerationPipeline.from_settings(Settings(data_dir=tmp_path_factory.mktemp("data")))


def score(pipeline: ModerationPipeline, procedure: str, before: np.ndarray, after: np.ndarray,
          fields: dict | None = None):
    submission = pipeline.parse_submission(submission_json(procedure=procedure, fields=fields or {}))
    files = {"b1": real_photos.jpeg_bytes(before), "a1": real_photos.jpeg_bytes(after)}
    return pipeline.score(pipeline.prepare(submission, files))


def findings(result) -> dict[str, object]:
    return {f.target: f for f in result.findings if f.check == "procedure_match"}


def test_procedure_match_is_registered_and_runs_from_the_detectors_alone(
        pipeline: ModerationPipeline) -> None:
    assert load_check_class(CHECKS["procedure_match"]) is ProcedureMatchCheck
    check = next(c for c in pipeline.checks if c.name == "procedure_match")
    assert check.classifier is None and check.model == DETECTORS_REF


def test_by_default_the_shipped_classifier_joins_the_detectors(shipped: ModerationPipeline) -> None:
    check = next(c for c in shipped.checks if c.name == "procedure_match")
    assert check.classifier is not None
    assert check.model.name == "region-classifier" and check.model.version == "1.3.0"
    portrait = real_photos.grace_hopper()
    # A head shot: whatever the classifier thinks of the uniform, no breast is shown.
    wrong = findings(score(shipped, "breast_augmentation", portrait, portrait))
    assert wrong["photo:set1/before"].verdict is Verdict.FAIL
    assert wrong["photo:set1/before"].model.name == "region-classifier"
    right = findings(score(shipped, "rhinoplasty", portrait, portrait))
    assert right["photo:set1/before"].verdict is Verdict.PASS


def test_a_portrait_matches_a_nose_job_and_not_a_breast_augmentation(
        pipeline: ModerationPipeline) -> None:
    portrait = real_photos.grace_hopper()
    matching = findings(score(pipeline, "rhinoplasty", portrait, portrait))
    assert matching["photo:set1/before"].verdict is Verdict.PASS
    assert matching["case"].verdict is Verdict.PASS
    assert matching["photo:set1/before"].evidence.values["matched_region"] == "nose"

    result = score(pipeline, "breast_augmentation", portrait, portrait)
    wrong = findings(result)
    assert wrong["photo:set1/after"].verdict is Verdict.FAIL
    assert wrong["case"].verdict is Verdict.FAIL and wrong["case"].score >= 0.9
    evidence = wrong["photo:set1/after"].evidence
    assert evidence.expected_regions == ["breast", "chest"]
    assert {"face", "nose", "eyes"} <= set(evidence.values["shown_regions"])
    assert "rhinoplasty" in wrong["case"].evidence.values["procedures_fitting_the_photos"] or \
        wrong["case"].evidence.values["procedures_fitting_the_photos"]
    assert "procedure_match: photo:set1/before shows" in " ".join(
        result.recommendation["profile"].reasons)


def test_evidence_boxes_are_in_original_pixels(pipeline: ModerationPipeline) -> None:
    # 3x the photo: 1536 x 1800 decoded at 1000 px, so the working scale is below 1.
    portrait = np.kron(real_photos.grace_hopper(), np.ones((3, 3, 1), np.uint8))
    before = findings(score(pipeline, "rhinoplasty", portrait, portrait))["photo:set1/before"]
    face_box = next(b for b in before.evidence.boxes if b.label == "face")
    assert face_box.x == pytest.approx(3 * 175, abs=40) and face_box.w == pytest.approx(3 * 177, abs=45)
    nose = next(d for d in before.evidence.detected_regions if d["region"] == "nose")
    assert 3 * 225 < nose["box"]["y"] + nose["box"]["h"] / 2 < 3 * 255  # the nose tip, y 238


def test_scenes_without_people_match_no_procedure(pipeline: ModerationPipeline) -> None:
    coffee, rocket = real_photos.skimage_photo("coffee"), real_photos.skimage_photo("rocket")
    for procedure in ("rhinoplasty", "abdominoplasty"):
        result = findings(score(pipeline, procedure, coffee, rocket))
        assert all(f.verdict is Verdict.FAIL for f in result.values())
        assert "shows none of" in result["photo:set1/before"].reason


def test_a_case_with_one_right_photo_passes_as_a_case_and_flags_the_other(
        pipeline: ModerationPipeline) -> None:
    result = findings(score(pipeline, "rhinoplasty", real_photos.skimage_photo("coffee"),
                            real_photos.grace_hopper()))
    assert result["photo:set1/before"].verdict is Verdict.FAIL
    assert result["photo:set1/after"].verdict is Verdict.PASS
    assert result["case"].verdict is Verdict.PASS
    assert result["case"].evidence.values["photos_not_matching"] == ["set1/before"]


def test_the_body_detector_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, checks={"procedure_match": {
        "options": {"body_detector": "none", "classifier": ""}}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    check = ProcedureMatchCheck(settings.check("procedure_match"), context)
    assert check.bodies is None and check.classifier is None


def test_a_wrong_option_is_refused_by_name(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, checks={"procedure_match": {
        "options": {"body_detector": "yolo"}}})
    context = CheckContext(settings=settings, taxonomy=default_taxonomy())
    with pytest.raises(ValueError, match="body_detector"):
        ProcedureMatchCheck(settings.check("procedure_match"), context)


def test_the_api_reports_procedure_match_with_region_evidence(client) -> None:
    # The service as shipped: detectors and the promoted region classifier.
    portrait = real_photos.jpeg_bytes(real_photos.grace_hopper())
    response = post_score(client, submission_json(procedure="abdominoplasty", fields={}),
                          files={"b1": portrait, "a1": portrait})
    assert response.status_code == 201, response.text
    body = response.json()
    found = {f["target"]: f for f in body["findings"] if f["check"] == "procedure_match"}
    assert set(found) == {"photo:set1/before", "photo:set1/after", "case"}
    photo = found["photo:set1/before"]
    assert photo["verdict"] == "fail" and photo["evidence"]["expected_regions"] == ["abdomen", "flanks"]
    assert any(box["label"] == "face" for box in photo["evidence"]["boxes"])
    assert "procedure_match" in body["timings_ms"]
    assert {"name": "region-classifier", "version": "1.3.0"} in body["models"]
    assert not any("procedure_match: not checked" in r
                   for r in body["recommendation"]["profile"]["reasons"])
    json.dumps(body)  # the evidence is plain JSON
